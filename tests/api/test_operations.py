"""``/v1/operations`` over HTTP: the operator's data as the lake and store hold it, ops and
admins only, each tenant seeing its entitled vendors; bad input is a 4xx problem, never a 500."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.ingest.runner import IngestReport, ingest_file
from aurum.lake.catalog import Lake
from aurum.query.engine import Query
from aurum.query.operations import QUARANTINE_COLUMNS
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

OPS = "/v1/operations"
MOVES = {"C20": 0.5, "D30": 2.5, "E40": 1.5}  # the corrected re-delivery's cells


def app_of(settings: Settings) -> FastAPI:
    return create_app(settings)


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    settings: Settings
    reports: dict[str, IngestReport]

    def get(self, who: str, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.get(f"{OPS}{path}", params=params, headers=headers)


def redeliver(path: Path, target: Path) -> Path:
    """The vendor's correction of ``path``: each of ``MOVES`` moved, mid, bid and ask."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
    book = openpyxl.load_workbook(target)
    for cell, move in MOVES.items():
        book["Fixed Prices - Mid"][cell].value += move
        bid, ask = (float(x) for x in book["Fixed Prices - BidAsk"][cell].value.split("/"))
        book["Fixed Prices - BidAsk"][cell].value = f"{bid + move:.3f}   /   {ask + move:.3f}"
    book.save(target)
    return target


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """EUGP in Easter week 2026 (TARGET closed Friday 3 and Monday 6 April): 1 April with a text
    price (quarantined), 2 April and its correction, 8 April, a corrupt file for 9 April and
    nothing for 7 April; tenants acme (EUGP) and bolt (RP) with ops and analyst keys."""
    home = tmp_path_factory.mktemp("operations-api")
    settings = Settings(
        home=home / "home", auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    reports: dict[str, IngestReport] = {}
    tokens: dict[str, str] = {}
    with Store.connect(settings) as store:
        lake = Lake(settings)

        def ingest(key: str, path: Path) -> None:
            reports[key] = ingest_file(path, lake=lake, store=store, settings=settings)

        for day, faults in ((1, {"text_price"}), (2, ()), (8, ())):
            name = workbook_name("EUGP", date(2026, 4, day))
            path = write_workbook(home / "in" / name, vendor="EUGP", asof=date(2026, 4, day),
                                  faults=faults)  # fmt: skip
            ingest(f"04-0{day}", path)
        original = home / "in" / workbook_name("EUGP", date(2026, 4, 2))
        ingest("04-02 v2", redeliver(original, home / "v2" / original.name))
        corrupt = home / "bad" / workbook_name("EUGP", date(2026, 4, 9))
        corrupt.parent.mkdir()
        corrupt.write_bytes(b"PK\x03\x04 but not really a zip")
        ingest("04-09", corrupt)
        for tenant, vendor in (("acme", "EUGP"), ("bolt", "RP")):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), [vendor])
            for role in ("aurum-ops", "aurum-analyst", "aurum-admin"):
                issued = tenancy.issue_key(store, PLATFORM, tenant_id=tenant, role=role, name=role)
                tokens[f"{tenant}/{role.removeprefix('aurum-')}"] = issued.token
    with TestClient(app_of(settings)) as client:
        yield Api(client, tokens, settings, reports)


def test_the_lake_holds_what_the_fixture_says(api: Api):
    assert {k: r.status for k, r in api.reports.items()} == {
        "04-01": "published", "04-02": "published", "04-08": "published",
        "04-02 v2": "published", "04-09": "failed",
    }  # fmt: skip


def test_quarantined_cells_and_reasons_are_the_lakes(api: Api):
    answer = api.get("acme/ops", "/quarantine", vendor="eugp", asof="2026-04-01")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = ", ".join(f'"{c}"' for c in QUARANTINE_COLUMNS)
    held = Query(Lake(api.settings)).sql(f"SELECT {names} FROM curve_observation_quarantine")
    expected = [
        {**row, "asof_date": row["asof_date"].isoformat()} for row in held.table.to_pylist()
    ]
    served = body["data"]
    for row in served:
        row["_ingest_ts"] = datetime.fromisoformat(row["_ingest_ts"])
    assert served == expected and len(served) == 1
    assert (served[0]["source_cell"], served[0]["quarantine_reason"], served[0]["raw_mid"]) == (
        "'Fixed Prices - Mid'!C13", "mid_not_numeric", "n/a",
    )  # fmt: skip
    assert body["meta"]["dataset"] == "curve_observation_quarantine"
    table = api.get("acme/ops", "/quarantine", format="csv")
    (line,) = csv.DictReader(io.StringIO(table.text))
    assert (line["source_cell"], line["run_id"]) == (
        "'Fixed Prices - Mid'!C13",
        served[0]["run_id"],
    )


