"""Every built-in contract, in one tuple: the lake makes their tables, lineage describes them."""

from __future__ import annotations

from aurum.datasets import Dataset
from aurum.datasets.curves import BUILTIN
from aurum.datasets.feeds import FEED_DATASETS
from aurum.datasets.ppa import PPA_DATASETS
from aurum.datasets.scenarios import SCENARIO_DATASETS

__all__ = ["ALL_DATASETS"]

ALL_DATASETS: tuple[Dataset, ...] = (
    *BUILTIN, *SCENARIO_DATASETS, *PPA_DATASETS, *FEED_DATASETS,
)  # fmt: skip
