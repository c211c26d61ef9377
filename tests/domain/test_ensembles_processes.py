"""A run's paths split over two worker processes are bit-identical to the paths made in one:
each block of paths has its own random stream (``SeedSequence.spawn``), wherever it is drawn."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from aurum.domain.ensembles import Calibration, bands, simulate

TAUS = np.linspace(0.04, 10.0, 120)
FORWARD = 60.0 + 10.0 * np.cos(2 * np.pi * TAUS)
CALIBRATION = Calibration(
    model="lognormal", kappa=1.5, sigma_short=0.5, sigma_long=0.2, rho=0.3, days=250,
    first=None, last=None, tenors=120, fit={},  # type: ignore[arg-type]
)  # fmt: skip
SEED = [20261204, 42]
PATHS, BLOCK = 20_000, 1024


def blocks(chosen: range) -> np.ndarray:
    return simulate(FORWARD, TAUS, 1.0, CALIBRATION, seed=SEED, paths=PATHS, block_size=BLOCK,
                    blocks=chosen)  # fmt: skip


def test_blocks_drawn_in_two_processes_equal_one_process():
    count = -(-PATHS // BLOCK)
    half = count // 2
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        first, second = pool.map(blocks, (range(0, half), range(half, count)))
    whole = blocks(range(count))
    assert np.array_equal(np.concatenate([first, second]), whole)
    split, one = bands(np.concatenate([first, second])), bands(whole)
    assert all(np.array_equal(split[k], one[k]) for k in one)
