"""The one DuckDB entry point: sessions under a deadline, pinned relations, streamed answers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from aurum.errors import QueryError, QueryTimeout
from aurum.query.engine import Session, connect

SLOW = "SELECT count(*) FROM range(100000000000) a, range(100000000000) b"


def test_a_statement_past_the_deadline_is_interrupted():
    connection = connect()
    session = Session(connection, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as raised:
        session.arrow(SLOW)
    took = time.monotonic() - started
    assert raised.value.code == "query_timeout" and raised.value.http_status == 503
    assert 0.25 < took < 3, took
    # the connection is fine afterwards, and an interrupt meant for that statement is spent
    assert Session(connection, timeout_s=5).rows("SELECT 42") == [(42,)]


def test_the_deadline_bounds_the_whole_read_not_each_statement():
    session = Session(connect(), timeout_s=0.2)
    assert session.rows("SELECT 1") == [(1,)]
    time.sleep(0.25)  # the read spent its time elsewhere (an Iceberg scan, say)
    with pytest.raises(QueryTimeout):
        session.rows("SELECT 2")  # refused without running


def test_no_deadline_for_builds():
    session = Session(connect(), timeout_s=None)
    assert session.rows("SELECT count(*) FROM range(3000000)") == [(3_000_000,)]


def test_concurrent_sessions_each_keep_their_own_deadline():
    """One watchdog thread: a slow read is interrupted while quick reads beside it finish."""
    results: dict[str, object] = {}

    def slow() -> None:
        try:
            Session(connect(), timeout_s=0.3).arrow(SLOW)
        except QueryTimeout as exc:
            results["slow"] = exc.code

    thread = threading.Thread(target=slow)
    thread.start()
    quick = [Session(connect(), timeout_s=0.3).rows("SELECT 1")[0][0] for _ in range(200)]
    thread.join(timeout=10)
    assert results == {"slow": "query_timeout"} and quick == [1] * 200


def test_internal_errors_stay_errors_and_user_sql_gets_a_code():
    import duckdb

    with pytest.raises(duckdb.Error):  # a bug in Aurum's own SQL: a 500, not a 400
        Session(connect(), timeout_s=5).rows("SELECT * FROM nowhere")
    with pytest.raises(QueryError) as raised:
        Session(connect(), timeout_s=5, user_sql=True).rows("SELECT * FROM nowhere")
    assert raised.value.code == "sql_invalid"


def test_sql_never_reaches_files(tmp_path: Path):
    (tmp_path / "secret.csv").write_text("a\n1\n")
    session = Session(connect(), timeout_s=5, user_sql=True)
    with pytest.raises(QueryError, match=r"(?i)external|disabled|permission"):
        session.rows(f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')")


def test_batches_stream_every_row_under_the_deadline():
    session = Session(connect(), timeout_s=5)
    session.register("numbers", pa.table({"n": list(range(200_000))}))
    with session.batches("SELECT n FROM numbers ORDER BY n", rows=50_000) as reader:
        sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 200_000 and len(sizes) >= 4
    slow = Session(connect(), timeout_s=0.3)
    with pytest.raises(QueryTimeout), slow.batches(SLOW) as reader:
        reader.read_all()


def test_a_deadline_that_passes_between_statements_still_stops_the_read():
    """DuckDB drops an interrupt that arrives while nothing runs: the watchdog interrupts
    again until the block ends, so a reader asked for its batches late is still stopped."""
    session = Session(connect(), timeout_s=0.3)
    started = time.monotonic()
    endless = "SELECT i FROM range(100000000000) t(i)"
    with pytest.raises(QueryTimeout), session.batches(endless) as reader:
        time.sleep(0.5)  # past the deadline before the first batch is asked for
        for _ in reader:
            pass
    assert time.monotonic() - started < 5


def test_errors_met_while_streaming_say_what_they_are():
    statement = (
        "SELECT i, CASE WHEN i > 200000 THEN ('x' || i)::INTEGER ELSE i END AS v"
        " FROM range(1000000) t(i)"
    )
    session = Session(connect(), timeout_s=30, user_sql=True)
    with pytest.raises(QueryError) as raised, session.batches(statement) as reader:
        rows = sum(batch.num_rows for batch in reader)
        raise AssertionError(f"{rows} rows read without an error")
    assert raised.value.code == "sql_invalid" and "Conversion" in raised.value.message
