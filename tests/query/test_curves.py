"""Query services: slices, strips, latest, diffs; the serving replica against Iceberg itself."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from datetime import date
from itertools import product
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.domain import calendar, strips
from aurum.errors import QueryError
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.query.curves import COLUMNS, CurveFilter, Curves, StripRequest
from aurum.query.filters import IDENTITY
from aurum.query.replica import Replicas
from aurum.store import Store

REAL_DAYS = ("20250912", "20250917")
BOOL = (False, True)


def services(settings: Settings) -> Curves:
    lake = Lake(settings)
    return Curves(lake, Replicas(lake, settings.home / "serving"))


def sorted_rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: (str(r["curve_key"]), str(r["tenor_label"])))


@pytest.fixture(scope="module")
def real(build_lake, workbooks_dir: Path) -> Curves:
    paths = sorted(workbooks_dir.glob("EOD_*.xlsx"))
    return services(build_lake("real", paths))


@pytest.fixture(scope="module")
def pw(build_lake, synthetic_days) -> Curves:
    return services(build_lake("pw", synthetic_days("PW", date(2025, 9, 1), 3)))


def test_replica_and_iceberg_scan_give_the_same_rows(real: Curves):
    where = CurveFilter(fields={"vendor": "EUGP", "location": "german"}, asof=date(2025, 9, 17))
    served = real.curves(where, limit=100_000)
    snapshot = served.snapshot_id
    assert real.replicas.has(snapshot)
    direct = Curves(real.lake, None).curves(where, as_at=snapshot, limit=100_000)
    assert served.table.num_rows == direct.table.num_rows > 0
    assert served.table.to_pylist() == direct.table.to_pylist()


def test_every_published_row_is_in_the_replica(real: Curves, expected):
    page = real.asof_dates()
    assert sum(page.table["rows"].to_pylist()) == sum(
        int(row["canonical_rows"]) for row in expected
    )


def test_derived_simple_strips_match_the_vendors_strips_on_every_real_file(real: Curves):
    """Format spec and calendar review: the vendors' Calendar/Summer/Winter strips are simple
    means of the months they price, the as-of month included for a started period. Derived
    simple strips that keep the as-of month reproduce them; ``source=both`` answers both."""
    request = StripRequest(
        convention="us", weighting="simple", source="both", include_current_month=True
    )
    checked = balances = 0
    for vendor in ("EUGP", "RP"):
        for day in real.asof_dates(vendor).table["asof_date"].to_pylist():
            rows = real.strips(
                CurveFilter(fields={"vendor": vendor}, asof=day), request, limit=1_000_000
            ).table.to_pylist()
            ours = {
                (r["curve_key"], r["label"].removeprefix("Bal ").replace("Cal ", "Calendar ")): r
                for r in rows
                if r["source"] == "derived"
            }
            for row in rows:
                if row["source"] != "vendor" or row["kind"] not in ("calendar", "season"):
                    continue
                if row["value"] is None:
                    continue
                derived = ours.get((row["curve_key"], row["label"]))
                assert derived is not None, (vendor, day, row["label"])
                assert derived["weighting"] == row["weighting"] == "simple"
                assert abs(derived["value"] - row["value"]) <= 0.0005 + 1e-9, (vendor, day, row)
                assert (derived["currency"], derived["per_unit"]) == (
                    row["currency"], row["per_unit"],
                )  # fmt: skip
                balances += derived["label"].startswith("Bal ")
                checked += 1
    assert checked > 20_000 and balances > 300


def test_a_started_period_is_a_balance_strip_never_a_complete_calendar(real: Curves):
    """As-of 2025-09-17: Calendar 2025 is Bal Cal 2025 (Oct-Dec); Q3 2025 has nothing left;
    with the rest of September it is weighted by the block hours after the as-of day."""
    where = CurveFilter(
        fields={"vendor": "EUGP", "location": "German", "product": "power", "block": "PEAK"},
        asof=date(2025, 9, 17),
    )
    rows = real.strips(where, limit=10_000).table.to_pylist()
    labels = {r["label"] for r in rows}
    assert "Bal Cal 2025" in labels and "Calendar 2025" not in labels
    assert not {"Q3 2025", "Bal Q3 2025"} & labels
    bal = next(r for r in rows if r["label"] == "Bal Cal 2025")
    assert (bal["start_month"], bal["first_day"], bal["months_expected"]) == (
        date(2025, 10, 1), date(2025, 10, 1), 3,
    )  # fmt: skip
    assert (bal["currency"], bal["per_unit"], bal["source"]) == ("EUR", "MWh", "derived")
    months = {
        r["contract_month"]: r["mid"]
        for r in real.curves(
            replace(where, tenor_types=("MONTHLY",)), columns=("contract_month", "mid")
        ).table.to_pylist()
    }
    hours = [calendar.block_hours("DE", "PEAK", 2025, m) for m in (10, 11, 12)]
    expected = sum(
        months[date(2025, m, 1)] * h for m, h in zip((10, 11, 12), hours, strict=True)
    ) / sum(hours)
    assert bal["value"] == pytest.approx(expected, rel=1e-12)
    with_rest = real.strips(where, StripRequest(include_current_month=True), limit=10_000)
    bal = next(r for r in with_rest.table.to_pylist() if r["label"] == "Bal Cal 2025")
    assert (bal["start_month"], bal["first_day"], bal["months_expected"]) == (
        date(2025, 9, 1), date(2025, 9, 18), 4,
    )  # fmt: skip
    rest = calendar.block_hours_between("DE", "PEAK", date(2025, 9, 18), date(2025, 9, 30))
    assert rest == 108  # the calendar review's remaining-hour weight
    weighted = months[date(2025, 9, 1)] * rest + expected * sum(hours)
    assert bal["value"] == pytest.approx(weighted / (rest + sum(hours)), rel=1e-12)
    # the calendar review's figure: 113.774 EUR/MWh with the remaining hours of September
    assert round(bal["value"], 3) == 113.774


def test_custom_returns_only_what_was_asked_and_starts_on_its_day(real: Curves):
    where = CurveFilter(
        fields={"vendor": "EUGP", "location": "French", "product": "power", "block": "PEAK"},
        asof=date(2025, 9, 17),
    )
    asked = StripRequest(kinds=(), custom=((date(2026, 1, 1), date(2026, 3, 1)),
                                           (date(2026, 1, 15), date(2026, 3, 1))))  # fmt: skip
    rows = real.strips(where, asked, limit=10_000).table.to_pylist()
    assert {r["label"] for r in rows} == {"2026-01..2026-03", "2026-01-15..2026-03"}
    whole, late = sorted(rows, key=lambda r: r["first_day"])
    assert round(whole["value"], 6) == round(95.90637751513499, 6)  # first-use review, Q2
    assert late["first_day"] == date(2026, 1, 15) and late["value"] != whole["value"]
    months = {
        r["contract_month"]: r["mid"]
        for r in real.curves(
            replace(where, tenor_types=("MONTHLY",)), columns=("contract_month", "mid")
        ).table.to_pylist()
    }
    jan = calendar.block_hours_between("FR", "PEAK", date(2026, 1, 15), date(2026, 1, 31))
    feb, mar = (calendar.block_hours("FR", "PEAK", 2026, m) for m in (2, 3))
    value = sum(months[date(2026, m, 1)] * h for m, h in ((1, jan), (2, feb), (3, mar)))
    assert late["value"] == pytest.approx(value / (jan + feb + mar), rel=1e-12)


def domain_strips(
    curves: Curves, vendor: str, day: date, include_current_month: bool = False
) -> dict[tuple, strips.StripPrice]:
    """Every strip of every curve of ``vendor`` at ``day``, priced by the domain's arithmetic
    from the curve's monthly rows."""
    monthly = curves.curves(
        CurveFilter(fields={"vendor": vendor}, asof=day, tenor_types=("MONTHLY",)),
        columns=("curve_key", *IDENTITY, "contract_month", "mid"),
        limit=1_000_000,
    ).table.to_pylist()
    by_curve: dict[str, tuple[dict, dict]] = {}
    for row in monthly:
        if row["mid"] is not None:
            identity = {k: row[k] for k in IDENTITY}
            by_curve.setdefault(row["curve_key"], (identity, {}))[1][row["contract_month"]] = row[
                "mid"
            ]
    priced = {}
    for key, (identity, mids) in by_curve.items():
        weighting = strips.weighting_for(identity)
        market = calendar.market_for(identity)
        if weighting == "hours" and (market is None or not identity["block"]):
            weighting = "simple"
        convention = strips.season_convention(identity)
        kinds = ("calendar", "quarter", "season")
        for whole in strips.strips_between(min(mids), max(mids), kinds, convention):
            strip = strips.balance(whole, day, include_current_month=include_current_month)
            if strip is None:
                continue
            got = strips.price_strip(
                strip, day, mids, weighting,
                market=market.code if market else None, block=identity["block"],
            )  # fmt: skip
            if got is not None:
                priced[key, str(strip.kind), strip.label] = got
    return priced