def test_the_dead_letter_carries_the_files_error_code(api: Api):
    body = api.get("acme/admin", "/dead-letters", vendor="EUGP").json()
    assert [(r["file"], r["error_code"]) for r in body["data"]] == [
        ("EOD_EUGP_20260409_1430.xlsx", api.reports["04-09"].error_code)
    ]
    assert body["data"][0]["error_code"] == "file_corrupt"  # a zip signature, then no zip
    assert body["data"][0]["run_id"] == api.reports["04-09"].run_id


def test_gate_outcomes_over_time(api: Api):
    body = api.get("acme/ops", "/gates", stage="gate", rule="new_curve").json()
    assert [(r["asof_date"], r["runs"]) for r in body["data"]] == [
        ("2026-04-01", 1), ("2026-04-02", 2), ("2026-04-08", 1),
    ]  # fmt: skip
    assert body["data"][1]["run_id"] == api.reports["04-02 v2"].run_id
    failed = api.get("acme/ops", "/gates", failed_only="true", stage="parse", to="2026-04-01")
    assert {r["rule"]: r["failed"] for r in failed.json()["data"]} == {
        "mid_not_numeric": 1, "monthly_continuity": 1,
    }  # fmt: skip


def test_a_days_versions_and_their_diff(api: Api):
    listed = api.get("acme/ops", "/days/EUGP/2026-04-02/versions").json()
    assert [(v["version"], v["tag"], v["current"]) for v in listed["data"]] == [
        (1, "eod/EUGP/2026-04-02/v1", False), (2, "eod/EUGP/2026-04-02/v2", True),
    ]  # fmt: skip
    assert [v["sha256"] for v in listed["data"]] == [
        api.reports["04-02"].parse.sha256, api.reports["04-02 v2"].parse.sha256,
    ]  # fmt: skip
    diff = api.get("acme/ops", "/days/EUGP/2026-04-02/diff", **{"from": 1, "to": 2}).json()
    meta = diff["meta"]
    assert (meta["changed"], meta["added"], meta["removed"]) == (len(MOVES), 0, 0)
    assert meta["unchanged"] == 11_483 - len(MOVES)
    assert [r["change"] for r in diff["data"]] == sorted(MOVES.values(), reverse=True)
    assert meta["snapshot_id"] == api.reports["04-02 v2"].publication.snapshot_id
    # the default is the newest against the one before; pages follow one cursor
    first = api.get("acme/ops", "/days/EUGP/2026-04-02/diff", limit=2).json()
    assert first["meta"]["has_more"] and len(first["data"]) == 2
    rest = api.get("acme/ops", "/days/EUGP/2026-04-02/diff", limit=2,
                   cursor=first["meta"]["next_cursor"]).json()  # fmt: skip
    assert first["data"] + rest["data"] == diff["data"]


def test_expected_files_show_a_missing_business_day_and_no_holiday(api: Api):
    body = api.get("acme/ops", "/files", vendor="EUGP", **{"from": "2026-04-01"}, to="2026-04-09")
    days = {d["asof_date"]: d for d in body.json()["data"]}
    assert list(days) == ["2026-04-01", "2026-04-02", "2026-04-07", "2026-04-08", "2026-04-09"]
    missing = days["2026-04-07"]
    assert (missing["state"], missing["expected"], missing["overdue"], missing["files"]) == (
        "missing", True, True, [],
    )  # fmt: skip
    assert missing["cutoff_at"] == "2026-04-07T14:30:00+00:00" and missing["cutoff_passed"]
    corrected = days["2026-04-02"]
    assert [(f["status"], f["version"]) for f in corrected["files"]] == [
        ("published", 1), ("published", 2),
    ]  # fmt: skip
    assert corrected["tag"] == "eod/EUGP/2026-04-02/v2"
    assert [(f["status"], f["run_id"]) for f in days["2026-04-09"]["files"]] == [
        ("failed", api.reports["04-09"].run_id)
    ]
    meta = body.json()["meta"]
    assert (meta["overdue"], meta["states"]["missing"], meta["states"]["failed"]) == (2, 1, 1)


