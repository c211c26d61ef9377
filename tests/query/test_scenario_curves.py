"""A scenario run's ``scenario_output`` read as curves: slices with bands, strips, diffs.

The rows are published straight to the lake (no scenario is computed): two curves of run
``RUN`` (PJM West on-peak power, hour-weighted; TTF gas, day-weighted) over Jan–Mar 2026, so
every answer can be checked number by number.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.datasets.scenarios import SCENARIO_OUTPUT
from aurum.domain.strips import StripKind
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.query.curves import COLUMNS, CurveFilter, StripRequest
from aurum.query.scenarios import (
    BAND_FIELDS,
    SCENARIO_COLUMNS,
    ScenarioCurves,
    curve_rows,
    run_rows,
)

RUN, OTHER = "a" * 32, "b" * 32
ASOF = date(2025, 9, 17)
MONTHS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
POWER = {"vendor": "PW", "curve_key": "PW:PJM:WEST:ON_PEAK", "asset_class": "power",
         "iso": "PJM", "location": "West", "block": "ON_PEAK", "product": "energy",
         "currency": "USD", "per_unit": "MWh"}  # fmt: skip
GAS = {"vendor": "EUGP", "curve_key": "EUGP:TTF", "asset_class": "gas", "region": "EU",
       "location": "TTF", "product": "gas", "currency": "EUR", "per_unit": "MWh"}  # fmt: skip
# (base_value, value) per month
PRICES = {
    "PW": ((50.0, 55.5), (48.0, 52.25), (40.0, 44.0)),
    "EUGP": ((30.0, 33.0), (29.0, 31.9), (25.0, 27.5)),
}
PJM_ON_PEAK_HOURS = (336, 320, 352)  # Jan, Feb, Mar 2026 (the domain's doctest)
DAYS = (31, 28, 31)
ACME = Access("acme")


def output_rows(run_id: str, tenant: str, *, bands: bool = True, bump: float = 0.0) -> pa.Table:
    """``scenario_output`` rows of a run: both curves, three months; ``bump`` added to every
    scenario value; bands around the value when ``bands``."""
    rows: list[dict[str, Any]] = []
    for identity in (POWER, GAS):
        for month, (base, value) in zip(MONTHS, PRICES[identity["vendor"]], strict=True):
            value += bump
            rows.append({
                **{c: None for c in SCENARIO_OUTPUT.schema.names}, **identity,
                "tenant_id": tenant, "run_id": run_id, "scenario_id": "sc", "scenario_version": 1,
                "asof_date": ASOF, "base_tag": f"eod/{identity['vendor']}/{ASOF}/v1",
                "tenor_type": "MONTHLY", "tenor_label": f"{month:%Y-%m}", "contract_month": month,
                "tenor_start": month, "tenor_end": month, "base_value": base, "value": value,
                "attribution": '{"gas": 1.0}', "attribution_method": "shapley",
                "code_version": "test", "seed": 7,
                **({"mean": value + 0.5, "p5": value - 4, "p50": value, "p95": value + 6,
                    "band_convention": "non_exceedance", "band_model": "factor"}
                   if bands else {}),
            })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SCENARIO_OUTPUT.schema)


def publish_run(lake: Lake, run_id: str, rows: pa.Table) -> str:
    done = publish(lake, SCENARIO_OUTPUT, {"run_id": run_id}, rows, run_id=run_id,
                   content_sha256=run_id)  # fmt: skip
    assert (done.status, done.tag) == ("published", f"scenario/{run_id}/v1")
    assert done.tag is not None
    return done.tag


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(Settings(home=Path(tmp_path_factory.mktemp("scenario-curves"))))
    publish_run(lake, RUN, output_rows(RUN, "acme"))
    publish_run(lake, OTHER, output_rows(OTHER, "acme", bands=False, bump=1.0))
    return lake


def curves_of(lake: Lake, run_id: str, access: Access = ACME) -> ScenarioCurves:
    rows, snapshot = run_rows(lake, access, run_id, f"scenario/{run_id}/v1")
    return ScenarioCurves.of_run(lake, rows, snapshot, run_id=run_id)


def test_a_run_reads_as_curve_rows_with_its_base_and_bands(lake):
    curves = curves_of(lake, RUN)
    assert curves.columns == SCENARIO_COLUMNS == (*COLUMNS, *BAND_FIELDS)
    page = curves.curves(CurveFilter(access=Access("acme")))
    rows = page.table.to_pylist()
    assert page.snapshot_id == lake.table("scenario_output").metadata.refs[
        f"scenario/{RUN}/v1"].snapshot_id  # fmt: skip
    # ordered by (as-of, vendor, curve, tenor): EUGP before PW
    assert [(r["vendor"], r["tenor_label"]) for r in rows] == [
        ("EUGP", "2026-01"), ("EUGP", "2026-02"), ("EUGP", "2026-03"),
        ("PW", "2026-01"), ("PW", "2026-02"), ("PW", "2026-03"),
    ]  # fmt: skip
    first = rows[3]
    assert first == {
        "asof_date": ASOF, "vendor": "PW", "curve_key": POWER["curve_key"],
        "asset_class": "power", "iso": "PJM", "region": None, "location": "West",
        "market": None, "product": "energy", "block": "ON_PEAK", "spark_location": None,
        "price_type": "MID", "units_raw": None, "currency": "USD", "per_unit": "MWh",
        "tenor_type": "MONTHLY", "tenor_label": "2026-01", "contract_month": MONTHS[0],
        "tenor_start": MONTHS[0], "tenor_end": MONTHS[0], "value": 55.5, "bid": None,
        "ask": None, "mid": 55.5, "version_hash": RUN, "source_file": f"scenario:{RUN}",
        "base_value": 50.0, "mean": 56.0, "p5": 51.5, "p50": 55.5, "p95": 61.5,
        "band_convention": "non_exceedance",
    }  # fmt: skip
    assert [r["value"] for r in rows] == [33.0, 31.9, 27.5, 55.5, 52.25, 44.0]
    assert [r["base_value"] for r in rows] == [30.0, 29.0, 25.0, 50.0, 48.0, 40.0]


def test_a_run_without_an_ensemble_has_null_bands(lake):
    rows = curves_of(lake, OTHER).curves(CurveFilter()).table.to_pylist()
    assert len(rows) == 6
    assert all(r[name] is None for r in rows for name in ("mean", "p5", "p50", "p95",
                                                           "band_convention"))  # fmt: skip
    assert [r["value"] for r in rows] == [34.0, 32.9, 28.5, 56.5, 53.25, 45.0]


def test_filters_and_the_base_asof_select_rows(lake):
    curves = curves_of(lake, RUN)

    def labels(**asked: Any) -> list[tuple[str, str]]:
        rows = curves.curves(CurveFilter(**asked)).table.to_pylist()
        return [(r["vendor"], r["tenor_label"]) for r in rows]

    assert labels(fields={"location": "west"}, month_from=MONTHS[1]) == [
        ("PW", "2026-02"), ("PW", "2026-03")
    ]  # fmt: skip
    assert len(labels(asof="latest")) == len(labels(asof=ASOF)) == 6
    assert len(labels(asof=(date(2025, 9, 1), ASOF))) == 6
    assert labels(asof=date(2025, 9, 16)) == []  # not the run's base as-of: nothing
    assert labels(fields={"vendor": "eugp"}, asof="latest") == [
        ("EUGP", "2026-01"), ("EUGP", "2026-02"), ("EUGP", "2026-03")
    ]  # fmt: skip
    picked = curves.curves(CurveFilter(), columns=("curve_key", "p95"), limit=1)
    assert picked.table.to_pylist() == [{"curve_key": "EUGP:TTF", "p95": 39.0}]
    assert picked.has_more


def test_the_callers_access_scopes_the_rows(lake):
    assert curves_of(lake, RUN, Access("bolt")).curves(CurveFilter()).rows == 0
    entitled = Access("acme", vendors=frozenset({"PW"}))
    rows = curves_of(lake, RUN, entitled).curves(CurveFilter(access=entitled)).table
    assert set(rows["vendor"].to_pylist()) == {"PW"} and rows.num_rows == 3
    assert curves_of(lake, RUN, Access.platform()).curves(CurveFilter()).rows == 6


def test_strips_of_a_run_are_hour_weighted_for_power_and_day_weighted_for_gas(lake):
    page = curves_of(lake, RUN).strips(
        CurveFilter(), StripRequest(kinds=(StripKind.QUARTER, StripKind.CALENDAR))
    )
    found = {(r["vendor"], r["label"]): r for r in page.table.to_pylist()}
    assert set(found) == {("PW", "Q1 2026"), ("PW", "Calendar 2026"), ("EUGP", "Q1 2026"),
                          ("EUGP", "Calendar 2026")}  # fmt: skip
    power = found["PW", "Q1 2026"]
    hours = PJM_ON_PEAK_HOURS
    values = [v for _, v in PRICES["PW"]]
    assert power["weighting"] == "hours" and power["source"] == "derived"
    assert power["value"] == pytest.approx(
        sum(v * h for v, h in zip(values, hours, strict=True)) / sum(hours)
    )  # (55.5*336 + 52.25*320 + 44*352) / 1008
    assert power["value"] == pytest.approx(50856 / 1008)
    assert (power["months_present"], power["months_expected"], power["complete"]) == (3, 3, True)
    gas = found["EUGP", "Q1 2026"]
    assert gas["weighting"] == "days"
    assert gas["value"] == pytest.approx((33.0 * 31 + 31.9 * 28 + 27.5 * 31) / sum(DAYS))
    calendar = found["PW", "Calendar 2026"]
    assert (calendar["months_present"], calendar["months_expected"]) == (3, 12)
    assert calendar["complete"] is False
    assert calendar["value"] == pytest.approx(power["value"])  # the months it has


def test_the_diff_of_a_run_is_its_base_against_its_scenario(lake):
    rows, snapshot = run_rows(lake, Access("acme"), RUN, f"scenario/{RUN}/v1")
    sides = ScenarioCurves.of_diff(
        lake, curve_rows(rows, RUN, value="base_value"), curve_rows(rows, RUN), snapshot
    )
    page = sides.side_diff(CurveFilter(), names=("base", f"scenario {RUN}"))
    got = [(r["vendor"], r["tenor_label"], r["value_from"], r["value_to"], r["change"],
            r["status"]) for r in page.table.to_pylist()]  # fmt: skip
    assert got == [
        ("EUGP", "2026-01", 30.0, 33.0, 3.0, "changed"),
        ("EUGP", "2026-02", 29.0, 31.9, 2.9, "changed"),  # rounded to the values' decimals
        ("EUGP", "2026-03", 25.0, 27.5, 2.5, "changed"),
        ("PW", "2026-01", 50.0, 55.5, 5.5, "changed"),
        ("PW", "2026-02", 48.0, 52.25, 4.25, "changed"),
        ("PW", "2026-03", 40.0, 44.0, 4.0, "changed"),
    ]
    pct = [r["change_pct"] for r in page.table.to_pylist()]
    assert pct == pytest.approx([10.0, 2.9 / 29 * 100, 10.0, 11.0, 4.25 / 48 * 100, 10.0])
    assert page.extra["asof_from"] == "base" and page.extra["asof_to"] == f"scenario {RUN}"
    assert page.extra["curves_added"] == page.extra["curves_removed"] == []
    assert (page.extra["tenors_changed"], page.extra["tenors_total"]) == (6, 6)
    top = sides.side_diff(CurveFilter(), names=("a", "b"), sort="abs_change", top=1)
    assert [(r["vendor"], r["tenor_label"]) for r in top.table.to_pylist()] == [("PW", "2026-01")]


def test_the_diff_of_two_runs_compares_their_scenario_values(lake):
    access = Access("acme")
    mine, _ = run_rows(lake, access, RUN, f"scenario/{RUN}/v1")
    theirs, snapshot = run_rows(lake, access, OTHER, f"scenario/{OTHER}/v1")
    sides = ScenarioCurves.of_diff(lake, curve_rows(mine, RUN), curve_rows(theirs, OTHER),
                                   snapshot)  # fmt: skip
    page = sides.side_diff(CurveFilter(fields={"vendor": "PW"}), names=("A", "B"))
    rows = page.table.to_pylist()
    assert [(r["value_from"], r["value_to"], r["change"]) for r in rows] == [
        (55.5, 56.5, 1.0), (52.25, 53.25, 1.0), (44.0, 45.0, 1.0)
    ]  # fmt: skip
