"""ISO-NE SMD hourly data (a load zone's sheet of ``YYYY_smd_hourly.xlsx``, as CSV).

``Hr_End`` is the hour *ending* in Eastern prevailing time, as a zero-padded string: on the
spring day there is no ``02`` (23 hours), on the fall-back day the repeated hour is ``02X``
(25 hours: ``01, 02, 02X, 03 …``). Each row holds the day-ahead and the real-time prices:
``LMP = EC + CC + MLC``. A label missing from a day is a gap (a warning), not an error.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from aurum.feeds.lmp import FeedRows, PayloadError, assemble
from aurum.feeds.read import (
    day_column,
    each,
    epoch,
    occurrences,
    read_csv,
    text_column,
    time_column,
)

SOURCE = "ISO-NE SMD hourly CSV"
ZONE = "America/New_York"
_RUNS = {"DA": ("DA_LMP", "DA_EC", "DA_CC", "DA_MLC"), "RT": ("RT_LMP", "RT_EC", "RT_CC", "RT_MLC")}
_PARTS = ("lmp", "energy", "congestion", "loss")


def labels(hours: int) -> list[str]:
    """The hour-ending labels of a day of ``hours`` hours."""
    plain = [f"{h:02d}" for h in range(1, 25)]
    if hours == 23:
        return [label for label in plain if label != "02"]
    if hours == 25:
        return ["01", "02", "02X", *plain[2:]]
    return plain


def parse(payload: bytes, node: str) -> FeedRows:
    prices = [name for names in _RUNS.values() for name in names]
    grid = read_csv(payload, SOURCE, columns=["Date", "Hr_End", *prices], numbers=prices)
    dates, date_at = grid.distinct("Date")
    ordinals, bad = each(
        dates, date_at, lambda text: date.fromisoformat(text.strip()).toordinal(), 0
    )
    if bad is not None:
        text = dates[date_at[bad]]
        raise PayloadError("time_invalid", f"{grid.where(bad)}: {text!r} is not a date")
    days, day_of = np.unique(np.array(ordinals, dtype=np.int64), return_inverse=True)
    day_at = day_of.reshape(-1)[date_at]
    texts, text_at = grid.distinct("Hr_End")
    names = sorted({text.strip() for text in texts})
    label_at = np.array([names.index(t.strip()) for t in texts], dtype=np.int64)[text_at]
    twice = occurrences(day_at * len(names) + label_at) > 0
    if twice.any():
        row = int(np.argmax(twice))
        day = date.fromordinal(int(days[day_at[row]]))
        raise PayloadError(
            "interval_duplicated", f"{grid.where(row)}: {day} hour {names[label_at[row]]} twice"
        )
    midnights, hours = _days(days)
    places = {n: {label: i for i, label in enumerate(labels(n))} for n in set(hours.tolist())}
    place = np.array(
        [[places[n].get(label, -1) for label in names] for n in hours.tolist()], np.int64
    )
    place_at = place[day_at, label_at] if len(day_at) else day_at
    bad_days = np.unique(day_at[place_at < 0])
    if len(bad_days):
        first = int(bad_days[0])
        unknown = sorted({names[i] for i in label_at[(day_at == first) & (place_at < 0)]})
        day = date.fromordinal(int(days[first]))
        raise PayloadError(
            "hours_invalid",
            f"{SOURCE}: {day} has {hours[first]} hours in {ZONE}, not hours {', '.join(unknown)}",
        )
    warnings = []
    counts = np.bincount(day_at, minlength=len(days))
    for d in np.flatnonzero(counts < hours).tolist():
        present = {names[i] for i in label_at[day_at == d]}
        gaps = [label for label in labels(int(hours[d])) if label not in present]
        day = date.fromordinal(int(days[d]))
        warnings.append(f"gap: {node} {day} has no hour ending {', '.join(gaps)}")
    start_at = midnights[day_at] + place_at * 3600
    rows = np.argsort(start_at, kind="stable")
    start = np.tile(start_at[rows], 2)
    both = np.tile(rows, 2)
    columns: dict[str, pa.Array | str] = {
        "iso": "ISONE",
        "market_run": pa.concat_arrays([pa.repeat(run, len(rows)) for run in _RUNS]),
        "node": node, "node_type": "zone",
        "interval_start_utc": time_column(start), "interval_end_utc": time_column(start + 3600),
        "market_tz": ZONE, "operating_day": day_column(days[day_at[both]]),
        "hour_label": text_column(names, label_at[both]),
        "units": "USD/MWh",
    }  # fmt: skip
    for i, part in enumerate(_PARTS):
        columns[part] = pa.concat_arrays(
            [grid.floats(names_[i]).take(rows) for names_ in _RUNS.values()]
        )
    return FeedRows("lmp", assemble(len(both), columns), warnings)


def _days(ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The UTC start (seconds since 1970) and the number of hours of each day in ZONE."""
    tz = ZoneInfo(ZONE)

    def midnight(ordinal: int) -> int:
        day = date.fromordinal(ordinal)
        return epoch(datetime(day.year, day.month, day.day, tzinfo=tz))

    starts = np.array([midnight(o) for o in ordinals.tolist()], dtype=np.int64)
    ends = np.array([midnight(o + 1) for o in ordinals.tolist()], dtype=np.int64)
    return starts, (ends - starts) // 3600
