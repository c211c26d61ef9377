"""Where did this number come from: the journal of real ingests (published, duplicate, failed)
and a scenario run on one of their versions, asked by run, by dataset, by tag and by file, from
Python and through ``aurum lineage``; bad input is one clear error, a bad line is skipped."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from aurum._version import code_version
from aurum.cli.context import Context
from aurum.cli.lineage import lineage as lineage_command
from aurum.cli.main import _one_line_errors  # how `aurum` wraps every command
from aurum.config import Settings
from aurum.errors import NotFound
from aurum.lineage import (
    DatasetLineage,
    JsonlFile,
    Lineage,
    RunLineage,
    dataset_lineage,
    journal_path,
    lineage_of,
    read_journal,
    run_lineage,
)
from aurum.store import Run
from aurum.synthetic import workbook_name

TAG = "eod/PW/2025-09-16/v1"


@dataclass(frozen=True)
class Story:
    settings: Settings
    file: Path
    published: Run
    duplicate: Run
    failed: Run
    scenario: Run


@pytest.fixture
def story(home, lineage, ingest, pw_day, tmp_path: Path) -> Story:
    """A day published, delivered again (a duplicate), a corrupt file, and a scenario run that
    read the day's version: the ingests' events recorded by the kernel, the hand-made scenario
    run's told to lineage here."""
    settings = home[0]
    _, published = ingest(pw_day)
    _, duplicate = ingest(pw_day)
    bad = tmp_path / workbook_name("PW", date(2025, 9, 18))
    bad.write_bytes(b"PK but not really a zip")
    _, failed = ingest(bad)
    later = (failed.finished_at or datetime.now(UTC)) + timedelta(seconds=1)
    scenario = replace(
        published, run_id=uuid.uuid4().hex, kind="scenario_run", subject="scn1",
        tenant_id="acme", dataset="scenario_output", sha256=None, vendor=None,
        partition=None, params={"base_tags": {"PW": TAG}}, started_at=later, finished_at=later,
        snapshot_id=99, tag="scenario/x/v1", version=1, result={"rows": 12},
    )  # fmt: skip
    lineage.started(replace(scenario, status="running", finished_at=None))
    lineage.finished(scenario)
    assert lineage.errors == 0 and lineage.written == 8
    return Story(settings, pw_day, published, duplicate, failed, scenario)


def test_a_run_by_its_id_its_uuid_or_a_prefix(story: Story):
    journal = read_journal(journal_path(story.settings))
    assert journal.skipped == 0 and len(journal.runs) == 4
    run = story.published
    found = run_lineage(journal, run.run_id)
    assert run_lineage(journal, str(uuid.UUID(hex=run.run_id))) == found
    assert run_lineage(journal, run.run_id[:10].upper()) == found
    assert (found.run_id, found.job, found.state, found.status) == (
        run.run_id, "ingest", "COMPLETE", "published"
    )  # fmt: skip
    assert [kind for kind, _ in found.events] == ["START", "COMPLETE"]
    assert found.code_version == code_version()
    (source,) = found.inputs
    assert (source.name, source.sha256) == (
        story.file.name, hashlib.sha256(story.file.read_bytes()).hexdigest()
    )  # fmt: skip
    (output,) = found.outputs
    assert (output.name, output.tag, output.snapshot_id, output.rows) == (
        "curve_observation", TAG, run.snapshot_id, 344
    )  # fmt: skip
    failed = run_lineage(journal, story.failed.run_id)
    assert (failed.state, failed.error) == ("FAIL", story.failed.error_message)


def test_a_dataset_the_runs_that_wrote_it_newest_first_and_those_that_read_it(story: Story):
    journal = read_journal(journal_path(story.settings))
    found = dataset_lineage(journal, "curve_observation")
    assert [r.run_id for r in found.written_by] == [
        story.duplicate.run_id, story.published.run_id
    ]  # fmt: skip
    assert [r.run_id for r in found.read_by] == [story.scenario.run_id]
    assert found.written_by[1].inputs[0].name == story.file.name
    assert {r.code_version for r in found.written_by} == {code_version()}
    # one version, by its tag: the run that published it, the one that found it already there
    version = dataset_lineage(journal, TAG)
    assert (version.name, version.tag) == ("curve_observation", TAG)
    assert [(r.run_id, r.outputs[0].status) for r in version.written_by] == [
        (story.duplicate.run_id, "duplicate"), (story.published.run_id, "published")
    ]  # fmt: skip
    assert [r.job for r in version.read_by] == ["scenario_run"]
    # a delivered file: the runs that read it
    by_file = dataset_lineage(journal, story.file.name)
    assert (by_file.written_by, len(by_file.read_by)) == ((), 2)
    assert dataset_lineage(journal, "curve_observation", limit=1).written_by[0].run_id == (
        story.duplicate.run_id
    )


