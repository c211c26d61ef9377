"""ECB euro foreign-exchange reference rates: the daily and history XML (``eurofxref-*.xml``),
the daily CSV (``", "`` separators, ``13 April 2026``, a trailing separator) and the history CSV
(ISO dates newest first, ``N/A`` where a currency was not quoted), plain or in its zip.

Rates are units of currency per 1 EUR, for TARGET business days only (no row on a weekend or a
TARGET holiday: the last published rate on or before a day is that day's rate).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from aurum.feeds.lmp import FeedRows, PayloadError, text_of
from aurum.feeds.read import load_xml, single_member
from aurum.feeds.series import fx_table

SOURCE = "ECB reference rates"
_CUBE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}Cube"


def parse(payload: bytes) -> FeedRows:
    """Any of the ECB's layouts, recognised by its first bytes."""
    if payload[:2] == b"PK":
        return parse(single_member(payload, SOURCE, (".csv", ".xml")))
    if payload.lstrip()[:1] == b"<":
        return _xml(payload)
    return _csv(payload)


def _xml(payload: bytes) -> FeedRows:
    root = load_xml(payload, SOURCE)
    records = []
    for day in root.iter(_CUBE):
        if "time" not in day.attrib:
            continue
        when = date.fromisoformat(day.attrib["time"])
        for quote in day:
            records.append(
                _rate(when, quote.attrib.get("currency", ""), quote.attrib.get("rate", ""))
            )
    if not records:
        raise PayloadError("payload_empty", f"{SOURCE}: no <Cube time=…> with rates")
    return FeedRows("fx_rate", fx_table(records))


def _csv(payload: bytes) -> FeedRows:
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(io.StringIO(text_of(payload, SOURCE)))
        if row
    ]
    if not rows or rows[0][0] != "Date":
        raise PayloadError("header_changed", f"{SOURCE}: the first column is not Date")
    currencies = rows[0][1:]
    records = []
    for row in rows[1:]:
        when = _day(row[0])
        for currency, text in zip(currencies, row[1:], strict=False):
            if currency and text and text != "N/A":
                records.append(_rate(when, currency, text))
    return FeedRows("fx_rate", fx_table(records))


def _day(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise PayloadError("time_invalid", f"{SOURCE}: {text!r} is not a date")


def _rate(when: date, currency: str, text: str) -> dict[str, object]:
    try:
        rate = float(text)
    except ValueError:
        raise PayloadError(
            "payload_invalid", f"{SOURCE}: {when} {currency} rate {text!r} is not a number"
        ) from None
    if len(currency) != 3 or not currency.isalpha() or rate <= 0:
        raise PayloadError("payload_invalid", f"{SOURCE}: {when} {currency!r} {rate} is not a rate")
    return {"rate_date": when, "base": "EUR", "currency": currency, "rate": rate, "source": "ECB"}
