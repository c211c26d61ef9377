"""Curve identity and its key.

A curve is named by eight identity fields. ``curve_key`` hashes their normalised form, so the same
curve gets the same key on its Mid and BidAsk sheets, on monthly and strip sheets, and across days,
while gas ``Czech`` (no block) and power ``Czech``/``BASE``, or a spark spread and its power curve,
get different keys. Punctuation is kept: ``NY ULSD vs NY Harbor ULSD`` and ``Ny Ulsd vs. Ny Harbor
Ulsd`` are different curves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = [
    "FORMULA_PREFIXES", "IDENTITY_FIELDS", "curve_family", "curve_key", "looks_like_formula",
    "normalise",
]  # fmt: skip

IDENTITY_FIELDS: tuple[str, ...] = (
    "asset_class",
    "iso",
    "region",
    "location",
    "market",
    "product",
    "block",
    "spark_location",
)


# Text starting with one of these is run as a formula by Excel, LibreOffice and Google Sheets
# when it lands in a cell unescaped (OWASP "CSV injection"): `=1+1`, `+cmd|…`, `-2+3`, `@SUM(…)`.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: str | None) -> bool:
    """Whether a spreadsheet would take ``value`` for a formula.

    >>> [looks_like_formula(v) for v in ("=HYPERLINK(A1)", "-1", "Dutch_TTF", "", None)]
    [True, True, False, False, False]
    """
    return value is not None and value.startswith(FORMULA_PREFIXES)


def normalise(value: str | None) -> str:
    """Strip, collapse inner whitespace, case-fold; ``None`` becomes ``""``.

    >>> normalise("  Fuel-Oil 1%   FOB Barge ")
    'fuel-oil 1% fob barge'
    >>> normalise(None)
    ''
    """
    if value is None:
        return ""
    return " ".join(value.split()).casefold()


def curve_key(fields: Iterable[str | None], discriminator: str | None = None) -> str:
    """SHA-256 of the normalised identity fields joined by ``|``.

    ``discriminator`` is appended only when given: PW curves that differ only in their units
    (a CAD and a USD column of the same hub) are different curves and need different keys.

    >>> curve_key(["power", None, "EU", "German", None, "power", "BASE", None])
    'e62ae9cee76bc5d14d234b193f8e4521dd978a465b64e7d9c59e10b1f58c4920'
    """
    text = "|".join(normalise(v) for v in fields)
    if discriminator:
        text += "|" + normalise(discriminator)
    return hashlib.sha256(text.encode()).hexdigest()


def curve_family(
    asset_class: str | None, product: str | None, currency: str | None, per_unit: str | None
) -> str:
    """The family a curve's moves are judged within: its asset class, product and units.

    Curves of one family move on one scale (German and French base power in EUR/MWh; not a
    spark spread, not gas in GBp/therm), so a change is compared with its family's changes: the
    jump gate and the diff's ``z`` use this one definition.

    >>> curve_family("Power", "power", "EUR", "MWh")
    'power|power|EUR/MWh'
    >>> curve_family("gas", None, "GBp", "therm")
    'gas||GBp/therm'
    """
    return f"{normalise(asset_class)}|{normalise(product)}|{currency or ''}/{per_unit or ''}"
