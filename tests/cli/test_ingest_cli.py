"""Bad input through `aurum ingest`: dead letters and quarantine land in the lake, never rows."""

from __future__ import annotations

import json
import os
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


# -- the operator's review (2026-12, section 3): B1-B7 and F1-F12 -----------------------------

JUMPY = {"AURUM_GATES__JUMP": "fail", "AURUM_GATES__JUMP_Z": "0.01"}  # every move is a jump


def two_days(folder: Path, vendor: str = "PW") -> list[Path]:
    days = (date(2025, 9, 16), DAY)
    return [write_workbook(folder / workbook_name(vendor, d), vendor=vendor, asof=d) for d in days]


def invoke(home: Path, *args: str, **env: str):
    return runner.invoke(app, list(args), env={"AURUM_HOME": str(home), **env})


def test_ingest_takes_the_asof_a_dateless_workbook_lacks(tmp_path: Path) -> None:
    """B1: the dead letter says "pass --asof", and ingest has it."""
    path = write_workbook(tmp_path / "pw_example.xlsx", vendor="PW", asof=DAY,
                          faults={"missing_date"})  # fmt: skip
    home = tmp_path / "home"
    missing = invoke(home, "ingest", "--vendor", "PW", str(path))
    assert missing.exit_code == 1 and "asof_missing" in missing.output
    result = invoke(home, "ingest", "--vendor", "pw", "--asof", "2025-09-17", str(path), "--json")
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert (summary["status"], summary["tag"]) == ("published", "eod/PW/2025-09-17/v1")


def test_a_home_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """B3: AURUM_HOME naming a file was a FileExistsError traceback."""
    home = tmp_path / "README.md"
    home.write_text("not a folder")
    for command in (["runs"], ["sql", "SELECT 1"], ["ingest", str(home)], ["settings"]):
        result = invoke(home, *command)
        if command == ["settings"]:  # it says which home, and that it cannot work
            assert result.exit_code == 0 and f"home: {home} (AURUM_HOME); it is a file" in (
                result.output
            )
            continue
        assert result.exit_code == 2, (command, result.output)
        assert "error home_invalid:" in result.output and "is a file, not a folder" in result.output
        assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_an_unwritable_home_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere: the folder answers as it would to a user
        real = os.access
        monkeypatch.setattr(
            "aurum.cli.context.os.access",
            lambda path, mode: False if Path(path) == locked else real(path, mode),
        )
    result = invoke(locked / "home", "ingest", str(tmp_path))
    assert result.exit_code == 2 and "error home_unwritable:" in result.output


def test_reading_commands_never_create_a_lake(tmp_path: Path) -> None:
    """F7: `aurum sql` with no lake answered 0 from an empty lake it had just created."""
    home = tmp_path / "nowhere"
    for command in (
        ["sql", "SELECT count(*) FROM curve_observation"], ["runs"], ["maintenance"],
        ["history", "--vendor", "PW", "--asof", "2025-09-17"],
        ["export", "--asof", "2025-09-17", "--out", str(tmp_path / "out")],
    ):  # fmt: skip
        result = invoke(home, *command)
        assert result.exit_code == 2, (command, result.output)
        assert f"error lake_missing: no lake at {home}" in result.output
        assert "aurum ingest" in result.output and "aurum demo-data" in result.output
    assert not home.exists()


def test_a_path_that_does_not_exist_records_nothing(tmp_path: Path) -> None:
    """F8: a typo became a failed run and a dead letter named `exist.xlsx`."""
    home = tmp_path / "home"
    missing = tmp_path / "does" / "not" / "exist.xlsx"
    result = invoke(home, "ingest", str(missing))
    assert result.exit_code == 2
    assert f"error path_not_found: no such file or folder: {missing}" in result.output
    assert not home.exists()  # nothing was opened, so nothing recorded


def test_folders_skip_lock_hidden_and_other_files_and_do_not_recurse(tmp_path: Path) -> None:
    """B6 (lock files were dead letters), B7 (.XLSX ignored, or vendor_unknown by name) and
    F5 (empty folders and unsearched subfolders were silent)."""
    drop = tmp_path / "drop"
    upper = write_workbook(drop / "EOD_PW_20250917_1430.XLSX", vendor="PW", asof=DAY)
    (drop / "~$EOD_PW_20250917_1430.XLSX").write_bytes(b"\x00excel lock")
    (drop / ".hidden.xlsx").write_bytes(b"hidden")
    (drop / "notes.txt").write_text("not a workbook")
    nested = write_workbook(drop / "sub" / "EOD_PW_20250918_1430.Xlsx", vendor="PW",
                            asof=date(2025, 9, 18))  # fmt: skip
    home = tmp_path / "home"
    result = invoke(home, "ingest", str(drop), "--json")
    assert result.exit_code == 0, result.output
    assert [(s["file"], s["status"]) for s in json.loads(result.stdout)] == [
        (upper.name, "published")
    ]
    assert "an Excel lock file" in result.stderr and "a hidden file" in result.stderr
    assert "notes.txt: not an .xlsx file" in result.stderr
    assert "1 subfolder(s) not searched: pass --recursive" in result.stderr
    deep = invoke(home, "ingest", str(drop), "--recursive", "--json")
    assert [(s["file"], s["status"]) for s in json.loads(deep.stdout)] == [
        (upper.name, "duplicate"), (nested.name, "published"),
    ]  # fmt: skip
    named = invoke(home, "ingest", str(upper))  # named directly: the vendor is read from it
    assert named.exit_code == 0 and "duplicate of eod/PW/2025-09-17/v1" in named.output
    with Store.open(Settings(home=home).store_url) as store:
        assert {r.error_code for r in ingest_runs(store, PLATFORM)} == {None}  # no dead letter
    empty = tmp_path / "empty"
    (empty / "only-a-subfolder").mkdir(parents=True)
    quiet = invoke(home, "ingest", str(empty))
    assert quiet.exit_code == 0
    assert f"warning: no .xlsx workbook in {empty}; 1 subfolder(s) not searched" in quiet.stderr


