"""The day-over-day gates as the ingest runs them (issue 12, point 7 and F2): a jump gate quiet
enough to set to ``fail`` on real days that still catches a planted move, samples that name
curves, and degenerate days that do not break it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aurum.config import GateSettings, Settings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain.quality import jump_scores
from aurum.ingest.days import curve_audit, day_pairs, publish_day
from aurum.ingest.pipeline import parse_workbook
from aurum.lake import Lake

TARGET = 0.005  # flagged share of tenor pairs
REAL_PAIRS = (("20250212", "20250218"), ("20250912", "20250917"))
HASH = re.compile(r"\b[0-9a-f]{64}\b")


@cache
def parsed(path: Path) -> pa.Table:
    result = parse_workbook(path)
    assert result.dead_letter is None
    return result.observations


def gate(outcomes, rule: str):
    (found,) = [o for o in outcomes if o.rule == rule]
    return found


def plant(staged: pa.Table, previous: pa.Table, curve: str, label: str) -> tuple[pa.Table, int]:
    """``staged`` with ten typical daily moves (times sqrt of the gap) added to one tenor's
    mid: the planted move of the issue. Returns the table and the tenor's index in the pairs."""
    pairs = day_pairs(staged, previous)
    assert pairs is not None
    (i,) = [i for i, (k, t) in enumerate(zip(pairs.keys, pairs.labels, strict=True))
            if k == curve and t == label]  # fmt: skip
    typical = float(jump_scores(pairs).typical[i])
    assert typical > 0
    move = 10 * typical * math.sqrt(pairs.business_days)
    row = pc.and_(pc.equal(staged["curve_key"], curve), pc.equal(staged["tenor_label"], label))
    mid = pc.if_else(row, pc.add(staged["mid"], move), staged["mid"])
    planted = staged.set_column(staged.schema.get_field_index("mid"), "mid", mid)
    return planted.set_column(planted.schema.get_field_index("value"), "value", mid), i


def one_curve(table: pa.Table, **identity: str | None) -> str:
    mask = pa.array([True] * table.num_rows)
    for field, value in identity.items():
        mask = pc.and_(mask, pc.equal(table[field], value))
    keys = set(table.filter(mask)["curve_key"].to_pylist())
    assert len(keys) == 1, identity
    return keys.pop()


# -- (a) the shared real pairs, published through the real ingest path --------------------------


@pytest.fixture(scope="module")
def real_checks(build_lake, workbooks_dir: Path) -> list[dict]:
    """qa_checks of a lake where both vendors' real pairs were ingested (backfill, as-of order)."""
    days = sorted({day for pair in REAL_PAIRS for day in pair})
    paths = [workbooks_dir / f"EOD_{v}_{d}_1430.xlsx" for v in ("EUGP", "RP") for d in days]
    settings = build_lake("gates-real", paths)
    checks = Lake(settings).table("qa_checks").scan().to_arrow()
    return [c for c in checks.to_pylist() if c["stage"] == "gate"]


@pytest.mark.parametrize("vendor", ["EUGP", "RP"])
@pytest.mark.parametrize(("first", "second"), REAL_PAIRS)
def test_the_jump_gate_flags_at_most_half_a_percent_of_a_real_pair(
    real_checks, vendor, first, second
):
    """It flagged 12.7 % of RP's tenor pairs on 2025-09-12 -> 09-17 (per asset class, z > 10)."""
    asof = date(int(second[:4]), int(second[4:6]), int(second[6:]))
    (jump,) = [c for c in real_checks
               if (c["vendor"], c["asof_date"], c["rule"]) == (vendor, asof, "jump")]  # fmt: skip
    assert jump["checked"] > 10_000
    assert jump["failed"] / jump["checked"] <= TARGET, jump
    assert jump["severity"] == "warn"


