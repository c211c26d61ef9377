"""A dataset defined only here goes through the same kernel as ``curve_observation``: its table is
made and evolved from its contract, it is published (write-audit-publish with an audit), tagged,
read at a tag, survives a killed publish, is reconciled by the run lifecycle after a kill on
either side of the catalog commit, and maintenance applies its retention.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.datasets import Column, Dataset, Retention, TagScheme
from aurum.domain.quality import CheckOutcome
from aurum.errors import Unknown
from aurum.lake import Audit, Lake, publish
from aurum.lake.maintenance import maintain
from aurum.lake.versions import versions
from aurum.query import Query
from aurum.runs import Recovered, Runs
from aurum.store import Store
from aurum.store.runs import RunRecord

SPAWN = multiprocessing.get_context("spawn")

READINGS = Dataset(
    name="station_reading",
    doc="Hourly temperature at a weather station (a dataset defined only by this test).",
    owner="tests",
    columns=(
        Column("station", pa.string(), "Station code.", required=True),
        Column("day", pa.date32(), "Local day of the readings.", required=True),
        Column("hour", pa.int32(), "Hour ending, 1-24.", required=True),
        Column("celsius", pa.float64(), "Air temperature.", "degC"),
    ),
    partition_by=("day", "station"),
    sort_by=("hour",),
    tags=TagScheme("obs", ("station", "day")),
    order_by="day",
    retain_rows=Retention("day", 30),
)


def readings(station: str, day: date, base: float) -> pa.Table:
    return pa.table(
        {
            "station": [station] * 24,
            "day": [day] * 24,
            "hour": pa.array(range(24, 0, -1), pa.int32()),  # unsorted: publish sorts
            "celsius": [base + h / 10 for h in range(24)],
        }
    )


def no_jumps(staged: pa.Table, previous: pa.Table | None) -> list[CheckOutcome]:
    """Fails when the day's mean moved more than 10 degrees from the previous day's."""
    if previous is None:
        return [CheckOutcome("mean_jump", "fail", 0, 0)]
    mean = sum(staged["celsius"].to_pylist()) / staged.num_rows
    before = sum(previous["celsius"].to_pylist()) / previous.num_rows
    return [CheckOutcome("mean_jump", "fail", int(abs(mean - before) > 10), 1)]


AUDIT = Audit(no_jumps, ("celsius",))


def put(lake: Lake, station: str, day: date, base: float, run: str, pause=None):
    return publish(
        lake, READINGS, {"station": station, "day": day}, readings(station, day, base),
        run_id=run, content_sha256=f"{station}{day}{base}", audit=AUDIT, pause=pause,
    )  # fmt: skip


@pytest.fixture
def lake(lake_settings: Settings) -> Lake:
    return Lake(lake_settings, datasets=[READINGS])


D1, D2 = date(2025, 1, 1), date(2025, 1, 2)


def test_published_gated_tagged_and_read_at_a_tag(lake):
    first = put(lake, "S1", D1, 5.0, "r1")
    assert (first.status, first.version, first.tag) == ("published", 1, "obs/S1/2025-01-01/v1")
    assert put(lake, "S1", D1, 5.0, "r1b").status == "duplicate"
    second = put(lake, "S1", D1, 6.0, "r2")  # a correction: version 2
    assert (second.status, second.tag) == ("published", "obs/S1/2025-01-01/v2")
    query = Query(lake)
    v1, _ = query.scan(READINGS.name, as_at=first.tag)
    v2, _ = query.scan(READINGS.name, as_at=second.tag)
    assert v1["hour"].to_pylist() == list(range(1, 25))  # sorted by the contract
    assert v1["celsius"][0].as_py() == 5.0 + 2.3 and v2["celsius"][0].as_py() == 6.0 + 2.3
    table = lake.table(READINGS.name)
    assert versions(table, READINGS.tags, {"station": "S1", "day": D1}) == {
        1: first.snapshot_id, 2: second.snapshot_id,
    }  # fmt: skip
    assert table.snapshot_by_id(second.snapshot_id).summary["aurum.run_id"] == "r2"
    # the audit compares with the previous day of the same station: a 30-degree jump fails
    held = put(lake, "S1", D2, 36.0, "r3")
    assert (held.status, held.gate_failures) == ("failed", ("mean_jump",))
    assert held.branch == "obs_s1_20250102_r3"
    assert held.branch in lake.table(READINGS.name).metadata.refs  # kept for inspection
    with pytest.raises(Unknown):  # the held day is not readable
        query.scan(READINGS.name, as_at=held.branch)
    assert put(lake, "S1", D2, 7.0, "r4").status == "published"
    assert put(lake, "S2", D2, 30.0, "r5").status == "published"  # another station: no previous
    rows, _ = query.scan(READINGS.name)
    assert rows.num_rows == 3 * 24


def test_the_table_is_made_from_the_contract_and_evolves_with_it(lake_settings):
    lake = Lake(lake_settings, datasets=[READINGS])
    table = lake.table(READINGS.name)
    assert [f.name for f in table.spec().fields] == ["day", "station"]
    assert table.properties["aurum.owner"] == "tests"
    assert table.schema().find_field("celsius").doc == "Air temperature."
    put(lake, "S1", D1, 5.0, "r1")
    wider = Dataset(**{
        **{f: getattr(READINGS, f) for f in READINGS.__dataclass_fields__},
        "columns": (*READINGS.columns, Column("humidity", pa.float64(), "Relative.", "%")),
    })  # fmt: skip
    evolved = Lake(lake_settings, datasets=[wider])
    assert "humidity" in evolved.table(READINGS.name).schema().column_names
    day2 = readings("S1", D2, 6.0).append_column("humidity", pa.array([50.0] * 24))
    publish(evolved, wider, {"station": "S1", "day": D2}, day2, run_id="r2", content_sha256="2")
    rows, _ = Query(evolved).scan(READINGS.name)  # (a snapshot reads with its own schema)
    assert rows["humidity"].null_count == 24  # earlier rows read the new column as null
    assert rows.num_rows == 48


def test_retention_deletes_old_rows_and_tags_keep_them(lake):
    today = datetime.now(UTC).date()
    old = put(lake, "S1", today - timedelta(days=40), 5.0, "old")
    put(lake, "S1", today - timedelta(days=1), 6.0, "new")
    reports = {r.table: r for r in maintain(lake)}
    assert reports[READINGS.name].rows_expired == 24
    assert reports["curve_observation"].rows_expired == 0  # kept for ever
    rows, _ = Query(lake).scan(READINGS.name)
    assert rows.num_rows == 24
    kept, _ = Query(lake).scan(READINGS.name, as_at=old.tag)  # the version is still there
    assert kept.num_rows == 24


def _publish_and_die(settings: Settings, die_at: str) -> None:
    def pause(stage: str) -> None:
        if stage == die_at:
            os._exit(137)

    lake = Lake(settings, datasets=[READINGS])
    put(lake, "S9", D2, 8.0, "doomed", pause=pause)
    os._exit(0)


@pytest.mark.parametrize("stage", ["branched", "staged", "audited", "published"])
def test_a_killed_publish_leaves_main_before_or_after(lake_settings, stage):
    lake = Lake(lake_settings, datasets=[READINGS])
    put(lake, "S9", D1, 7.0, "base")
    before = lake.table(READINGS.name).metadata.refs["main"].snapshot_id
    process = SPAWN.Process(target=_publish_and_die, args=(lake_settings, stage))
    process.start()
    process.join(120)
    assert process.exitcode == 137
    table = lake.table(READINGS.name)
    rows, _ = Query(lake).scan(READINGS.name)
    if stage == "published":  # killed after the commit: the day is in, whole, and tagged
        assert rows.num_rows == 48 and "obs/S9/2025-01-02/v1" in table.metadata.refs
    else:
        assert table.metadata.refs["main"].snapshot_id == before and rows.num_rows == 24
    assert put(lake, "S9", D2, 8.0, "retry").status in ("published", "duplicate")
    rows, _ = Query(lake).scan(READINGS.name)
    assert rows.num_rows == 48
    table = lake.table(READINGS.name)
    assert list(versions(table, READINGS.tags, {"station": "S9", "day": D2})) == [1]


def _run_and_die(settings: Settings, die_at: str) -> None:
    """In a child process: a feed-load run publishes a day of readings and dies at ``die_at``."""
    with Store.connect(settings) as store:
        runs = Runs(store)
        partition = {"station": "S9", "day": D2}
        run = runs.start(
            PLATFORM, "feed_load", subject="S9", dataset=READINGS.name, partition=partition
        )

        def pause(stage: str) -> None:
            if stage == "staged":
                runs.stage(run, branch=READINGS.tags.branch(partition, run.run_id))
            if stage == die_at:
                os._exit(137)

        lake = Lake(settings, datasets=[READINGS])
        put(lake, "S9", D2, 8.0, run.run_id, pause=pause)
    os._exit(0)


@pytest.mark.parametrize("stage", ["audited", "published"])
def test_a_killed_run_is_reconciled_from_the_catalog(lake_settings, stage):
    """The same recovery as an ingest's: published if the catalog holds its version (killed
    after the commit), else failed with its staged branch dropped."""
    process = SPAWN.Process(target=_run_and_die, args=(lake_settings, stage))
    process.start()
    process.join(120)
    assert process.exitcode == 137
    lake = Lake(lake_settings, datasets=[READINGS])
    with Store.connect(lake_settings) as store:
        with store.transaction(PLATFORM, write=False) as tx:
            (run,) = tx.runs()
        assert run.status == "staged" and run.branch == f"obs_s9_20250102_{run.run_id}"
        assert Runs(store).recover(lake) == []  # the lease is fresh: never taken over
        with store.engine.begin() as connection:
            connection.execute(
                sa.update(RunRecord).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
        recovered = Runs(store).recover(lake)
    refs = lake.table(READINGS.name).metadata.refs
    if stage == "published":
        assert recovered == [Recovered(run.run_id, "published", "obs/S9/2025-01-02/v1")]
        assert "obs/S9/2025-01-02/v1" in refs
    else:
        assert recovered == [Recovered(run.run_id, "failed")]
        assert run.branch not in refs and "obs/S9/2025-01-02/v1" not in refs
