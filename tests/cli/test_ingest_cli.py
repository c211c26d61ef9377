"""Bad input through `aurum ingest`: dead letters and quarantine land in the lake, never rows."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from aurum.auth.access import PLATFORM
from aurum.cli.main import app
from aurum.config import Settings
from aurum.ingest.history import ingest_runs
from aurum.lake import Lake
from aurum.query import Query
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

runner = CliRunner()
DAY = date(2025, 9, 17)


def test_bad_files_are_dead_lettered_and_good_ones_published(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    good = write_workbook(drop / workbook_name("PW", DAY), vendor="PW", asof=DAY)
    healthy = good.read_bytes()
    bad = {
        "EOD_EUGP_20250901_1430.xlsx": b"",
        "EOD_EUGP_20250902_1430.xlsx": b"date,price\n2025-09-02,1.0\n",
        "EOD_EUGP_20250903_1430.xlsx": healthy[: len(healthy) // 2],
        "EOD_EUGP_20250904_1430.xlsx": bytes.fromhex("d0cf11e0a1b11ae1") + bytes(512),
    }
    for name, data in bad.items():
        (drop / name).write_bytes(data)
    faults = {"missing_date": "asof_missing", "date_mismatch": "asof_mismatch",
              "date_not_date": "asof_invalid"}  # fmt: skip
    for i, fault in enumerate(faults):  # EUGP: its layout requires the Date: cell
        day = date(2025, 9, 22 + i)
        write_workbook(drop / workbook_name("EUGP", day), vendor="EUGP", asof=day, faults={fault})
    quarantining = write_workbook(
        drop / workbook_name("PW", date(2025, 9, 18)), vendor="PW", asof=date(2025, 9, 18),
        faults={"text_price", "bid_gt_ask", "error_cell"},
    )  # fmt: skip

    home = tmp_path / "home"
    result = runner.invoke(app, ["ingest", str(drop), "--json"], env={"AURUM_HOME": str(home)})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    summaries = {s["file"]: s for s in json.loads(result.stdout)}
    assert {s["status"] for name, s in summaries.items() if name in bad} == {"failed"}
    assert summaries[good.name]["status"] == "published"
    assert summaries[quarantining.name]["status"] == "published"
    assert summaries[quarantining.name]["quarantined"] == 3

    settings = Settings(home=home)
    query = Query(Lake(settings))
    codes = query.sql("SELECT file, error_code FROM curve_dead_letter").table.to_pylist()
    by_file = {row["file"]: row["error_code"] for row in codes}
    assert by_file == {
        "EOD_EUGP_20250901_1430.xlsx": "file_empty",
        "EOD_EUGP_20250902_1430.xlsx": "not_xlsx",
        "EOD_EUGP_20250903_1430.xlsx": "file_corrupt",
        "EOD_EUGP_20250904_1430.xlsx": "format_xls",
        **{
            workbook_name("EUGP", date(2025, 9, 22 + i)): code
            for i, code in enumerate(faults.values())
        },
    }
    published = query.observations()
    assert set(published["asof_date"].to_pylist()) == {DAY, date(2025, 9, 18)}
    assert published.num_rows == 344 + 344 - 3
    held = query.sql("SELECT quarantine_reason FROM curve_observation_quarantine").table
    assert sorted(held.column(0).to_pylist()) == [
        "bid_gt_ask;mid_outside_range", "mid_error_cell", "mid_not_numeric"
    ]  # fmt: skip
    with Store.open(settings.store_url) as store:
        failed = ingest_runs(store, PLATFORM, status="failed")
    assert len(failed) == len(bad) + len(faults)


def test_export_writes_the_documented_layout(build_lake, synthetic_days, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    settings = build_lake("cli-export", synthetic_days("EUGP", date(2025, 10, 1), 1))
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    runner = CliRunner()
    for fmt in ("parquet", "csv", "xlsx"):
        result = runner.invoke(app, ["export", "--asof", "2025-10-01", "--vendor", "EUGP",
                                     "--format", fmt, "--out", str(tmp_path)])  # fmt: skip
        assert result.exit_code == 0, result.output
    folder = tmp_path / "exports" / "default" / "asof=2025-10-01"
    assert sorted(p.name for p in folder.iterdir()) == [
        "curve_observation_EUGP.csv", "curve_observation_EUGP.parquet",
        "curve_observation_EUGP.xlsx",
    ]  # fmt: skip
    rows = pq.read_table(folder / "curve_observation_EUGP.parquet").num_rows
    assert rows > 10_000
    assert len((folder / "curve_observation_EUGP.csv").read_text().splitlines()) == rows + 1
    missing = runner.invoke(app, ["export", "--asof", "1999-01-01", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "asof_unknown" in missing.output