def test_sql_strips_equal_the_domain_arithmetic_on_every_real_file(real: Curves):
    checked = 0
    weightings = set()
    for vendor in ("EUGP", "RP"):
        for day, rest in product(real.asof_dates(vendor).table["asof_date"].to_pylist(), BOOL):
            expected = domain_strips(real, vendor, day, include_current_month=rest)
            derived = real.strips(
                CurveFilter(fields={"vendor": vendor}, asof=day),
                StripRequest(include_current_month=rest),
                limit=1_000_000,
            ).table.to_pylist()
            assert {(r["curve_key"], r["kind"], r["label"]) for r in derived} == set(expected)
            for row in derived:
                want = expected[row["curve_key"], row["kind"], row["label"]]
                assert row["value"] == pytest.approx(want.value, rel=1e-9, abs=0), row
                assert row["weighting"] == want.weighting
                assert (row["months_present"], row["months_expected"], row["complete"]) == (
                    want.months_present, want.months_expected, want.complete,
                )  # fmt: skip
                assert (row["start_month"], row["first_day"]) == (
                    want.strip.start, want.strip.first_day or want.strip.start,
                )  # fmt: skip
                weightings.add(row["weighting"])
                checked += 1
    assert weightings == {"hours", "days", "simple"}
    assert checked > 20_000


