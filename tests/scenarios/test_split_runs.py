"""A large ensemble split into path blocks gives what one piece gives, bit for bit.

* pure: paths drawn in blocks (1, 2, 3 or uneven blocks, either model, any memory layout) and
  stacked band exactly as the paths drawn at once;
* two worker processes (real subprocesses on one SQLite store and lake) share a run's blocks
  through the queue, each block claimed once: the published output and the kept paths equal
  the same seeded run's in one process as one block (Arrow tables ``equals``, float columns
  byte for byte);
* in one process (``Worker.run_one``, as ``aurum scenario run``), a split run of the historical
  model equals its one-piece run; a failed block fails its run; a cancel reaches the blocks;
  the scratch folder goes when the run ends;
* on an S3 warehouse (``rclone serve s3``) with the catalog on PostgreSQL, split runs equal their
  run in one piece and leave no key under the scratch folder (no folder marker either).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from aurum.api.app import create_app, housekeeping
from aurum.auth.access import PLATFORM, Access
from aurum.config import LakeSettings, ScenarioLimits, Settings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain import ensembles
from aurum.errors import Unavailable
from aurum.lake.catalog import Lake, io_properties
from aurum.lake.maintenance import _s3_client
from aurum.lake.publish import publish
from aurum.runs import Runs
from aurum.runs.worker import Worker
from aurum.scenarios import ScenarioService, blocks
from aurum.store import Run, Store

from .conftest import day_rows, simulate_history

SCRIPT = Path(__file__).with_name("split_worker.py")
ACME = Access("acme", actor="user:a@acme")
GAS_UP = {"type": "fuel_curve", "fuel": "gas", "mode": "relative", "value": 20}
FLOATS = ("base_value", "value", "mean", "p5", "p50", "p95")
FINAL = ("published", "duplicate", "failed", "cancelled")


# -- pure: blocks stacked band as one piece ------------------------------------------------------

PATHS = 5000
SPLITS = {
    "one": [(0, PATHS)],
    "two": ensembles.path_blocks(PATHS, 3072),
    "three": ensembles.path_blocks(PATHS, 2048),
    "uneven": [(0, 1024), (1024, 4096), (4096, PATHS)],
}
CAL = ensembles.Calibration("lognormal", 1.5, 0.5, 0.2, 0.3, 0, None, None, 0, {})


def drawn(model: str, start: int, stop: int) -> np.ndarray:
    """Paths [start, stop) of one curve, as a path block draws them."""
    chosen = ensembles.stream_blocks(start, stop, paths=PATHS)
    forward = 60.0 + 5.0 * np.cos(np.arange(40))
    if model == "factor":
        return ensembles.simulate(forward, ensembles.relative_taus(40), 0.5, CAL, seed=[7, 99],
                                  paths=PATHS, blocks=chosen)  # fmt: skip
    days = np.busday_offset("2025-01-02", np.arange(120), roll="forward")
    walk = np.cumsum(np.random.default_rng(3).standard_normal((120, 40)) * 0.01, axis=0)
    history = 50.0 * np.exp(walk)
    ahead = np.array([0, 2, 3, 5, 8, 13, 21, 34])  # some tenors: a column-ordered selection
    return ensembles.historical(forward, history, days, horizon_days=10, seed=[7, 99],
                                paths=PATHS, blocks=chosen)[:, ahead]  # fmt: skip


@pytest.mark.parametrize("model", ["factor", "historical"])
@pytest.mark.parametrize("split", SPLITS)
def test_bands_of_stacked_blocks_equal_one_piece_for_any_split(model, split):
    whole = drawn(model, 0, PATHS)
    # as a block file gives them back: row by row
    parts = [np.ascontiguousarray(drawn(model, a, b)) for a, b in SPLITS[split]]
    stacked = ensembles.stack_paths(parts)
    assert stacked.tobytes() == np.ascontiguousarray(whole).tobytes()
    one, combined = ensembles.bands(whole), ensembles.bands(stacked)
    for name in ("mean", "p5", "p50", "p95"):
        assert one[name].tobytes() == combined[name].tobytes(), name
    if model == "historical":
        assert not whole.flags["C_CONTIGUOUS"]  # the layout the bands must not depend on


def test_blocks_split_on_random_streams_only():
    assert ensembles.path_blocks(5000, 2048) == [(0, 2048), (2048, 4096), (4096, 5000)]
    assert ensembles.path_blocks(1000, 51_200) == [(0, 1000)]  # a small run: one block
    with pytest.raises(ValueError, match="multiple of 1024"):
        ensembles.path_blocks(5000, 1000)
    with pytest.raises(ValueError, match="do not start and end on stream blocks"):
        ensembles.stream_blocks(1000, 3000, paths=5000)
    with pytest.raises(ValueError, match="not a range inside"):
        ensembles.stream_blocks(4096, 6144, paths=5000)
    with pytest.raises(ValueError, match="one width"):
        ensembles.stack_paths([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValidationError, match="multiple of 1024"):
        ScenarioLimits(paths_per_block=1500)
    assert ScenarioLimits().paths_per_block % ensembles.STREAM_BLOCK == 0


# -- a run over the queue ------------------------------------------------------------------------


def outputs(service: ScenarioService, run: Run) -> pa.Table:
    """A run's published rows without what names the run."""
    return service.outputs(ACME, run).rows.drop_columns(["run_id", "scenario_id"])