def test_real_gate_samples_name_curves_not_hashes(real_checks):
    samples = [key for c in real_checks for key in c["sample_keys"]]
    assert samples  # RP's curve lists change between the days, and some tenors jump
    assert not [key for key in samples if HASH.search(key)]
    jumps = [key for c in real_checks if c["rule"] == "jump" for key in c["sample_keys"]]
    assert jumps and all(re.fullmatch(r".+ @ \S.*", key) for key in jumps), jumps
    new = [key for c in real_checks if c["rule"] == "new_curve" for key in c["sample_keys"]]
    assert "Gulf Coast USGC RBOB" in new  # RP 2025-02-18 adds it


# -- (b) a planted move of ten typical daily moves is caught ---------------------------------------


@pytest.fixture(scope="module")
def eugp_days(synthetic_days) -> tuple[pa.Table, pa.Table]:
    first, second = synthetic_days("EUGP", date(2025, 9, 16), 2)
    return parsed(first), parsed(second)


def test_a_planted_move_is_caught_and_named(eugp_days):
    previous, staged = eugp_days
    assert gate(curve_audit(GateSettings()).check(staged, previous), "jump").failed == 0
    curve = one_curve(staged, location="German", product="power", block="BASE")
    planted, _ = plant(staged, previous, curve, "2026-03")
    jump = gate(curve_audit(GateSettings()).check(planted, previous), "jump")
    assert (jump.failed, jump.sample_keys) == (1, ("German power BASE @ 2026-03",))


def test_with_jump_set_to_fail_a_planted_day_is_held_and_a_normal_one_published(
    eugp_days, tmp_path
):
    previous, staged = eugp_days
    lake = Lake(Settings(home=tmp_path))
    strict = GateSettings(jump="fail")

    def publish(rows: pa.Table, run: str):
        asof = rows["asof_date"][0].as_py()
        return publish_day(lake, rows, vendor="EUGP", asof=asof, sha256=run, run_id=run,
                           gates=strict)  # fmt: skip

    assert publish(previous, "r1").status == "published"
    curve = one_curve(staged, location="French", product="power", block="PEAK")
    planted, _ = plant(staged, previous, curve, "Calendar 2027")
    held = publish(planted, "r2")
    assert (held.status, held.gate_failures) == ("failed", ("jump",))
    assert gate(held.checks, "jump").sample_keys == ("French power PEAK @ Calendar 2027",)
    assert publish(staged, "r3").status == "published"


@pytest.mark.parametrize("vendor", ["EUGP", "RP"])
def test_a_planted_move_on_a_real_pair_is_caught(workbooks_dir, vendor):
    previous, staged = (parsed(workbooks_dir / f"EOD_{vendor}_{d}_1430.xlsx")
                        for d in REAL_PAIRS[1])  # fmt: skip
    before = gate(curve_audit(GateSettings()).check(staged, previous), "jump").failed
    identity = (dict(location="Dutch_TTF", product="gas") if vendor == "EUGP"
                else dict(location="Singapore", product="Singapore Gasoil"))  # fmt: skip
    curve = one_curve(staged, **identity)
    planted, i = plant(staged, previous, curve, "2026-01")
    pairs = day_pairs(planted, previous)
    assert pairs is not None and jump_scores(pairs).z[i] > GateSettings().jump_z
    assert gate(curve_audit(GateSettings()).check(planted, previous), "jump").failed == before + 1


# -- (c) the generator's multi-day lake ----------------------------------------------------------


def test_a_synthetic_multi_day_lake_stays_under_the_target(build_lake, synthetic_days):
    paths = [path for vendor in ("EUGP", "RP", "PW")
             for path in synthetic_days(vendor, date(2025, 9, 1), 4)]  # fmt: skip
    settings = build_lake("gates-synthetic", paths)
    checks = Lake(settings).table("qa_checks").scan().to_arrow().to_pylist()
    jumps = [c for c in checks if c["rule"] == "jump" and c["checked"]]
    assert len(jumps) == 3 * 3  # three vendors, three consecutive pairs each
    assert max(c["failed"] / c["checked"] for c in jumps) <= TARGET