def test_power_strips_are_hour_weighted_by_the_markets_block_hours(pw: Curves):
    where = CurveFilter(fields={"vendor": "PW", "iso": "PJM", "block": "ON_PEAK"}, asof="latest")
    strips = pw.strips(where, limit=10_000).table.to_pylist()
    quarter = next(s for s in strips if s["kind"] == "quarter" and s["months_present"] == 3)
    assert quarter["weighting"] == "hours"
    months = pw.curves(
        CurveFilter(
            curve_keys=(quarter["curve_key"],), asof=quarter["asof_date"],
            tenor_types=("MONTHLY",), month_from=quarter["start_month"],
            month_to=quarter["end_month"],
        ),
        limit=100,
    ).table.to_pylist()  # fmt: skip
    hours = [
        calendar.block_hours("PJM", "ON_PEAK", m["contract_month"].year, m["contract_month"].month)
        for m in months
    ]
    weighted = sum(m["mid"] * h for m, h in zip(months, hours, strict=True)) / sum(hours)
    assert quarter["value"] == pytest.approx(weighted, abs=1e-9)
    assert quarter["value"] != pytest.approx(sum(m["mid"] for m in months) / 3, abs=1e-6)
    assert quarter["complete"] and quarter["months_expected"] == 3


def test_strips_say_how_many_months_they_lack(pw: Curves):
    day = pw.asof_dates("PW").table["asof_date"].to_pylist()[-1]
    strips = pw.strips(
        CurveFilter(fields={"vendor": "PW"}, asof=day),
        StripRequest(kinds=(), custom=((date(2020, 1, 1), date(2039, 12, 1)),)),
        limit=10_000,
    ).table.to_pylist()
    assert strips and all(s["kind"] == "custom" and not s["complete"] for s in strips)
    assert all(s["months_present"] < s["months_expected"] for s in strips)