def kept_paths(service: ScenarioService, run: Run) -> pa.Table:
    table = service.lake.table("scenario_path").scan().to_arrow()
    rows = table.filter(pc.field("run_id") == run.run_id).drop_columns(["run_id"])
    order = [("curve_key", "ascending"), ("path", "ascending"), ("tenor_label", "ascending")]
    return rows.sort_by(order)


def assert_bit_identical(one: pa.Table, split: pa.Table, floats: tuple[str, ...]) -> None:
    assert one.num_rows > 0 and one.equals(split)
    for name in floats:
        assert one.column(name).null_count == 0, name
        mine = one.column(name).to_numpy().tobytes()
        assert mine == split.column(name).to_numpy().tobytes(), name


def current(store: Store, run_id: str) -> Run:
    with store.transaction(PLATFORM, write=False) as tx:
        return tx.get_run(run_id)


def events(store: Store) -> list[tuple[str | None, str]]:
    with store.transaction(PLATFORM, write=False) as tx:
        return [(e.run_id, e.type) for e in tx.events(limit=10_000)]


@pytest.fixture
def world(scenario_lake, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(home=scenario_lake.settings.home, store={"url": store_url})
    store = Store.connect(settings)
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
    runs = Runs(store, lease=timedelta(seconds=30), backoff=timedelta(0))
    yield settings, store, runs
    store.close()


def scenario(service: ScenarioService, name: str, ensemble: dict[str, Any]) -> str:
    spec = {"base": {"vendors": ["EUGP"]}, "seed": 424242, "ensemble": ensemble}
    made = service.create(ACME, name=name, description="", spec=spec,
                          assumptions=[("gas", GAS_UP)])  # fmt: skip
    return str(made.id)


def run_here(service: ScenarioService, scenario_id: str) -> Run:
    queued = service.request_run(ACME, scenario_id).run
    ended = Worker(service.runs, service.lake, {"scenario_run": service.execute},
                   backoff=timedelta(0), poll_s=0.01).run_one(queued.run_id)  # fmt: skip
    assert ended.status == "published", (ended.error_code, ended.error_message)
    return ended


def test_a_run_split_over_two_worker_processes_is_bit_identical_to_one(scenario_lake, world):
    settings, store, runs = world
    ensemble = {"paths": 3000, "horizon_days": 60, "store_paths": True}
    here = ScenarioService(store, scenario_lake.lake(), runs)  # default: one block
    one = run_here(here, scenario(here, "one piece", ensemble))
    assert "path_blocks" not in one.result

    barrier = settings.home.parent / f"barrier-{one.run_id}"
    barrier.mkdir()
    args = [settings.home, settings.store_url, 1024, barrier, 2]
    workers = [subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)],
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    try:
        owners = []
        for process in workers:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("ready "), f"a worker did not start (exit {process.poll()})"
            owners.append(line.split()[1])
        split_id = here.request_run(ACME, scenario(here, "in blocks", ensemble)).run.run_id
        deadline = time.monotonic() + 120
        while (split := current(store, split_id)).status not in FINAL:
            assert time.monotonic() < deadline, f"the split run is still {split.status}"
            time.sleep(0.1)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(30)
    assert split.status == "published", (split.error_code, split.error_message)
    assert all(process.returncode == 0 for process in workers)

    # three blocks of 1,024, 1,024 and 952 paths, each claimed once, both processes at work
    children = runs.children(split)
    assert [(c.result["start"], c.result["stop"]) for c in children] == [
        (0, 1024), (1024, 2048), (2048, 3000)
    ]  # fmt: skip
    assert [(c.status, c.attempts) for c in children] == [("published", 1)] * 3
    assert {c.result["worker"] for c in children} == set(owners)
    assert split.attempts == 1  # planned, waited, combined: one attempt
    assert split.result["path_blocks"]["blocks"] == 3
    assert split.result["path_blocks"]["numerics"] == [ensembles.numerics_fingerprint()]
    assert not Path(blocks.scratch_dir(here.lake, split_id).removeprefix("file://")).exists()

    # the same rows and paths, to the last bit
    assert_bit_identical(outputs(here, one), outputs(here, split), FLOATS)
    assert_bit_identical(kept_paths(here, one), kept_paths(here, split), ("value",))
    assert kept_paths(here, one).num_rows == 3000 * 5 * 24
    for key in ("calibration", "backtest", "ensemble", "paths_stored", "rows"):
        assert split.result[key] == one.result[key], key

    # the blocks are the run's business: no events of theirs, the run's own as ever
    seen = events(store)
    assert not [e for e in seen if e[0] in {c.run_id for c in children}]
    assert [t for r, t in seen if r == split_id] == ["scenario.request", "scenario.output"]
    assert here.runs_of(ACME, split.subject) == [split]  # a block is no scenario run of its own