def test_a_tenant_not_entitled_to_the_vendor_cannot_see_it(api: Api):
    for path, params in (
        ("/quarantine", {"vendor": "EUGP"}), ("/dead-letters", {"vendor": "EUGP"}),
        ("/gates", {"vendor": "EUGP"}), ("/files", {"vendor": "EUGP"}),
        ("/days/EUGP/2026-04-02/versions", {}), ("/days/EUGP/2026-04-02/diff", {}),
    ):  # fmt: skip
        refused = api.get("bolt/ops", path, **params)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "vendor_not_entitled"
    for path in ("/quarantine", "/dead-letters", "/gates"):
        assert api.get("bolt/admin", path).json()["data"] == [], path
    days = api.get("bolt/ops", "/files", **{"from": "2026-04-01"}, to="2026-04-09").json()
    assert {d["vendor"] for d in days["data"]} == {"RP"} and days["meta"]["vendors"] == ["RP"]


def test_ops_and_admins_only(api: Api):
    for path in ("/quarantine", "/dead-letters", "/gates", "/files",
                 "/days/EUGP/2026-04-02/versions", "/days/EUGP/2026-04-02/diff"):  # fmt: skip
        refused = api.get("acme/analyst", path)
        assert (refused.status_code, refused.json()["code"]) == (403, "role_missing"), path
        assert api.client.get(f"{OPS}{path}").status_code == 401
    spec = api.client.get(
        "/openapi.json", headers={"Authorization": f"Bearer {api.tokens['acme/ops']}"}
    )
    roles = {
        path: item["get"]["x-aurum-roles"]
        for path, item in spec.json()["paths"].items()
        if path.startswith(OPS)
    }
    assert roles == {
        f"{OPS}/{p}": ["aurum-ops"]
        for p in ("quarantine", "dead-letters", "gates", "files", "days/{vendor}/{asof}/versions",
                  "days/{vendor}/{asof}/diff")
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/quarantine", {"vendor": "ACME"}, 404, "vendor_unknown"),
        ("/days/ACME/2026-04-02/versions", {}, 404, "vendor_unknown"),
        ("/days/EUGP/2026-04-31/versions", {}, 400, "parameter_invalid"),
        ("/days/EUGP/2026-04-07/versions", {}, 404, "day_unknown"),
        ("/days/EUGP/2026-04-02/diff", {"from": 3}, 404, "version_unknown"),
        ("/days/EUGP/2026-04-02/diff", {"from": 2, "to": 2}, 400, "filters_contradictory"),
        ("/days/EUGP/2026-04-02/diff", {"from": 0}, 400, "parameter_invalid"),
        ("/days/EUGP/2026-04-02/diff", {"status": "moved"}, 400, "parameter_invalid"),
        ("/days/EUGP/2026-04-01/diff", {}, 404, "version_unknown"),  # one version only
        ("/quarantine", {"asof": "latest"}, 400, "parameter_invalid"),
        ("/quarantine", {"asof": "2026-04-02..2026-04-01"}, 400, "filters_contradictory"),
        ("/gates", {"from": "2026-04-09", "to": "2026-04-01"}, 400, "filters_contradictory"),
        ("/gates", {"from": "April"}, 400, "parameter_invalid"),
        ("/gates", {"stage": "publish"}, 400, "parameter_invalid"),
        ("/dead-letters", {"to": "0001-01-01"}, 400, "parameter_invalid"),
        ("/files", {"from": "2026-04-09", "to": "2026-04-01"}, 400, "filters_contradictory"),
        ("/files", {"from": "2024-01-01", "to": "2026-04-01"}, 400, "range_too_long"),
        ("/files", {"vendor": "EUGP", "vendors": "RP"}, 400, "parameter_unknown"),
        ("/quarantine", {"cursor": "forged.cursor"}, 400, "cursor_invalid"),
    ],
)
def test_bad_input_is_a_clear_4xx(api: Api, path, params, status, code):
    answer = api.get("acme/ops", path, **params)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_every_operations_get_answers_as_documented(api: Api):
    """Property-based requests (schemathesis) on an open dev-mode app over the same lake."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    app = app_of(api.settings.model_copy(update={"auth": api.settings.auth.model_copy(
        update={"mode": "dev"})}))  # fmt: skip
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        found = [op.ok() for op in schema.get_all_operations()]
        ours = [op for op in found if op.path.startswith(OPS)]
        assert len(ours) == 6
        for operation in ours:

            @given(case=operation.as_strategy())
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True, database=None)  # fmt: skip
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=[
                    checks.not_a_server_error, checks.status_code_conformance,
                    checks.content_type_conformance, checks.response_schema_conformance,
                ])  # fmt: skip

            check()
