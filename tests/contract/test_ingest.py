"""Ingest, on the embedded and the cluster profile alike: real vendor workbooks become published
days with their tags; a re-delivery is a duplicate; a corrected re-delivery is version 2 while
version 1 stays readable by its tag; a damaged file is a dead letter and a bad cell is held in
quarantine; and each publish puts its events in the outbox, read over ``/v1/events``.

Every file goes through ``aurum ingest`` and every answer is read back through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    corrected,
    csv_rows,
    expected_row,
    ingested,
    mid_total,
    sha256,
    truncated,
    with_text_price,
)

FIRST, SECOND = "EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx"


@pytest.fixture(scope="module")
def published(tenants: Any, workbooks_dir: Path) -> list[dict[str, Any]]:
    """Two real EUGP days, ingested in one command."""
    return ingested(tenants, workbooks_dir / FIRST, workbooks_dir / SECOND)


def test_each_workbook_is_published_as_its_day_with_its_tag(published, expected, tenants, client):
    assert [s["file"] for s in published] == [FIRST, SECOND]
    for summary in published:
        row = expected_row(expected, summary["file"])
        assert summary["status"] == "published", summary
        assert (summary["tag"], summary["version"]) == (f"eod/EUGP/{row['asof']}/v1", 1)
        assert summary["rows"] == int(row["canonical_rows"]) == 11483
        assert summary["rows_with_bidask"] == int(row["rows_with_bidask"])
        assert summary["curves"] == int(row["distinct_curves"])
        assert summary["sum_mid"] == float(row["sum_mid"])
        assert summary["conservation"]["holds"] and summary["quarantined"] == 0
    days = client.get("/v1/metadata/asof-dates", params={"vendor": "EUGP"},
                      headers=tenants.auth("acme/aurum-analyst"))  # fmt: skip
    assert days.status_code == 200, days.text
    assert days.json()["data"] == [
        {"vendor": "EUGP", "asof_date": "2025-09-12", "rows": 11483, "version": 1},
        {"vendor": "EUGP", "asof_date": "2025-09-17", "rows": 11483, "version": 1},
    ]
    history = tenants.cli("history", "--vendor", "EUGP", "--asof", "2025-09-17", "--json")
    assert history.exit_code == 0, history.output
    (version,) = json.loads(history.stdout)
    assert (version["tag"], version["run_id"]) == (published[1]["tag"], published[1]["run_id"])
    assert version["snapshot_id"] == published[1]["snapshot_id"]


def test_a_redelivery_is_a_duplicate_and_changes_nothing(published, tenants, workbooks_dir):
    (again,) = ingested(tenants, workbooks_dir / SECOND)
    assert (again["status"], again["duplicate_of"], again["tag"]) == (
        "duplicate", "eod/EUGP/2025-09-17/v1", None)  # fmt: skip
    assert (again["version"], again["snapshot_id"]) == (1, published[1]["snapshot_id"])
    assert again["run_id"] != published[1]["run_id"]  # a run of its own, that published nothing
    history = tenants.cli("history", "--vendor", "EUGP", "--asof", "2025-09-17", "--json")
    assert [v["tag"] for v in json.loads(history.stdout)] == ["eod/EUGP/2025-09-17/v1"]


def test_a_corrected_redelivery_is_v2_and_v1_is_read_by_its_tag(
    tenants, client, workbooks_dir, expected, tmp_path
):
    name = "EOD_EUGP_20250701_1430.xlsx"
    row = expected_row(expected, name)
    (first,) = ingested(tenants, workbooks_dir / name)
    fixed = corrected(workbooks_dir / name, tmp_path)
    (second,) = ingested(tenants, fixed)
    assert (first["status"], first["tag"]) == ("published", "eod/EUGP/2025-07-01/v1")
    assert (second["status"], second["tag"], second["version"]) == (
        "published", "eod/EUGP/2025-07-01/v2", 2)  # fmt: skip
    assert first["sum_mid"] == float(row["sum_mid"]) == 614935.190
    assert second["sum_mid"] == 614939.690  # the three cells moved by 0.5, 2.5 and 1.5

    history = tenants.cli("history", "--vendor", "EUGP", "--asof", "2025-07-01", "--json")
    versions = json.loads(history.stdout)
    assert [(v["version"], v["tag"]) for v in versions] == [
        (1, "eod/EUGP/2025-07-01/v1"), (2, "eod/EUGP/2025-07-01/v2")]  # fmt: skip
    assert [v["sha256"] for v in versions] == [
        sha256((workbooks_dir / name).read_bytes()), sha256(fixed.read_bytes())]  # fmt: skip

    analyst = tenants.auth("acme/aurum-analyst")
    day = {"vendor": "EUGP", "asof": "2025-07-01", "format": "csv"}
    now = client.get("/v1/curves", params=day, headers=analyst)
    then = client.get("/v1/curves", params={**day, "as_at": "eod/EUGP/2025-07-01/v1"},
                      headers=analyst)  # fmt: skip
    assert now.status_code == then.status_code == 200, (now.text[:300], then.text[:300])
    assert then.headers["X-Aurum-Snapshot"] == str(first["snapshot_id"])
    assert now.headers["X-Aurum-Snapshot"] == str(second["snapshot_id"])
    current, original = csv_rows(now.content), csv_rows(then.content)
    assert len(current) == len(original) == int(row["canonical_rows"])
    assert (mid_total(original), mid_total(current)) == (614935.190, 614939.690)

    changes = client.get("/v1/operations/days/EUGP/2025-07-01/diff",
                         headers=tenants.auth("acme/aurum-ops")).json()  # fmt: skip
    assert {k: changes["meta"][k] for k in ("changed", "added", "removed", "unchanged")} == {
        "changed": 3, "added": 0, "removed": 0, "unchanged": 11480}  # fmt: skip
    assert sorted(r["change"] for r in changes["data"]) == pytest.approx([0.5, 1.5, 2.5])


def test_a_damaged_file_is_a_dead_letter_and_a_bad_cell_is_quarantined(
    tenants, client, workbooks_dir, expected, tmp_path
):
    damaged = truncated(workbooks_dir / "EOD_EUGP_20250212_1430.xlsx",
                        tmp_path / "EOD_EUGP_20250213_1430.xlsx")  # fmt: skip
    bad_cell = with_text_price(workbooks_dir / "EOD_EUGP_20250218_1430.xlsx", tmp_path, "C20")
    failed, held = ingested(tenants, damaged, bad_cell)

    assert (failed["status"], failed["error_code"], failed["tag"]) == (
        "failed", "file_corrupt", None)  # fmt: skip
    assert failed["dead_lettered"] == 1 and failed["rows"] == 0
    whole = expected_row(expected, bad_cell.name)
    assert (held["status"], held["tag"]) == ("published", "eod/EUGP/2025-02-18/v1")
    assert held["quarantined"] == 1 and held["rows"] == int(whole["canonical_rows"]) - 1
    assert held["conservation"] == {
        "price_cells": 18731, "published_cells": 18729, "quarantined_cells": 2,
        "copy_cells": 0, "dead_letter_cells": 0, "holds": True,
    }  # fmt: skip

    ops = tenants.auth("acme/aurum-ops")
    letters = client.get("/v1/operations/dead-letters", headers=ops)
    assert letters.status_code == 200, letters.text
    assert [
        (r["file"], r["error_code"], r["sha256"], r["run_id"]) for r in letters.json()["data"]
    ] == [(damaged.name, "file_corrupt", sha256(damaged.read_bytes()), failed["run_id"])]
    quarantine = client.get("/v1/operations/quarantine", headers=ops)
    assert quarantine.status_code == 200, quarantine.text
    assert [(r["source_cell"], r["quarantine_reason"], r["raw_mid"], r["run_id"])
            for r in quarantine.json()["data"]] == [
        ("'Fixed Prices - Mid'!C20", "mid_not_numeric", "n/a", held["run_id"])]  # fmt: skip
    # the published day lacks exactly that row
    rows = csv_rows(
        client.get(
            "/v1/curves",
            params={"vendor": "EUGP", "asof": "2025-02-18", "format": "csv"},
            headers=tenants.auth("acme/aurum-analyst"),
        ).content
    )
    assert len(rows) == held["rows"] and mid_total(rows) == held["sum_mid"] == 607333.792


def test_a_publish_puts_its_events_in_the_outbox(tenants, client, workbooks_dir):
    analyst = tenants.auth("acme/aurum-analyst")
    start = client.get("/v1/events", params={"after": -1}, headers=analyst)
    assert start.status_code == 200, start.text
    cursor = start.json()["meta"]["next"]
    (summary,) = ingested(tenants, workbooks_dir / "EOD_EUGP_20250212_1430.xlsx")
    assert summary["status"] == "published"

    types = "curve.observation,qa.result"
    page = client.get("/v1/events", params={"after": cursor, "types": types},
                      headers=analyst).json()  # fmt: skip
    assert [(e["type"], e["run_id"], e["vendor"], e["tenant_id"]) for e in page["data"]] == [
        ("curve.observation", summary["run_id"], "EUGP", None),
        ("qa.result", summary["run_id"], "EUGP", None),
    ]  # fmt: skip
    published = page["data"][0]["data"]
    assert {k: published[k] for k in ("tag", "version", "rows", "snapshot_id", "asof")} == {
        "tag": "eod/EUGP/2025-02-12/v1", "version": 1, "rows": 11483,
        "snapshot_id": summary["snapshot_id"], "asof": "2025-02-12",
    }  # fmt: skip
    assert page["data"][1]["data"]["passed"] is True
    # the cursor goes on from there: nothing new, and bolt (entitled to EUGP) sees the same
    after = client.get("/v1/events", params={"after": page["meta"]["next"],
                       "types": "curve.observation"}, headers=analyst).json()  # fmt: skip
    assert after["data"] == []
    theirs = client.get("/v1/events", params={"after": cursor, "types": "curve.observation"},
                        headers=tenants.auth("bolt/aurum-analyst")).json()  # fmt: skip
    assert [e["id"] for e in theirs["data"]] == [page["data"][0]["id"]]
