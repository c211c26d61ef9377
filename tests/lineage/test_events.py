"""A run's OpenLineage events, from real ingests and from the records scenario runs and
valuations keep: what they read and wrote at which versions, by which code, and how each ends.

Until the run kernel calls :class:`Lineage` itself, these tests call it where it will: at the
run's start with the run ``Runs.start`` returned (a spy on it, nothing changed), and at its end
with the run as the store keeps it. Every event is checked against the spec through the
client's typed model (``round_trip``, see ``conftest.py``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from aurum._version import __version__, code_version
from aurum.config import GateSettings, Settings
from aurum.datasets.curves import CURVE_OBSERVATION, QUARANTINE
from aurum.datasets.ppa import PPA_VALUATION
from aurum.datasets.scenarios import SCENARIO_OUTPUT, SCENARIO_PATH
from aurum.lineage import Lineage, journal_path
from aurum.lineage.facets import PRODUCER, SCHEMA_BASE
from aurum.store import Run
from aurum.synthetic import workbook_name, write_workbook

LAKE = "aurum://lake/market"


def facets_of(dataset: dict[str, Any]) -> dict[str, Any]:
    return dataset.get("facets", {})


def test_a_published_ingest_starts_then_completes_with_its_versions(
    home, lineage, ingest, pw_day, journal
):
    settings = home[0]
    report, run = ingest(pw_day)
    assert run.status == "published"
    start, end = journal(settings)
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    assert lineage.written == 2 and lineage.errors == 0
    assert lineage.sent == 0 and lineage.dropped == 0  # no endpoint: the file only

    for event in (start, end):
        assert event["run"]["runId"] == str(uuid.UUID(hex=run.run_id))
        assert event["job"]["namespace"] == "aurum" and event["job"]["name"] == "ingest"
        assert event["producer"] == f"https://aurum.invalid/aurum/{__version__}"
        engine = event["run"]["facets"]["processing_engine"]
        assert engine["version"] == code_version() and engine["name"] == "aurum"
        assert engine["version"].startswith(__version__)
        (source,) = event["inputs"]
        assert (source["namespace"], source["name"]) == ("file", pw_day.name)
        assert facets_of(source)["aurum_file"]["sha256"] == (
            hashlib.sha256(pw_day.read_bytes()).hexdigest()
        )
        assert facets_of(source)["aurum_file"]["vendor"] == "PW"
        schema = facets_of(event["outputs"][0])["schema"]["fields"]
        assert [(f["name"], f["type"]) for f in schema] == [
            (c.name, str(c.type)) for c in CURVE_OBSERVATION.columns
        ]
    assert start["eventTime"] == run.started_at.isoformat()
    assert end["eventTime"] == run.finished_at.isoformat()

    # START: where it will write, not yet a version
    (staging,) = start["outputs"]
    assert (staging["namespace"], staging["name"]) == (LAKE, "curve_observation")
    assert "version" not in facets_of(staging) and "outputStatistics" not in staging["outputFacets"]
    assert facets_of(staging)["aurum_version"]["partition"] == {
        "vendor": "PW", "asof_date": "2025-09-16"
    }  # fmt: skip

    # COMPLETE: the Iceberg snapshot and tag it published, the rows, the gates (none fired)
    (written,) = end["outputs"]
    assert facets_of(written)["version"]["datasetVersion"] == str(run.snapshot_id)
    ours = facets_of(written)["aurum_version"]
    assert report.publication is not None
    assert (ours["snapshotId"], ours["tag"], ours["version"], ours["status"]) == (
        report.publication.snapshot_id, "eod/PW/2025-09-16/v1", 1, "published"
    )  # fmt: skip
    assert run.tag == ours["tag"] and run.snapshot_id == ours["snapshotId"]
    rows = written["outputFacets"]["outputStatistics"]["rowCount"]
    assert rows == run.result["rows"] == report.parse.observations.num_rows == 344
    assert facets_of(written)["dataQualityAssertions"]["assertions"] == []
    assert facets_of(written)["ownership"]["owners"] == [
        {"name": "team:market-data", "type": "team"}
    ]
    assert "errorMessage" not in end["run"]["facets"]
    assert end["run"]["facets"]["aurum_run"]["runId"] == run.run_id


def test_the_same_file_again_completes_as_a_duplicate_of_the_version_holding_it(
    home, lineage, ingest, pw_day, journal
):
    settings = home[0]
    _, first = ingest(pw_day)
    report, again = ingest(pw_day)
    assert again.status == "duplicate" and again.tag is None  # the run keeps only the number
    *_, end = journal(settings)
    assert end["eventType"] == "COMPLETE"
    (written,) = end["outputs"]
    ours = facets_of(written)["aurum_version"]
    assert (ours["status"], ours["tag"], ours["snapshotId"]) == (
        "duplicate", first.tag, first.snapshot_id
    )  # fmt: skip
    assert facets_of(written)["version"]["datasetVersion"] == str(first.snapshot_id)
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == 0  # nothing written
    assert report.duplicate_of == first.tag


def test_a_corrupt_file_fails_with_its_error(home, lineage, ingest, journal, tmp_path: Path):
    settings = home[0]
    bad = tmp_path / workbook_name("PW", date(2025, 9, 18))
    bad.write_bytes(b"this is not a workbook")
    _, run = ingest(bad)
    assert run.status == "failed" and run.error_code == "not_xlsx"
    start, end = journal(settings)
    assert (start["eventType"], end["eventType"]) == ("START", "FAIL")
    assert end["run"]["facets"]["errorMessage"]["message"] == run.error_message
    assert end["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert end["run"]["facets"]["aurum_run"]["errorCode"] == "not_xlsx"
    (source,) = end["inputs"]
    assert source["name"] == bad.name
    assert facets_of(source)["aurum_file"]["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert end["outputs"] == []  # unreadable: no day, no dataset it was writing


def test_a_publish_its_gates_block_fails_with_the_gates_as_assertions(
    home, lineage, ingest, pw_day, journal, tmp_path: Path
):
    settings = home[0]
    ingest(pw_day)
    day = date(2025, 9, 17)
    later = write_workbook(tmp_path / workbook_name("PW", day), vendor="PW", asof=day)
    strict = Settings(home=settings.home, gates=GateSettings(jump="fail", jump_z=1e-6))
    _, run = ingest(later, settings=strict)
    assert run.status == "failed" and run.gate_failures == ["jump"]
    end = journal(settings)[-1]
    assert end["eventType"] == "FAIL"
    assert end["run"]["facets"]["errorMessage"]["message"] == (
        "its gates blocked the publish: jump"
    )
    (attempted,) = end["outputs"]
    assert "version" not in facets_of(attempted)  # nothing was published
    staged = facets_of(attempted)["aurum_version"]
    assert (staged["branch"], staged["snapshotId"]) == (run.branch, run.snapshot_id)
    assert run.branch.startswith("eod_pw_20250917_") and "tag" not in staged
    (assertion,) = facets_of(attempted)["dataQualityAssertions"]["assertions"]
    (gate,) = run.result["gates"]
    assert assertion == {
        "assertion": "jump", "name": "jump", "success": False, "severity": "error",
        "expected": "0", "actual": str(gate["failed"]),
        "params": {"checked": gate["checked"], "sample_keys": gate["sample_keys"]},
    }  # fmt: skip
    assert gate["failed"] > 0 and gate["checked"] == 344


# -- runs as the other kinds record them ----------------------------------------------------------

T0 = datetime(2025, 9, 18, 7, 0, tzinfo=UTC)
T1 = datetime(2025, 9, 18, 7, 5, tzinfo=UTC)


def a_run(kind: str, **values: Any) -> Run:
    """A run record as the store returns one (defaults: just started)."""
    fields: dict[str, Any] = {
        "run_id": uuid.uuid4().hex, "kind": kind, "status": "running", "subject": "s",
        "tenant_id": "acme", "requested_by": "user:a@acme", "request_id": None, "dataset": None,
        "partition": None, "vendor": None, "asof": None, "sha256": None, "params": {},
        "result": {}, "snapshot_id": None, "tag": None, "version": None, "branch": None,
        "error_code": None, "error_message": None, "gate_failures": [], "queued_at": T0,
        "started_at": T0, "finished_at": None, "heartbeat_at": T0, "lease_owner": "w",
        "lease_expires_at": T1, "attempts": 1,
    }  # fmt: skip
    return Run(**{**fields, **values})


@pytest.fixture
def events_of(journal) -> Any:
    """``events_of(home, (which, run), ...)``: the events Lineage records for the runs' starts
    (``"start"``) and ends (``"end"``)."""

    def record(home: Path, *runs: tuple[str, Run]) -> list[dict[str, Any]]:
        return _record(journal, home, runs)

    return record


def _record(journal, home: Path, runs: tuple[tuple[str, Run], ...]) -> list[dict[str, Any]]:
    settings = Settings(home=home / "kinds")
    emitter = Lineage.from_settings(settings)
    for which, run in runs:
        (emitter.started if which == "start" else emitter.finished)(run)
    assert emitter.errors == 0
    return journal(settings) if journal_path(settings).exists() else []


BASE_TAGS = {  # what ScenarioService.request_run records: each vendor's day, and replaced ones
    "EUGP": "eod/EUGP/2025-09-17/v2", "PW": "eod/PW/2025-09-16/v1",
    "TTF@replace": "eod/EUGP/2025-09-17/v2",
}  # fmt: skip


def test_a_scenario_run_reads_its_base_tags_and_writes_its_output_and_paths(
    tmp_path: Path, events_of
):
    queued = a_run("scenario_run", subject="scn1", params={
        "scenario_id": "scn1", "version": 3, "base_tags": BASE_TAGS, "seed": 7,
        "code_version": "0.1.0",
    })  # fmt: skip
    done = replace(
        queued, status="published", dataset=SCENARIO_OUTPUT.name,
        partition={"run_id": queued.run_id}, snapshot_id=777, version=1,
        tag=f"scenario/{queued.run_id}/v1", finished_at=T1,
        result={"rows": 120, "paths_stored": 5000, "curves": 5},
    )  # fmt: skip
    start, end = events_of(tmp_path, ("start", queued), ("end", done))
    assert (start["job"]["name"], start["eventType"], end["eventType"]) == (
        "scenario_run", "START", "COMPLETE"
    )  # fmt: skip
    assert start["outputs"] == []  # a queued run learns its dataset when it executes
    for event in (start, end):  # each tag once, at its version
        assert [
            (i["name"], facets_of(i)["version"]["datasetVersion"]) for i in event["inputs"]
        ] == [
            ("curve_observation", "eod/EUGP/2025-09-17/v2"),
            ("curve_observation", "eod/PW/2025-09-16/v1"),
        ]
        first = facets_of(event["inputs"][0])["aurum_version"]
        assert (first["tag"], first["version"], first["partition"]) == (
            "eod/EUGP/2025-09-17/v2", 2, {"vendor": "EUGP", "asof_date": "2025-09-17"}
        )  # fmt: skip
    output, paths = end["outputs"]
    assert (output["namespace"], output["name"]) == (LAKE, SCENARIO_OUTPUT.name)
    assert facets_of(output)["version"]["datasetVersion"] == "777"
    assert facets_of(output)["aurum_version"]["tag"] == f"scenario/{queued.run_id}/v1"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 120
    assert [f["name"] for f in facets_of(output)["schema"]["fields"]] == list(
        SCENARIO_OUTPUT.column_names
    )
    assert paths["name"] == SCENARIO_PATH.name
    assert paths["outputFacets"]["outputStatistics"]["rowCount"] == 5000
    assert end["run"]["facets"]["aurum_run"]["tenantId"] == "acme"


def test_a_valuation_reads_the_base_curves_at_the_snapshot_it_pinned(tmp_path: Path, events_of):
    # PpaService._pinned records the snapshot the curves are read at as the request's as_at
    request = {"curves": {"asof": "latest", "as_at": "4569554174509533323"}}
    done = a_run(
        "valuation", status="published", params={"request": request}, finished_at=T1,
        dataset=PPA_VALUATION.name, partition={"run_id": "r"}, snapshot_id=9, version=1,
        tag="ppa/r/v1", result={"summary": {"npv": 1.0}, "inputs": {"source": "base"}},
    )  # fmt: skip
    (end,) = events_of(tmp_path, ("end", done))
    (curves,) = end["inputs"]
    assert curves["name"] == "curve_observation"
    assert facets_of(curves)["version"]["datasetVersion"] == "4569554174509533323"
    assert facets_of(curves)["aurum_version"]["snapshotId"] == 4569554174509533323
    (written,) = end["outputs"]
    assert (written["name"], facets_of(written)["aurum_version"]["tag"]) == (
        "ppa_valuation", "ppa/r/v1"
    )  # fmt: skip
    assert "outputStatistics" not in written["outputFacets"]  # a valuation records no row count


def test_a_valuation_on_a_tag_or_a_time_or_a_scenario_run(tmp_path: Path, events_of):
    def inputs(curves: dict[str, Any], result: dict[str, Any] | None = None) -> list[Any]:
        run = a_run("valuation", params={"request": {"curves": curves}}, result=result or {},
                    status="published", finished_at=T1)  # fmt: skip
        (end,) = events_of(tmp_path / uuid.uuid4().hex, ("end", run))
        return [(i["name"], facets_of(i).get("version", {}).get("datasetVersion"),
                 facets_of(i)["aurum_version"]) for i in end["inputs"]]  # fmt: skip

    ((name, version, ours),) = inputs({"as_at": "eod/RP/2025-09-17/v3"})
    assert (name, version, ours["version"]) == ("curve_observation", "eod/RP/2025-09-17/v3", 3)
    ((name, version, ours),) = inputs({"as_at": "2025-09-17T18:00:00Z"})
    assert (name, version, ours["asAt"]) == ("curve_observation", None, "2025-09-17T18:00:00Z")
    found = {"source": "scenario_run", "scenario_run": "abc", "scenario_tag": "scenario/abc/v1",
             "paths": "stored (scenario_path)"}  # fmt: skip
    (output, paths) = inputs({"scenario_run": "abc", "ensemble": True}, {"inputs": found})
    assert output[:2] == ("scenario_output", "scenario/abc/v1")
    assert output[2]["partition"] == {"run_id": "abc"}
    assert (paths[0], paths[1], paths[2]["partition"]) == ("scenario_path", None, {"run_id": "abc"})


def test_how_each_end_is_told_and_a_retry_is_not_an_end(tmp_path: Path, events_of):
    run = a_run("scenario_run", finished_at=T1)
    cancelled = replace(run, status="cancelled", error_code="cancelled",
                        error_message="cancelled by user:a@acme")  # fmt: skip
    requeued = replace(run, status="queued", error_code="boom", error_message="crashed")
    failed = replace(run, status="failed", error_code="internal_error", error_message="boom")
    events = events_of(tmp_path, ("end", requeued), ("end", cancelled), ("end", failed))
    assert [e["eventType"] for e in events] == ["ABORT", "FAIL"]
    assert [e["run"]["facets"]["errorMessage"]["message"] for e in events] == [
        "cancelled by user:a@acme", "boom"
    ]  # fmt: skip
    assert events_of(tmp_path / "still", ("end", run)) == []  # running: not an end either


def test_it_never_raises_into_the_run_it_records(tmp_path: Path, caplog):
    home = tmp_path / "home"
    (home / "lineage" / "events.jsonl").mkdir(parents=True)  # a folder where the file goes
    emitter = Lineage.from_settings(Settings(home=home))
    run = a_run("ingest", subject="x.xlsx")
    emitter.started(run)  # cannot append: logged and counted
    broken = replace(run, status="published", finished_at=T1, dataset="curve_observation",
                     result={"gates": ["not a gate"]})  # fmt: skip
    emitter.finished(broken)  # cannot even be built
    assert (emitter.written, emitter.errors) == (0, 2)
    assert "could not be appended to the journal" in caplog.text
    assert "could not be built" in caplog.text


def test_the_quarantine_is_an_output_and_the_raw_archive_is_named_when_recorded(
    tmp_path: Path, events_of
):
    run = a_run(
        "ingest", subject="EOD_RP_20250917_1430.xlsx", status="published", vendor="RP",
        dataset="curve_observation", finished_at=T1, snapshot_id=5, version=1,
        partition={"vendor": "RP", "asof_date": "2025-09-17"}, tag="eod/RP/2025-09-17/v1",
        sha256="cd" * 32, result={"rows": 90, "quarantined": 4, "raw_path": "file:///w/x.xlsx"},
    )  # fmt: skip
    (end,) = events_of(tmp_path, ("end", run))
    main, held = end["outputs"]
    assert main["outputFacets"]["outputStatistics"]["rowCount"] == 90
    assert (held["namespace"], held["name"]) == (LAKE, QUARANTINE.name)
    assert held["outputFacets"]["outputStatistics"]["rowCount"] == 4
    assert "version" not in facets_of(held)  # an appended log: no versions
    (source,) = end["inputs"]
    assert facets_of(source)["aurum_file"] == {
        "_producer": PRODUCER,
        "_schemaURL": f"{SCHEMA_BASE}/AurumFileFacet.json#/$defs/AurumFileFacet",
        "sha256": "cd" * 32, "rawArchive": "file:///w/x.xlsx", "vendor": "RP",
    }  # fmt: skip


# -- a real scenario run and real valuations, on a real ingest ------------------------------------

TERMS = {
    "hub": {"vendor": "EUGP", "location": "German"}, "volume": {"type": "baseload", "mw": 10},
    "strike": {"type": "fixed", "price": 80}, "term": {"start": "2026-01", "end": "2026-12"},
}  # fmt: skip


def test_real_scenario_runs_and_valuations_read_the_versions_they_used(
    home, lineage, ingest, journal, tmp_path: Path
):
    from aurum.auth.access import PLATFORM, Access
    from aurum.lineage import dataset_lineage, read_journal
    from aurum.ppa import PpaService
    from aurum.query.curves import Curves
    from aurum.runs import Runs
    from aurum.runs.worker import Worker
    from aurum.scenarios import ScenarioService

    settings, lake, store = home
    day = date(2025, 9, 16)
    _, day_run = ingest(write_workbook(tmp_path / workbook_name("EUGP", day), vendor="EUGP",
                                       asof=day))  # fmt: skip
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
    acme = Access("acme", actor="user:a@acme")
    runs = Runs(store, lineage=lineage)  # the kernel tells lineage of each start and end
    scenarios = ScenarioService(store, lake, runs)
    ppa = PpaService(store, lake, runs, Curves(lake, None), scenarios)

    def ended(run_id: str) -> Run:  # the run as the store keeps it
        with store.transaction(acme, write=False) as tx:
            return tx.get_run(run_id)

    on_base = ended(ppa.valuate(acme, {"terms": TERMS, "discount": {"rate": 0.06}}).run.run_id)
    shock = {"type": "shock", "filter": {"location": "German"}, "mode": "absolute", "value": 3}
    scenario = scenarios.create(acme, name="up", description="", assumptions=[("up", shock)],
                                spec={"base": {"vendors": ["EUGP"]}})  # fmt: skip
    asked = scenarios.request_run(acme, scenario.id)
    assert Worker(runs, lake, {"scenario_run": scenarios.execute}).run_once() is not None
    scenario_run = ended(asked.run.run_id)
    on_scenario = ended(ppa.valuate(acme, {"terms": TERMS, "discount": {"rate": 0.06},
                                           "curves": {"scenario_run": scenario_run.run_id}}
                                    ).run.run_id)  # fmt: skip
    assert {on_base.status, scenario_run.status, on_scenario.status} == {"published"}

    events = journal(settings)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_run.setdefault(event["run"]["facets"]["aurum_run"]["runId"], []).append(event)
    assert {run_id: [e["eventType"] for e in found] for run_id, found in by_run.items()} == {
        run.run_id: ["START", "COMPLETE"] for run in (day_run, on_base, scenario_run, on_scenario)
    }

    def read_and_wrote(run: Run) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        end = by_run[run.run_id][-1]
        return (
            [(i["name"], facets_of(i)["version"]["datasetVersion"]) for i in end["inputs"]],
            [(o["name"], facets_of(o)["aurum_version"]["tag"]) for o in end["outputs"]],
        )

    # the valuation on base curves read them at the snapshot it pinned: the day's publish
    pinned = on_base.params["request"]["curves"]["as_at"]
    assert pinned == str(day_run.snapshot_id)
    assert read_and_wrote(on_base) == (
        [("curve_observation", pinned)], [("ppa_valuation", on_base.tag)]
    )  # fmt: skip
    # the scenario run read the day at its tag; the valuation on it read its output at its tag
    assert read_and_wrote(scenario_run) == (
        [("curve_observation", day_run.tag)], [("scenario_output", scenario_run.tag)]
    )  # fmt: skip
    assert by_run[scenario_run.run_id][0]["inputs"][0]["name"] == "curve_observation"  # START
    rows = by_run[scenario_run.run_id][-1]["outputs"][0]["outputFacets"]["outputStatistics"]
    assert rows["rowCount"] == scenario_run.result["rows"] > 0
    assert read_and_wrote(on_scenario) == (
        [("scenario_output", scenario_run.tag)], [("ppa_valuation", on_scenario.tag)]
    )  # fmt: skip
    # so the scenario's output version leads back to the file the day came from
    found = read_journal(journal_path(settings))
    assert scenario_run.tag is not None and day_run.tag is not None
    output = dataset_lineage(found, scenario_run.tag)
    assert [r.run_id for r in output.written_by] == [scenario_run.run_id]
    assert [r.run_id for r in output.read_by] == [on_scenario.run_id]
    published = dataset_lineage(found, day_run.tag)
    assert [r.run_id for r in published.written_by] == [day_run.run_id]
    assert published.written_by[0].inputs[0].sha256 == day_run.sha256
    assert [r.run_id for r in published.read_by] == [scenario_run.run_id]


def test_an_export_reads_the_day_at_its_snapshot_and_writes_a_file(
    home, lineage, ingest, pw_day, journal, tmp_path: Path, monkeypatch
):
    """`aurum export` and `GET /v1/exports/...` each record an `export` job: the day's curves at
    the snapshot the file was made from, the file, its rows."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from aurum.api.app import create_app
    from aurum.cli.main import app as cli

    settings = home[0]
    _, run = ingest(pw_day)
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    made = CliRunner().invoke(cli, ["export", "--asof", "2025-09-16", "--format", "csv",
                                    "--out", str(tmp_path / "out")])  # fmt: skip
    assert made.exit_code == 0, made.output
    start, end = journal(settings)[-2:]
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    assert end["job"]["name"] == "export" and start["run"]["runId"] == end["run"]["runId"]
    (read,) = end["inputs"]
    assert read["name"] == "curve_observation"
    assert read["facets"]["version"]["datasetVersion"] == str(run.snapshot_id)
    (wrote,) = end["outputs"]
    assert wrote["namespace"] == "file" and wrote["name"].endswith(".csv")
    assert wrote["outputFacets"]["outputStatistics"]["rowCount"] == run.result["rows"]
    with TestClient(create_app(settings)) as client:
        answer = client.get("/v1/exports/curve_observation",
                            params={"asof": "2025-09-16", "format": "parquet"})  # fmt: skip
    assert answer.status_code == 200
    last = journal(settings)[-1]
    assert last["job"]["name"] == "export" and last["outputs"][0]["name"].endswith(".parquet")
    assert last["run"]["facets"]["aurum_run"]["tenantId"] == "default"