def test_a_split_historical_run_in_one_process_equals_one_piece(scenario_lake, world):
    _, store, runs = world
    ensemble = {"model": "historical", "paths": 2500, "horizon_days": 5}
    whole = ScenarioService(store, scenario_lake.lake(), runs)
    split = ScenarioService(store, scenario_lake.lake(), runs,
                            limits=ScenarioLimits(paths_per_block=1024))  # fmt: skip
    one = run_here(whole, scenario(whole, "historical", ensemble))
    three = run_here(split, scenario(split, "historical in blocks", ensemble))
    assert three.result["path_blocks"]["blocks"] == 3
    assert [c.attempts for c in runs.children(three)] == [1, 1, 1]
    assert_bit_identical(outputs(whole, one), outputs(split, three), FLOATS)


def test_a_failed_block_fails_its_run_and_stops_the_others(scenario_lake, world):
    _, store, runs = world
    service = ScenarioService(store, scenario_lake.lake(), runs,
                              limits=ScenarioLimits(paths_per_block=1024))  # fmt: skip
    run_id = service.request_run(ACME, scenario(service, "broken", {"paths": 3000})).run.run_id
    worker = Worker(runs, service.lake, {"scenario_run": service.execute}, backoff=timedelta(0))
    parked = worker.run_once()
    assert (parked.run_id, parked.status) == (run_id, "queued")
    assert parked.progress is not None and parked.progress["total"] == 3
    plan = parked.result["path_blocks"]["plan"]
    filesystem, path = service.lake.filesystem(plan)
    filesystem.delete_file(path)  # the plan is gone: no block can draw
    first = worker.run_once()
    assert (first.status, first.error_code) == ("failed", "path_block_missing")
    ended = worker.run_once()  # woken at once by the failure
    assert ended.run_id == run_id and ended.status == "failed"
    assert ended.error_code == "path_block_failed" and "path_block_missing" in ended.error_message
    assert [c.status for c in runs.children(ended)] == ["failed", "cancelled", "cancelled"]
    assert worker.run_once() is None
    assert not Path(blocks.scratch_dir(service.lake, run_id).removeprefix("file://")).exists()
    table = service.lake.table("scenario_output")
    assert not [n for n in table.metadata.refs if n.startswith(f"scenario/{run_id}/")]