def test_a_pdf_is_called_a_pdf(tmp_path: Path) -> None:
    """F9: a PDF renamed .xlsx was said to look like text or HTML."""
    path = tmp_path / "EOD_PW_20250917_1430.xlsx"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    result = invoke(tmp_path / "home", "ingest", str(path))
    assert result.exit_code == 1
    assert "dead letter not_xlsx: not an .xlsx workbook (no zip signature; looks like a PDF" in (
        result.output
    )


def test_ingest_prints_conservation_warnings_and_gates_as_parse_does(tmp_path: Path) -> None:
    """F12 (conservation and warnings only from `parse`) and F2's CLI half (gate outcomes
    invisible): the lines, and the same in --json."""
    first, second = two_days(tmp_path / "in")
    home = tmp_path / "home"
    assert invoke(home, "ingest", str(first)).exit_code == 0
    warned = invoke(home, "ingest", str(second), AURUM_GATES__JUMP_Z="0.01")
    assert warned.exit_code == 0, warned.output
    assert "  conservation: 688 price cells = 688 published + 0 quarantined" in warned.output
    assert "  gate jump (warn): 333 of 344: " in warned.output
    parse = runner.invoke(app, ["parse", str(second), "--out", str(tmp_path / "parsed")])
    shared = [line for line in parse.output.splitlines() if line.startswith("  ")]
    assert shared and all(line in warned.output.splitlines() for line in shared)

    faulty = write_workbook(tmp_path / "f" / workbook_name("PW", date(2025, 9, 18)), vendor="PW",
                            asof=date(2025, 9, 18), faults={"text_price"})  # fmt: skip
    result = invoke(home, "ingest", str(faulty), "--json", **JUMPY)
    assert result.exit_code == 1
    (summary,) = json.loads(result.stdout)
    assert summary["conservation"]["holds"] and summary["quarantined"] == 1
    (gate,) = summary["gates"]
    assert (gate["rule"], gate["severity"], len(gate["sample_keys"])) == ("jump", "fail", 5)
    assert summary["branch"].startswith("eod_pw_20250918_")


def test_runs_say_why_in_80_columns_and_everything_when_wide(tmp_path: Path) -> None:
    """B4 (the vendor shown as "tag, or error"), F1 (no vendor, file or run id; cut cells)."""
    first, second = two_days(tmp_path / "in")
    home = tmp_path / "home"
    invoke(home, "ingest", str(first))
    invoke(home, "ingest", str(first))  # a duplicate
    failed = invoke(home, "ingest", str(second), "--json", **JUMPY)
    run_id = json.loads(failed.stdout)[0]["run_id"]
    bad = tmp_path / "EOD_RP_20250917_1430.xlsx"
    bad.write_bytes(b"<html>not a workbook</html>")
    invoke(home, "ingest", str(bad))
    result = invoke(home, "runs")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["run", "status", "vendor", "as-of", "file", "rows", "why"]
    rows = [line.split() for line in lines[1:]]
    assert [row[:2] for row in rows] == [
        [rows[0][0], "failed"], [run_id[:8], "failed"], [rows[2][0], "duplicate"],
        [rows[3][0], "published"],
    ]  # fmt: skip
    for row, path in zip(rows, (bad, second, first, first), strict=True):
        cut = row.pop(4)  # the file: the column cut first (with …) when the rest needs room
        assert len(cut) >= 20 and path.name.startswith(cut.removesuffix("…"))
    assert rows[0][2:6] == ["RP", "?", "0", "not_xlsx"]  # no as-of: never read
    assert rows[1][2:7] == ["PW", "2025-09-17", "344", "gate:", "jump"]
    assert rows[2][2:8] == ["PW", "2025-09-16", "344", "duplicate", "of", "v1"]
    assert rows[3][2:6] == ["PW", "2025-09-16", "344", "v1"]
    wide = invoke(home, "runs", "--wide")
    assert run_id in wide.output and "failed gate(s): jump 333 of 344 (" in wide.output
    assert "not_xlsx: not an .xlsx workbook" in wide.output
    assert "duplicate of eod/PW/2025-09-16/v1" in wide.output
    data = json.loads(invoke(home, "runs", "--json").stdout)
    assert data[1]["why"].startswith("failed gate(s): jump") and data[1]["gates"][0]["failed"]
    assert data[2]["duplicate_of"] == "eod/PW/2025-09-16/v1"