def test_latest_takes_each_tenors_last_good_value(pw: Curves):
    days = pw.asof_dates("PW").table["asof_date"].to_pylist()
    latest = pw.latest(CurveFilter(fields={"vendor": "PW"}), limit=100_000).table
    assert set(latest["asof_date"].to_pylist()) == {days[-1]}
    assert pc.min(latest["age_days"]).as_py() == 0
    older = pw.latest(CurveFilter(fields={"vendor": "PW"}), on=days[0], limit=100_000).table
    assert set(older["asof_date"].to_pylist()) == {days[0]}


def test_diff_reports_changes_and_whole_curves_added_or_removed(pw: Curves):
    first, *_, last = pw.asof_dates("PW").table["asof_date"].to_pylist()
    page = pw.diff(CurveFilter(fields={"vendor": "PW"}), first, last, limit=100_000)
    rows = page.table.to_pylist()
    assert page.extra["tenors_total"] == len(rows)
    changed = [r for r in rows if r["status"] == "changed"]
    assert changed and page.extra["tenors_changed"] == len(changed)
    row = changed[0]
    assert row["change"] == pytest.approx(row["value_to"] - row["value_from"])
    assert row["change_pct"] == pytest.approx(row["change"] / abs(row["value_from"]) * 100)
    assert page.extra["curves_added"] == page.extra["curves_removed"] == []
    with pytest.raises(QueryError) as same:
        pw.diff(CurveFilter(), first, first)
    assert same.value.code == "filters_contradictory"


def test_metadata_search_and_coverage(real: Curves):
    found = real.metadata_curves(CurveFilter(), search="german base").table.to_pylist()
    assert {r["location"] for r in found} >= {"German"}
    german = next(r for r in found if r["location"] == "German" and r["product"] == "power")
    assert german["first_asof"] == date(2025, 2, 12) and german["last_asof"] == date(2025, 9, 17)
    assert german["asof_count"] == 5 and "MONTHLY" in german["tenor_types"]


@pytest.mark.parametrize(
    "hostile",
    ["' OR '1'='1", "x'; DROP TABLE curve_observation; --", "%", "_", "\\", "\x00", "é" * 50],
)
def test_filter_values_are_parameters_never_sql(real: Curves, hostile: str):
    for field in ("vendor", "location", "product", "block", "iso"):
        page = real.curves(CurveFilter(fields={field: hostile}), limit=10)
        assert page.table.num_rows == 0
    found = real.metadata_curves(CurveFilter(), search=hostile).table.to_pylist()
    for row in found:  # a wildcard character is searched for literally ("0.5%", "Dutch_TTF")
        text = "|".join(str(v) for k, v in row.items() if isinstance(v, str)).casefold()
        assert hostile.casefold() in text
    with pytest.raises(QueryError) as unknown:
        real.curves(CurveFilter(curve_keys=(hostile,)))
    assert unknown.value.code == "curve_unknown"
    assert real.curves(CurveFilter(), limit=1).table.num_rows == 1  # the table is still there


@pytest.mark.parametrize(
    ("where", "code"),
    [
        (lambda: CurveFilter(month_from=date(2026, 2, 1), month_to=date(2026, 1, 1)),
         "filters_contradictory"),
        (lambda: CurveFilter(asof=(date(2025, 9, 17), date(2025, 9, 1))), "filters_contradictory"),
        (lambda: CurveFilter(fields={"colour": "red"}), "parameter_unknown"),
    ],
)  # fmt: skip
def test_contradictory_or_unknown_filters_are_refused(where, code):
    with pytest.raises(QueryError) as refused:
        where()
    assert refused.value.code == code