def test_what_names_nothing_is_a_clear_error(story: Story, tmp_path: Path):
    path = journal_path(story.settings)
    for target in ("no_such_dataset", "eod/PW/2025-09-16/v9", "0123456789abcdef", uuid.uuid4().hex):
        with pytest.raises(NotFound) as raised:
            lineage_of(path, target)
        assert raised.value.code == "lineage_unknown" and target in raised.value.message
    with pytest.raises(NotFound) as raised:
        lineage_of(tmp_path / "elsewhere" / "events.jsonl", story.published.run_id)
    assert raised.value.code == "lineage_missing"
    assert isinstance(lineage_of(path, story.published.run_id)[1], RunLineage)
    assert isinstance(lineage_of(path, "curve_observation")[1], DatasetLineage)


def test_an_ambiguous_prefix_asks_for_more(tmp_path: Path, story: Story):
    lineage = Lineage.from_settings(story.settings)
    for tail in ("1" * 24, "2" * 24):
        lineage.finished(replace(story.published, run_id=f"deadbeef{tail}"))
    journal = read_journal(journal_path(story.settings))
    with pytest.raises(NotFound) as raised:
        run_lineage(journal, "deadbeef")
    assert raised.value.code == "run_ambiguous"
    assert run_lineage(journal, "deadbeef1").run_id == "deadbeef" + "1" * 24


# -- aurum lineage --------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The command as `aurum` will have it: a Context per invocation, errors as one line."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = Context(ctx.invoked_subcommand)

    app.command("lineage")(_one_line_errors(lineage_command))
    return app


def aurum(settings: Settings, *args: str) -> Any:
    env = {"AURUM_HOME": str(settings.home), "COLUMNS": "80"}
    return CliRunner().invoke(cli(), ["lineage", *args], env=env)


def fits(text: str) -> None:
    """Every line fits 80 columns, but one that is a single path or hash (never cut)."""
    wide = [line for line in text.splitlines() if len(line) > 80 and " " in line.strip()]
    assert not wide, wide


def test_the_command_answers_a_run(story: Story):
    run = story.published
    shown = aurum(story.settings, run.run_id)
    assert shown.exit_code == 0, shown.output
    fits(shown.stdout)
    assert f"run {run.run_id} (ingest): published" in shown.stdout
    assert f"code     {code_version()}" in shown.stdout
    assert "START" in shown.stdout and "COMPLETE" in shown.stdout
    lines = shown.stdout.splitlines()
    assert lines[lines.index(f"wrote    curve_observation {TAG}") + 1] == (
        f"         snapshot {run.snapshot_id}, 344 rows"
    )
    assert lines[lines.index(f"read     {story.file.name} (file)") + 1] == (
        f"         sha256 {run.sha256}"
    )
    as_json = aurum(story.settings, run.run_id[:12], "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert (data["run_id"], data["status"], data["outputs"][0]["tag"]) == (
        run.run_id, "published", TAG
    )  # fmt: skip
    assert data["inputs"][0]["sha256"] == run.sha256
    assert data["outputs"][0]["snapshot_id"] == run.snapshot_id


def test_the_command_answers_a_dataset_and_a_tag(story: Story):
    shown = aurum(story.settings, "curve_observation")
    assert shown.exit_code == 0, shown.output
    fits(shown.stdout)
    lines = shown.stdout.splitlines()
    assert lines[0] == "curve_observation: written by 2 run(s), read by 1, newest first"
    runs = [
        re.match(r"^(wrote|read by) +[-0-9]+ [:0-9]+  run (\w+)  (.+)$", line) for line in lines
    ]
    assert [m.groups() for m in runs if m] == [
        ("wrote", story.duplicate.run_id[:12], "ingest"),
        ("wrote", story.published.run_id[:12], "ingest"),
        ("read by", story.scenario.run_id[:12], "scenario_run: published"),
    ]
    assert f"         snapshot {story.published.snapshot_id}, 344 rows" in lines
    assert f"         snapshot {story.published.snapshot_id}, a duplicate: nothing written" in lines
    assert lines.count(f"code     {code_version()}") == 3
    tagged = aurum(story.settings, TAG, "--json")
    assert tagged.exit_code == 0, tagged.output
    data = json.loads(tagged.stdout)
    assert (data["dataset"], data["tag"]) == ("curve_observation", TAG)
    assert [r["run_id"] for r in data["written_by"]] == [
        story.duplicate.run_id, story.published.run_id
    ]  # fmt: skip
    assert data["read_by"][0]["job"] == "scenario_run"


def test_the_command_says_what_is_wrong_in_one_line(story: Story, tmp_path: Path):
    unknown = aurum(story.settings, "no_such_dataset")
    assert unknown.exit_code == 2
    assert "error lineage_unknown: no run in the lineage journal wrote or read dataset" in (
        unknown.output
    )
    assert "Traceback" not in unknown.output
    empty = aurum(Settings(home=tmp_path / "empty-home"), "curve_observation")
    assert empty.exit_code == 2 and "error lineage_missing: no lineage journal at" in empty.output


def test_the_command_skips_a_corrupt_line_and_says_so(story: Story):
    path = journal_path(story.settings)
    JsonlFile(path).append('{"eventType": "COMPLETE", "run": {"runId": "not-a-uuid"}}')
    shown = aurum(story.settings, story.published.run_id)
    assert shown.exit_code == 0, shown.output
    assert f"run {story.published.run_id} (ingest): published" in shown.stdout
    assert "skipped 1 line(s) of" in shown.stderr and "(line 9)" in shown.stderr