def test_history_fits_80_columns_with_json_and_wide(tmp_path: Path) -> None:
    """F1: every useful column of `history` was cut in 80 columns."""
    (first,) = two_days(tmp_path / "in")[:1]
    home = tmp_path / "home"
    invoke(home, "ingest", str(first))
    result = invoke(home, "history", "--vendor", "PW", "--asof", "2025-09-16")
    assert result.exit_code == 0, result.output
    assert max(map(len, result.output.splitlines())) <= 80 and "…" not in result.output
    assert "tags eod/PW/2025-09-16/v<version>" in result.output
    (version,) = json.loads(invoke(home, "history", "--vendor", "PW", "--asof", "2025-09-16",
                                   "--json").stdout)  # fmt: skip
    assert version["tag"] == "eod/PW/2025-09-16/v1" and len(version["sha256"]) == 64
    wide = invoke(home, "history", "--vendor", "PW", "--asof", "2025-09-16", "--wide")
    assert version["sha256"] in wide.output and version["run_id"] in wide.output


def test_duplicates_are_content_already_published_as_any_version(tmp_path: Path) -> None:
    """F4: ingest compared with the newest version only, so re-sending v1's file after v2
    published a v3 (the watcher, by contrast, skipped any content ever seen)."""
    import openpyxl

    home = tmp_path / "home"
    original = write_workbook(tmp_path / "v1" / workbook_name("PW", DAY), vendor="PW", asof=DAY)
    corrected = tmp_path / "v2" / original.name
    corrected.parent.mkdir()
    book = openpyxl.load_workbook(original)
    book.worksheets[0]["D10"].value = 123.456
    book.save(corrected)
    statuses = []
    for path in (original, corrected, original, corrected):
        (summary,) = json.loads(invoke(home, "ingest", str(path), "--json").stdout)
        statuses.append((summary["status"], summary["tag"] or summary["duplicate_of"]))
    assert statuses == [
        ("published", "eod/PW/2025-09-17/v1"), ("published", "eod/PW/2025-09-17/v2"),
        ("duplicate", "eod/PW/2025-09-17/v1"), ("duplicate", "eod/PW/2025-09-17/v2"),
    ]  # fmt: skip


def test_watch_once_gives_reasons_and_exit_codes_and_retries_on_new_settings(
    tmp_path: Path,
) -> None:
    """B5 (a failure with no reason, exit 0, and never retried) and F3 (silence about the
    files it skipped; "Ctrl-C stops" with --once)."""
    drop = tmp_path / "drop"
    first, second = two_days(drop)
    (drop / "~$lock.xlsx").write_bytes(b"lock")
    home = tmp_path / "home"
    once = ("watch", str(drop), "--once", "--interval", "0.1", "--settle", "1")
    failing = invoke(home, *once, **JUMPY)
    assert failing.exit_code == 1, failing.output
    assert "Ctrl-C" not in failing.output
    assert f"{second.name}: failed vendor=PW" in failing.output
    assert "  gate jump (fail): 333 of 344: " in failing.output
    assert "~$lock.xlsx: skipped, an Excel lock file" in failing.output
    again = invoke(home, *once, **JUMPY)  # nothing changed: not tried again, still failed
    assert again.exit_code == 1
    assert f"{first.name}: skipped, already published as eod/PW/2025-09-16/v1" in again.output
    assert f"{second.name}: failed, failed before (failed gate(s) jump" in again.output
    retried = invoke(home, *once, AURUM_GATES__JUMP_Z="0.01")  # the gate back to warn
    assert retried.exit_code == 0, retried.output
    assert f"{second.name}: published" in retried.output
    assert "3 in the folder: 1 published, 2 skipped" in retried.output


def test_progress_bars_only_for_a_person_at_a_terminal(tmp_path: Path, monkeypatch) -> None:
    """F10: long commands showed nothing until the end."""
    from aurum.cli import output

    drop = tmp_path / "drop"
    two_days(drop)
    home = tmp_path / "home"
    monkeypatch.setattr(output.errors, "_force_terminal", True)
    monkeypatch.setattr(output.errors, "is_interactive", True)
    shown = invoke(home, "backfill", str(drop))
    assert shown.exit_code == 0, shown.output
    assert "Parsing" in shown.stderr and "Publishing" in shown.stderr
    assert "Maintaining" in invoke(home, "maintenance").stderr
    assert "Ingesting" in invoke(home, "ingest", str(drop)).stderr
    assert "Ingesting" not in invoke(home, "ingest", str(drop), "--json").stderr
    monkeypatch.setattr(output.errors, "_force_terminal", False)
    assert "Ingesting" not in invoke(home, "ingest", str(drop)).stderr