def test_unknown_fields_are_refused(real: Curves):
    with pytest.raises(QueryError) as refused:
        real.curves(CurveFilter(), columns=("value", "secret"))
    assert refused.value.code == "fields_unknown"
    assert set(COLUMNS) >= {"value", "bid", "ask", "curve_key"}


def test_a_publish_builds_the_next_replica_from_the_changed_day_only(build_lake, synthetic_days):
    first, second = synthetic_days("EUGP", date(2025, 10, 1), 2)
    settings = build_lake("incremental", [first])
    curves = services(settings)
    before = curves.pin()
    assert curves.replicas.has(before)
    with Store.open(settings.store_url) as store:
        report = ingest_file(second, lake=curves.lake, store=store, settings=settings)
    assert report.status == "published"
    built = curves.refresh()
    assert built is not None and built.partitions_changed == 1 and built.partitions_total == 2
    after = curves.pin()
    rows = curves.curves(CurveFilter(), limit=1_000_000).table
    direct = Curves(curves.lake, None)
    assert sorted_rows(rows) == sorted_rows(
        direct.curves(CurveFilter(), as_at=after, limit=1_000_000).table
    )
    # the old snapshot is still readable, and only has the first day
    old = curves.asof_dates(snapshot_id=before).table["asof_date"].to_pylist()
    assert old == [date(2025, 10, 1)]
    assert math.isfinite(built.seconds)


def served(settings: Settings) -> Curves:
    lake = Lake(settings)
    return Curves(lake, Replicas(lake, settings.home / "serving", slice_columns=COLUMNS))


def every_slice(curves: Curves) -> list[tuple[str, date, str]]:
    rows = curves.curves(CurveFilter(), columns=("vendor", "asof_date", "curve_key"),
                         limit=10_000_000).table.to_pylist()  # fmt: skip
    return sorted({(r["vendor"], r["asof_date"], r["curve_key"]) for r in rows})


def assert_slices_equal_the_query(curves: Curves) -> int:
    """Every served slice is byte for byte the JSON the API makes from the query's rows, asked
    with its vendor and by curve key alone."""
    import orjson

    checked = 0
    for vendor, day, key in every_slice(curves):
        for fields in ({"vendor": vendor.lower()}, {}):
            where = CurveFilter(fields=fields, curve_keys=(key,), asof=day)
            fast = curves.slice(where)
            slow = curves.curves(where)
            assert fast is not None, (vendor, day, key, fields)
            assert fast.rows == slow.rows > 0
            assert fast.snapshot_id == slow.snapshot_id
            assert fast.json == orjson.dumps(slow.table.to_pylist()), (vendor, day, key)
            checked += 1
    return checked


def test_served_slices_are_the_querys_rows_byte_for_byte(build_lake, synthetic_days):
    paths = [*synthetic_days("PW", date(2025, 9, 1), 2), *synthetic_days("RP", date(2025, 9, 1), 1)]
    curves = served(build_lake("slices", paths))
    assert assert_slices_equal_the_query(curves) > 200
    vendor, day, key = every_slice(curves)[0]
    where = CurveFilter(fields={"vendor": vendor}, curve_keys=(key,), asof=day)
    # anything but the whole slice of every column is for the query
    for other in (
        {"columns": ("curve_key", "mid")},
        {"offset": 1},
        {"limit": 1},
        {"where": replace(where, tenor_types=("MONTHLY",))},
        {"where": replace(where, asof=(day, day))},
        {"where": replace(where, fields={"vendor": vendor, "block": "peak"})},
        {"where": replace(where, fields={"vendor": "RP" if vendor != "RP" else "PW"})},
    ):
        options = {"where": where, **other}
        assert curves.slice(**options) is None, other
    stranger = Access("t", vendors=frozenset({"NOPE"}))
    for fields in ({"vendor": vendor}, {}):  # not entitled to the vendor: not served, unknown
        assert curves.slice(replace(where, fields=fields, access=stranger)) is None
        with pytest.raises(QueryError, match="no curve"):
            curves.curves(replace(where, fields=fields, access=stranger))