def test_cancelling_a_split_run_cancels_its_blocks(scenario_lake, world):
    _, store, runs = world
    service = ScenarioService(store, scenario_lake.lake(), runs,
                              limits=ScenarioLimits(paths_per_block=1024))  # fmt: skip
    scenario_id = scenario(service, "cancelled", {"paths": 2048})
    run_id = service.request_run(ACME, scenario_id).run.run_id
    worker = Worker(runs, service.lake, {"scenario_run": service.execute}, backoff=timedelta(0))
    assert worker.run_once().status == "queued"  # planned, waiting for two blocks
    cancelled = service.cancel(ACME, scenario_id, run_id)
    assert cancelled.status == "cancelled"
    assert [c.status for c in runs.children(cancelled)] == ["cancelled", "cancelled"]
    assert worker.run_once() is None
    assert not Path(blocks.scratch_dir(service.lake, run_id).removeprefix("file://")).exists()


# -- on an S3 warehouse (a real S3 server) with the catalog on PostgreSQL ------------------------


@pytest.fixture
def s3_world(s3_server, postgres_database, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    """The scenario tests' 70 days published to a warehouse on ``rclone serve s3`` whose catalog
    is on PostgreSQL; the store on SQLite. Yields the settings, the store, the runs and the
    S3 server's folder of the warehouse."""
    name = uuid.uuid4().hex[:10]
    settings = Settings(
        home=tmp_path / "home", store={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        lake=LakeSettings(
            catalog_url=postgres_database, namespace=f"split_{name}",
            warehouse=f"s3://aurum/split-{name}", s3_endpoint=s3_server["endpoint"],
            s3_access_key_id=s3_server["keys"][0], s3_secret_access_key=s3_server["keys"][1],
        ),
    )  # fmt: skip
    lake = Lake(settings)
    days, levels = simulate_history()
    for asof, day_levels in zip(days, levels, strict=True):
        run_id = f"{asof:%Y%m%d}".ljust(32, "0")
        rows = day_rows(asof, day_levels)
        done = publish(lake, CURVE_OBSERVATION, {"vendor": "EUGP", "asof_date": asof}, rows,
                       run_id=run_id, content_sha256=run_id)  # fmt: skip
        assert done.status == "published"
    store = Store.connect(settings)
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
    runs = Runs(store, lease=timedelta(seconds=30), backoff=timedelta(0))
    yield settings, store, runs, s3_server["root"] / "aurum" / f"split-{name}"
    store.close()


def test_split_runs_on_an_s3_warehouse_leave_nothing_behind_and_run_again(s3_world):
    """Blocks written to and read from S3, the scratch folder removed without a folder marker
    (which rclone's server refuses, and then lists the folder as empty): a second split run
    after the first works, and both equal their run in one piece."""
    settings, store, runs, objects = s3_world
    whole = ScenarioService(store, Lake(settings), runs)
    split = ScenarioService(store, Lake(settings), runs,
                            limits=ScenarioLimits(paths_per_block=1024))  # fmt: skip
    ensemble = {"paths": 2500, "horizon_days": 5}
    one = run_here(whole, scenario(whole, "one piece", ensemble))
    for name in ("in blocks", "in blocks again"):
        three = run_here(split, scenario(split, name, ensemble))
        assert three.result["path_blocks"]["blocks"] == 3
        assert_bit_identical(outputs(whole, one), outputs(split, three), FLOATS)
    # a folder of a run the store does not know is swept once nothing was written in it for
    # a while (a day by default; its time as S3's listing says)
    assert blocks.scratch_runs(split.lake) == []
    filesystem, path = split.lake.filesystem(f"{blocks.scratch_dir(split.lake, 'f' * 32)}/x")
    filesystem.open_output_stream(path).close()
    assert blocks.scratch_runs(split.lake) == ["f" * 32]
    assert split.sweep_scratch() == []  # written just now: perhaps another store's live run
    written = blocks.last_written(split.lake, "f" * 32)
    assert written is not None and abs(written - datetime.now(UTC)) < timedelta(minutes=1)
    assert split.sweep_scratch(unknown_after=timedelta(0)) == ["f" * 32]
    # nothing is left under the scratch folder, as S3 lists it (markers included)
    client = _s3_client(io_properties(settings.lake))
    listed = client.list_objects_v2(Bucket="aurum", Prefix=f"{objects.name}/scratch/")
    assert [item["Key"] for item in listed.get("Contents", [])] == []


def test_the_server_sweeps_the_scratch_of_split_runs_that_ended(scenario_lake, world, monkeypatch):
    """A split run that ended without its combine (here cancelled in the store alone, as a run
    whose publish failed or that recovery settled) leaves its scratch folder; so does a run the
    store does not know. The server's housekeeping removes both (the unknown one when nothing
    was written in it for a day), and not a live run's."""
    settings, store, runs = world
    service = ScenarioService(store, scenario_lake.lake(), runs,
                              limits=ScenarioLimits(paths_per_block=1024))  # fmt: skip
    worker = Worker(runs, service.lake, {"scenario_run": service.execute}, backoff=timedelta(0))
    ended = service.request_run(ACME, scenario(service, "ended", {"paths": 2048})).run.run_id
    assert worker.run_once().status == "queued"  # planned: waits for its two blocks
    assert runs.cancel(ACME, ended).status == "cancelled"  # its blocks too; the folder stays
    live = service.request_run(ACME, scenario(service, "at work", {"paths": 2048})).run.run_id
    assert (worker.run_once().run_id, current(store, live).status) == (live, "queued")
    unknown, recent = "f" * 32, "e" * 32  # runs another store knows, one long gone
    for run_id in (unknown, recent):
        path = Path(blocks.scratch_dir(service.lake, run_id).removeprefix("file://"), "x")
        path.parent.mkdir(parents=True)
        path.touch()
        if run_id == unknown:
            os.utime(path, (time.time() - 2 * 86400,) * 2)
    assert {ended, live, unknown, recent} <= set(blocks.scratch_runs(service.lake))

    with TestClient(create_app(settings)) as client:  # the server's chores run at start
        services = client.app.state.services
        deadline = time.monotonic() + 60
        while {ended, unknown} & set(blocks.scratch_runs(service.lake)):
            assert time.monotonic() < deadline, "the server's start did not sweep them"
            time.sleep(0.05)
        assert {live, recent} <= set(blocks.scratch_runs(service.lake))
        assert housekeeping(services)["scenario_scratch"] == []
        # the warehouse out of reach: the other chores are done all the same
        def unreachable() -> list[str]:
            raise Unavailable("lake_unreachable", "S3 is down")

        monkeypatch.setattr(services.scenarios, "sweep_scratch", unreachable)
        upload = settings.home / "uploads" / "abandoned"
        upload.mkdir(parents=True)
        os.utime(upload, (time.time() - 7200,) * 2)
        done = housekeeping(services)  # no error: the sweep's failure is logged
        assert done["scenario_scratch"] == [] and not upload.exists()
    runs.cancel(ACME, live)
    assert service.sweep_scratch() == [live]
    assert not Path(blocks.scratch_dir(service.lake, live).removeprefix("file://")).exists()
