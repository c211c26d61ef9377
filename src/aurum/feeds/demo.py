"""Synthetic feed payloads for the demo, written in the sources' real formats (so Aurum's own
parsers read them like the recorded files): PJM Data Miner 2 day-ahead hub LMPs for a month, and
ECB reference rates (the history CSV layout) for the TARGET business days of a range.

The numbers are made up — seeded, with a daily shape, weekends cheaper, and each hub's LMP equal
to the system energy price plus its congestion and loss, rounded as PJM rounds them — and the
file names say ``synthetic``. Nothing here is a real price or a real rate.

>>> text = pjm_day_ahead(date(2025, 9, 1), 1).decode()
>>> text.splitlines()[1].split(",")[:4]
['9/1/2025 4:00:00 AM', '9/1/2025 12:00:00 AM', '51288', 'WESTERN HUB']
>>> ecb_history(date(2025, 9, 1), date(2025, 9, 2)).decode().splitlines()[0]
'Date,USD,JPY,GBP,CHF,'
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aurum.domain.schedule import calendar_holidays

__all__ = ["HUBS", "ecb_history", "pjm_day_ahead", "write_demo_feeds"]

HUBS = {"WESTERN HUB": 51288, "EASTERN HUB": 51217, "DOMINION HUB": 35010337}
_EPT = ZoneInfo("America/New_York")
_HEADER = (
    "datetime_beginning_utc,datetime_beginning_ept,pnode_id,pnode_name,voltage,equipment,type,"
    "zone,system_energy_price_da,total_lmp_da,congestion_price_da,marginal_loss_price_da,"
    "row_is_current,version_nbr"
)
# Rough levels of the euro reference rates in 2025 (a start for the random walk).
_RATES = {"USD": 1.17, "JPY": 172.5, "GBP": 0.866, "CHF": 0.935}


def _stamp(moment: datetime) -> str:
    """PJM's ``M/D/YYYY h:mm:ss AM`` (no zero padding, 12-hour clock)."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:00 {half}"


def pjm_day_ahead(first: date, days: int, seed: int = 0) -> bytes:
    """PJM ``da_hrl_lmps`` CSV (CRLF, as Data Miner exports it) for ``days`` EPT days."""
    rng = random.Random(f"pjm-da-{seed}")
    lines = [_HEADER]
    start = datetime(first.year, first.month, first.day, tzinfo=_EPT).astimezone(UTC)
    end_day = first + timedelta(days=days)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=_EPT).astimezone(UTC)
    level = 38.0 + rng.uniform(-4, 4)
    at = start
    while at < end:
        local = at.astimezone(_EPT)
        if local.hour == 0:
            level += rng.gauss(0, 1.5)
        shape = 1.0 + 0.35 * math.sin((local.hour - 7) / 24 * 2 * math.pi)
        weekend = 0.85 if local.weekday() >= 5 else 1.0
        energy = round(max(5.0, level * shape * weekend + rng.gauss(0, 2.0)), 2)
        for node, pnode in HUBS.items():
            congestion = round(rng.gauss(0.5, 3.0) if node != "WESTERN HUB" else rng.gauss(-0.5,
                               1.5), 6)  # fmt: skip
            loss = round(rng.gauss(0.2, 0.4), 6)
            total = round(energy + congestion + loss, 6)
            lines.append(
                f"{_stamp(at.replace(tzinfo=None))},{_stamp(local.replace(tzinfo=None))},{pnode},"
                f"{node},,,HUB,,{energy:.2f},{total:.6f},{congestion:.6f},{loss:.6f},True,1"
            )
        at += timedelta(hours=1)
    return ("\r\n".join(lines) + "\r\n").encode()


def ecb_history(first: date, last: date, seed: int = 0) -> bytes:
    """The ECB's ``eurofxref-hist.csv`` layout (newest day first, a trailing comma) for the
    TARGET business days from ``first`` to ``last``."""
    rng = random.Random(f"ecb-{seed}")
    rates = dict(_RATES)
    rows = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in calendar_holidays("target", day.year):
            for currency in rates:
                rates[currency] *= math.exp(rng.gauss(0, 0.003))
            digits = {"JPY": 2}
            cells = [f"{rates[c]:.{digits.get(c, 4)}f}" for c in rates]
            rows.append(f"{day.isoformat()},{','.join(cells)},")
        day += timedelta(days=1)
    header = f"Date,{','.join(rates)},"
    return ("\n".join([header, *reversed(rows)]) + "\n").encode()


def write_demo_feeds(folder: Path, *, first: date, last: date, seed: int = 0) -> list[Path]:
    """The demo's feed files in ``folder``: PJM day-ahead hub prices for every day of the
    months from ``first`` to ``last`` and ECB rates for those days."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    month = first.replace(day=1)
    while month <= last:
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        days = (following - month).days
        path = folder / (
            f"synthetic_pjm_dataminer2_da_hrl_lmps_hubs_{month:%Y%m%d}-{following:%Y%m%d}.csv"
        )
        path.write_bytes(pjm_day_ahead(month, days, seed))
        written.append(path)
        month = following
    path = folder / f"synthetic_ecb_eurofxref-hist_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    path.write_bytes(ecb_history(first - timedelta(days=7), last, seed))
    written.append(path)
    return written
