"""Reads pinned to snapshots: time travel by tag, id and time; SQL with caps and limits."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from aurum.config import GateSettings
from aurum.errors import QueryError, Unavailable
from aurum.ingest.days import publish_day
from aurum.ingest.pipeline import parse_workbook
from aurum.query import Query
from aurum.synthetic import workbook_name, write_workbook

DAY1, DAY2 = date(2025, 9, 16), date(2025, 9, 17)


def publish(lake, tmp_path: Path, day: date, seed: int = 0):
    target = tmp_path / f"s{seed}" / workbook_name("PW", day)
    result = parse_workbook(write_workbook(target, vendor="PW", asof=day, seed=seed))
    return result, publish_day(
        lake, result.observations, vendor="PW", asof=day, sha256=result.sha256,
        run_id=f"r{seed}{day:%d}", gates=GateSettings(),
    )  # fmt: skip


def test_filters_latest_and_time_travel(lake, tmp_path):
    publish(lake, tmp_path, DAY1)
    original, v1 = publish(lake, tmp_path, DAY2)
    between = datetime.now(UTC)
    time.sleep(0.01)
    corrected, _ = publish(lake, tmp_path, DAY2, seed=1)
    query = Query(lake)
    key = original.observations["curve_key"][0].as_py()
    label = original.observations["tenor_label"][0].as_py()

    def mid(**kwargs) -> float:
        rows = query.observations(vendor="PW", asof=DAY2, curve_key=key, **kwargs)
        return rows.filter(pc.equal(rows["tenor_label"], label))["mid"][0].as_py()

    old = original.observations["mid"][0].as_py()
    new_row = corrected.observations.filter(
        pc.and_(pc.equal(corrected.observations["curve_key"], key),
                pc.equal(corrected.observations["tenor_label"], label))
    )  # fmt: skip
    assert old != new_row["mid"][0].as_py()
    assert mid() == new_row["mid"][0].as_py()
    assert mid(as_at="eod/PW/2025-09-17/v1") == old
    assert mid(as_at=v1.snapshot_id) == old
    assert mid(as_at=between) == old
    assert mid(as_at=between.isoformat()) == old
    assert set(query.observations(asof="latest")["asof_date"].to_pylist()) == {DAY2}
    two_days = query.observations(vendor="PW", asof=(DAY1, DAY2))
    assert two_days.num_rows == 2 * 344


def test_sql_views_are_pinned_and_capped(lake, tmp_path):
    publish(lake, tmp_path, DAY1)
    query = Query(lake, max_rows=10)
    result = query.sql("SELECT vendor, count(*) AS n FROM curve_observation GROUP BY vendor")
    assert result.table.to_pylist() == [{"vendor": "PW", "n": 344}]
    assert not result.truncated and set(result.snapshots) == {"curve_observation"}
    many = query.sql("SELECT * FROM curve_observation")
    assert many.table.num_rows == 10 and many.truncated


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("SELECT * FROM nowhere", "sql_invalid"),
        ("SELECT * FROM read_csv('/etc/passwd')", "sql_invalid"),  # no file access
        ("SELECT count(*) FROM range(100000000000) a, range(100000000000) b", "query_timeout"),
    ],
)
def test_sql_errors_are_clear(lake, statement, code):
    with pytest.raises(QueryError) as raised:
        Query(lake, timeout_s=0.5).sql(statement)
    assert raised.value.code == code


@pytest.mark.parametrize("as_at", ["eod/none", "yesterday", 123, datetime(2000, 1, 1, tzinfo=UTC)])
def test_bad_as_at(lake, as_at):
    with pytest.raises(QueryError) as raised:
        Query(lake).observations(as_at=as_at)
    assert raised.value.code in {"as_at_invalid", "snapshot_unknown", "as_at_unavailable"}


def test_a_missing_data_file_names_table_and_snapshot(lake, tmp_path):
    publish(lake, tmp_path, DAY1)
    table = lake.table("curve_observation")
    files = [task.file.file_path for task in table.scan().plan_files()]
    Path(files[0].removeprefix("file://")).unlink()
    with pytest.raises(Unavailable) as raised:  # 503: the data is there, the lake is not
        Query(lake).observations(vendor="PW")
    assert raised.value.code == "lake_unreadable"
    assert "curve_observation" in raised.value.message
    assert str(table.current_snapshot().snapshot_id) in raised.value.message


def test_a_corrupt_metadata_pointer_names_the_table(lake_settings, tmp_path):
    from aurum.lake import Lake

    lake = Lake(lake_settings)
    publish(lake, tmp_path, DAY1)
    table = lake.table("curve_observation")
    Path(table.metadata_location.removeprefix("file://")).write_text("{ not json")
    with pytest.raises(Unavailable) as raised:
        Lake(lake_settings)
    assert raised.value.code == "table_unreadable"
    assert "curve_observation" in raised.value.message