# -- (d) small and degenerate days --------------------------------------------------------------


Rows = list[tuple[str, str, float | None]]  # curve, tenor, mid


def day(asof: date, rows: Rows, **identity: object) -> pa.Table:
    """A day in the contract's schema; each curve's location is its key (upper case)."""
    starts = {"2025-10": date(2025, 10, 1), "2026-10": date(2026, 10, 1)}
    return pa.Table.from_pylist(
        [{"asof_date": asof, "curve_key": curve, "tenor_label": tenor, "mid": mid,
          "tenor_type": "MONTHLY" if tenor in starts else "CUSTOM",
          "tenor_start": starts.get(tenor), "asset_class": "gas", "location": curve.upper(),
          "product": "gas", "currency": "EUR", "per_unit": "MWh", **identity}
         for curve, tenor, mid in rows],
        CURVE_OBSERVATION.schema,
    )  # fmt: skip


D1, D2 = date(2025, 9, 12), date(2025, 9, 15)
Check = Callable[[pa.Table, pa.Table | None], list]


@pytest.mark.parametrize(
    ("before", "after", "failed", "checked"),
    [
        ([("a", "2025-10", 10.0)], [("a", "2025-10", 90.0)], 0, 1),  # one tenor, nothing to judge
        ([("a", "2025-10", 10.0), ("b", "2025-10", 10.0)],
         [("a", "2025-10", 10.0), ("b", "2025-10", 10.0)], 0, 2),  # all stale
        ([("a", t, 10.0) for t in ("2025-10", "2026-10", "Block 1")],
         [("a", "2025-10", None), ("a", "2026-10", 0.0), ("a", "Block 1", 12.0)], 0, 3),
        ([("a", "2025-10", 0.0), ("a", "2026-10", 0.0)],
         [("a", "2025-10", 1.0), ("a", "2026-10", -1.0)], 0, 2),  # a zero previous price
        ([], [("a", "2025-10", 10.0)], 0, 0),  # nothing published before
    ],
)  # fmt: skip
def test_small_and_degenerate_days_are_judged_without_error(before, after, failed, checked):
    check: Check = curve_audit(GateSettings()).check
    previous = day(D1, before) if before else None
    jump = gate(check(day(D2, after), previous), "jump")
    assert (jump.failed, jump.checked) == (failed, checked)


def test_a_curve_without_identity_is_named_by_its_asset_class_or_key():
    rows = [("a", "2025-10", 10.0), ("b", "2025-10", 11.0)]
    blank = dict(location=None, product=None, asset_class=None)
    outcomes = curve_audit(GateSettings()).check(day(D2, rows[:1], **blank),
                                                 day(D1, rows[1:], **blank))  # fmt: skip
    assert gate(outcomes, "curve_disappeared").sample_keys == ("curve [EUR/MWh] #b",)
    assert gate(outcomes, "new_curve").sample_keys == ("curve [EUR/MWh] #a",)


def test_the_gap_between_the_days_is_the_previous_publications_as_of(eugp_days):
    previous, staged = eugp_days
    pairs = day_pairs(staged, previous)
    assert pairs is not None and pairs.business_days == 1
    column = staged.schema.get_field_index("asof_date")
    later = staged.set_column(column, "asof_date", pa.array([date(2025, 9, 22)] * staged.num_rows))
    moved = day_pairs(later, previous)
    assert moved is not None and moved.business_days == 4
    # the same changes over four days: the same z, half the typical daily move
    daily, slower = jump_scores(pairs), jump_scores(replace(moved, change=pairs.change))
    assert slower.z.tolist() == pytest.approx(daily.z.tolist())
    assert (2 * slower.typical).tolist() == pytest.approx(daily.typical.tolist())