def test_a_curve_two_vendors_quote_is_served_by_its_key_alone(build_lake, synthetic_days):
    """Vendors can quote the same curve (the key is the identity, vendor aside): asked by key
    alone, the answer is every visible vendor's rows in the query's order."""
    import orjson

    from aurum.config import GateSettings
    from aurum.ingest.days import publish_day

    settings = build_lake("two-vendors", synthetic_days("PW", date(2025, 9, 1), 1))
    curves = served(settings)
    day = date(2025, 9, 1)
    rows = curves.lake.table("curve_observation").scan().to_arrow()
    twin = rows.set_column(rows.schema.get_field_index("vendor"), "vendor",
                           pa.array(["PX"] * rows.num_rows))  # fmt: skip
    publish_day(curves.lake, twin, vendor="PX", asof=day, sha256="0" * 64, run_id="twin",
                gates=GateSettings())  # fmt: skip
    curves.refresh()
    key = rows["curve_key"][0].as_py()
    where = CurveFilter(curve_keys=(key,), asof=day)
    both = curves.slice(where)
    assert both is not None
    assert both.json == orjson.dumps(curves.curves(where).table.to_pylist())
    assert [r["vendor"] for r in orjson.loads(both.json)][:: both.rows // 2] == ["PW", "PX"]
    only_px = curves.slice(replace(where, access=Access("t", vendors=frozenset({"PX"}))))
    assert only_px is not None and only_px.rows == both.rows // 2
    assert {r["vendor"] for r in orjson.loads(only_px.json)} == {"PX"}


def test_slices_follow_publishes_incrementally_and_come_to_older_replicas(
    build_lake, synthetic_days
):
    first, second = synthetic_days("EUGP", date(2025, 10, 1), 2)
    settings = build_lake("slices-incremental", [first])
    plain = services(settings)
    plain.pin()  # a replica built without slices (as before they existed)
    before = plain.pin()
    curves = served(settings)
    assert curves.replicas.served is not None
    assert not curves.replicas.served.path(before).exists()
    curves.refresh()  # adds the slices of the existing replica
    assert curves.replicas.served.path(before).exists()
    with Store.connect(settings) as store:
        assert ingest_file(second, lake=curves.lake, store=store, settings=settings).status == (
            "published"
        )
    assert curves.refresh().partitions_changed == 1
    assert assert_slices_equal_the_query(curves) > 0
    assert {day for _, day, _ in every_slice(curves)} == {date(2025, 10, 1), date(2025, 10, 2)}


def test_what_moved_most_by_size_percent_or_z_within_the_family(real: Curves):
    """First-use review, Q1 and Q3: German BASE Cal-26 moved 86.433 -> 87.209 = +0.776 (not
    0.7759999999999962); the biggest movers come sorted, overall or per asset class."""
    first, second = date(2025, 9, 12), date(2025, 9, 17)
    cal26 = real.diff(
        CurveFilter(
            fields={"vendor": "EUGP", "location": "German", "product": "power", "block": "BASE"},
            tenor_types=("CALENDAR",),
        ),
        first, second,
    ).table.to_pylist()  # fmt: skip
    row = next(r for r in cal26 if r["tenor_label"] == "Calendar 2026")
    assert (row["value_from"], row["value_to"], row["change"]) == (86.433, 87.209, 0.776)
    assert (row["currency"], row["per_unit"]) == ("EUR", "MWh")
    everything = real.diff(CurveFilter(fields={"vendor": "RP"}), first, second, limit=100_000)
    all_rows = everything.table.to_pylist()
    by_size = real.diff(
        CurveFilter(fields={"vendor": "RP"}), first, second, sort="abs_change", top=10
    ).table.to_pylist()
    sizes = sorted((abs(r["change"]) for r in all_rows if r["change"] is not None), reverse=True)
    assert [abs(r["change"]) for r in by_size] == sizes[:10]
    by_z = real.diff(
        CurveFilter(fields={"vendor": "RP"}), first, second, sort="z", top=5, per="asset_class"
    ).table.to_pylist()
    classes = {r["asset_class"] for r in all_rows}
    assert {r["asset_class"] for r in by_z} == classes
    for asset_class in classes:
        zs = [abs(r["z"]) for r in by_z if r["asset_class"] == asset_class]
        mine = [abs(r["z"]) for r in all_rows if r["asset_class"] == asset_class and r["z"]]
        assert zs == sorted(mine, reverse=True)[: len(zs)] and len(zs) <= 5
    # z is the robust z-score of the change within its curve family
    family = next(r for r in all_rows if r["curve_key"] == by_z[0]["curve_key"])
    members = [
        r["change"] for r in all_rows
        if r["change"] is not None and (r["asset_class"], r["product"], r["currency"],
                                        r["per_unit"]) == (family["asset_class"],
                                        family["product"], family["currency"], family["per_unit"])
    ]  # fmt: skip
    median = statistics.median(members)
    mad = statistics.median(abs(c - median) for c in members)
    assert by_z[0]["z"] == pytest.approx((by_z[0]["change"] - median) / (1.4826 * mad))


def test_diff_ordering_parameters_must_agree(real: Curves):
    where = CurveFilter(fields={"vendor": "RP"})
    with pytest.raises(QueryError, match="top needs sort"):
        real.diff(where, date(2025, 9, 12), date(2025, 9, 17), top=3)
    with pytest.raises(QueryError, match="per needs top"):
        real.diff(where, date(2025, 9, 12), date(2025, 9, 17), sort="z", per="asset_class")
    # the days are checked first: a request wrong in both is told about its days
    same = date(2025, 9, 17)
    with pytest.raises(QueryError, match="two different as-of dates"):
        real.diff(where, same, same, top=3)
    with pytest.raises(QueryError, match="not asof"):
        real.diff(CurveFilter(fields={"vendor": "RP"}, asof=same), same, same, top=3)
    with pytest.raises(QueryError, match="two different as-of dates"):
        real.diff_heatmap(where, same, same)


def test_a_remainder_with_no_hours_in_the_block_is_neither_priced_nor_expected(
    build_lake, synthetic_days
):
    """As-of Friday 2025-05-30: the rest of May is one Saturday, so a peak strip that keeps
    the rest of the month has nothing of May to price and is complete without it; the SQL
    path says so exactly as the domain's arithmetic does."""
    friday = services(build_lake("friday", synthetic_days("EUGP", date(2025, 5, 30), 1)))
    day = date(2025, 5, 30)
    request = StripRequest(include_current_month=True)
    rows = friday.strips(
        CurveFilter(fields={"vendor": "EUGP"}, asof=day), request, limit=1_000_000
    ).table.to_pylist()
    expected = domain_strips(friday, "EUGP", day, include_current_month=True)
    assert {(r["curve_key"], r["kind"], r["label"]) for r in rows} == set(expected)
    for row in rows:
        want = expected[row["curve_key"], row["kind"], row["label"]]
        assert row["value"] == pytest.approx(want.value, rel=1e-9, abs=0)
        assert (row["months_present"], row["months_expected"], row["complete"]) == (
            want.months_present, want.months_expected, want.complete,
        )  # fmt: skip
    peak = next(
        r for r in rows
        if r["label"] == "Bal Cal 2025" and (r["location"], r["product"], r["block"])
        == ("German", "power", "PEAK")
    )  # fmt: skip
    assert (peak["first_day"], peak["months_present"], peak["months_expected"]) == (
        date(2025, 5, 31), 7, 7,
    )  # fmt: skip
    assert peak["complete"]
