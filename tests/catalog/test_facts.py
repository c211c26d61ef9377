"""Facts are counted from Iceberg metadata where it can tell (no data read), from the scope's
columns where a file mixes tenants, and remembered until the table changes."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

import aurum.catalog.facts as facts_module
import aurum.catalog.service as service_module
from aurum.auth.access import PLATFORM, Access
from aurum.catalog import Catalog
from aurum.catalog.facts import read_facts, scope_of
from aurum.config import Settings
from aurum.datasets import Column, Dataset
from aurum.lake import Lake

from .conftest import CatalogLake

DESK_LOG = Dataset(
    name="desk_log",
    doc="A desk's log lines (a tenant-owned log defined only by this test).",
    owner="tests",
    columns=(
        Column("tenant_id", pa.string(), "Tenant the line belongs to.", required=True),
        Column("line", pa.string(), "The line."),
    ),
    tenant_owned=True,
)


def lines(*tenants: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"tenant_id": t, "line": f"{t} {i}"} for i, t in enumerate(tenants)], DESK_LOG.schema
    )


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The datasets whose data was read to count them (every other count came from metadata)."""
    read: list[str] = []
    real = facts_module._read_counts

    def spy(scan, dataset):
        read.append(dataset.name)
        return real(scan, dataset)

    monkeypatch.setattr(facts_module, "_read_counts", spy)
    return read


def test_scoped_counts_of_the_ingested_lake_read_no_data(catalog_lake: CatalogLake, reads):
    catalog = Catalog(Lake(catalog_lake.settings))
    found = catalog.entries(Access("bolt", vendors=frozenset({"RP"})))
    bolt = {e.name: e.facts.rows for e in found}
    assert bolt["scenario_output"] == 3 and bolt["curve_observation"] > 0
    assert reads == []


def test_a_file_that_mixes_tenants_is_counted_from_its_column(tmp_path, reads):
    lake = Lake(Settings(home=tmp_path), datasets=[DESK_LOG])
    table = lake.table(DESK_LOG.name)
    table.append(lines("acme", "acme", "acme", "acme"))  # one tenant: bounds say so
    today = date(2025, 10, 1)
    acme = scope_of(DESK_LOG, Access("acme"))
    assert read_facts(lake.current("desk_log"), DESK_LOG, acme, today=today).rows == 4
    assert reads == []
    table.append(lines("acme", "bolt", "bolt", "acme", "bolt"))  # two tenants in one file
    current = lake.current("desk_log")
    assert read_facts(current, DESK_LOG, acme, today=today).rows == 6
    bolt = scope_of(DESK_LOG, Access("bolt"))
    assert read_facts(current, DESK_LOG, bolt, today=today).rows == 3
    assert reads == ["desk_log", "desk_log"]
    everyone = read_facts(current, DESK_LOG, scope_of(DESK_LOG, PLATFORM), today=today)
    assert (everyone.rows, everyone.counted_over, everyone.versions) == (9, (), None)
    assert everyone.snapshots == 3  # the empty start and two appends
    assert read_facts(current, DESK_LOG, acme, today=today).snapshots is None  # every tenant's
    nobody = scope_of(DESK_LOG, Access("carl"))
    assert read_facts(current, DESK_LOG, nobody, today=today).last_published is None


def test_facts_are_remembered_until_the_table_changes(tmp_path, monkeypatch):
    lake = Lake(Settings(home=tmp_path), datasets=[DESK_LOG])
    counted: list[str] = []
    real = service_module.read_facts

    def spy(table, dataset, scope, *, today):
        counted.append(dataset.name)
        return real(table, dataset, scope, today=today)

    monkeypatch.setattr(service_module, "read_facts", spy)
    catalog = Catalog(lake, today=lambda: date(2025, 10, 1))
    acme = Access("acme")
    assert catalog.entry("desk_log", acme).facts.rows == 0
    assert catalog.entry("desk_log", acme).facts.rows == 0
    assert counted == ["desk_log"]
    lake.table(DESK_LOG.name).append(lines("acme", "bolt"))
    assert catalog.entry("desk_log", acme).facts.rows == 1
    assert catalog.entry("desk_log", Access("bolt")).facts.rows == 1  # another scope
    assert counted == ["desk_log"] * 3
