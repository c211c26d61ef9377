"""Maintenance keeps every published version readable and removes only what nothing uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from aurum.config import GateSettings
from aurum.errors import QueryError
from aurum.ingest.days import publish_day
from aurum.ingest.pipeline import parse_workbook
from aurum.lake.commits import append_rows
from aurum.lake.maintenance import maintain
from aurum.query import Query
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 17)


def publish(lake, tmp_path: Path, seed: int):
    path = write_workbook(tmp_path / f"s{seed}" / workbook_name("PW", DAY), vendor="PW", asof=DAY,
                          seed=seed)  # fmt: skip
    result = parse_workbook(path)
    return publish_day(lake, result.observations, vendor="PW", asof=DAY, sha256=result.sha256,
                       run_id=f"r{seed}", gates=GateSettings())  # fmt: skip


def test_tagged_versions_survive_expiry_and_orphans_go(lake, tmp_path):
    v1, v2 = publish(lake, tmp_path, 0), publish(lake, tmp_path, 1)
    table = lake.table("curve_observation")
    location = Path(table.location().removeprefix("file://"))
    stray = location / "data" / "stray.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by a crashed writer")
    query = Query(lake)
    before = {tag: query.observations(as_at=tag).num_rows for tag in (v1.tag, v2.tag)}

    reports = {r.table: r for r in maintain(lake, retain=timedelta(0), orphan_age=timedelta(0))}
    report = reports["curve_observation"]
    assert report.snapshots_expired > 0 and report.orphans_deleted >= 1
    assert not stray.exists()
    after = {tag: query.observations(as_at=tag).num_rows for tag in (v1.tag, v2.tag)}
    assert after == before == {v1.tag: 344, v2.tag: 344}
    assert query.observations().num_rows == 344
    # a second run finds nothing more to do
    again = {r.table: r for r in maintain(lake, retain=timedelta(0), orphan_age=timedelta(0))}
    assert again["curve_observation"].orphans_deleted == 0


def test_young_files_are_never_deleted(lake, tmp_path):
    publish(lake, tmp_path, 0)
    table = lake.table("curve_observation")
    stray = Path(table.location().removeprefix("file://")) / "data" / "in-flight.parquet"
    stray.write_bytes(b"a write in progress")
    maintain(lake, retain=timedelta(0), orphan_age=timedelta(hours=1))
    assert stray.exists()


def test_many_small_files_are_compacted_without_changing_content(lake):
    table = lake.table("qa_checks")
    schema = table.schema().as_arrow()
    row = {"run_id": "r", "vendor": "PW", "asof_date": DAY, "rule": "x", "stage": "parse",
           "severity": "warn", "failed": 0, "checked": 1, "sample_keys": [],
           "checked_at": None}  # fmt: skip
    epoch = datetime(2025, 9, 17, tzinfo=UTC)
    for i in range(9):
        batch = [{**row, "run_id": f"r{i}", "checked_at": epoch}]
        append_rows(table, pa.Table.from_pylist(batch, schema=schema))
    before = sorted(Query(lake).sql("SELECT run_id FROM qa_checks").table.column(0).to_pylist())
    reports = {r.table: r for r in maintain(lake, retain=timedelta(days=1))}
    assert reports["qa_checks"].partitions_compacted == 1
    assert lake.table("qa_checks").inspect.files().num_rows == 1
    after = sorted(Query(lake).sql("SELECT run_id FROM qa_checks").table.column(0).to_pylist())
    assert after == before and len(after) == 9


def test_time_travel_past_the_retention_is_refused_not_guessed(lake, tmp_path):
    moment = datetime.now(UTC)  # main is still the empty bootstrap snapshot: untagged
    published = publish(lake, tmp_path, 0)
    assert Query(lake).observations(as_at=moment).num_rows == 0
    maintain(lake, retain=timedelta(0), orphan_age=timedelta(days=1))
    with pytest.raises(QueryError) as raised:
        Query(lake).observations(as_at=moment)
    assert raised.value.code == "as_at_unavailable"
    assert Query(lake).observations(as_at=published.tag).num_rows == 344  # tags never expire
