"""Units as vendors write them (``$/MWh``, ``CAD - MWh``) turned into (currency, per_unit)."""

from __future__ import annotations

import re

__all__ = ["parse_units"]

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "p": "GBp", "GBp": "GBp", "GBX": "GBp", "c": "USc"}
_UNITS = re.compile(r"^\s*(?P<cur>[$€£]|[A-Za-z]{1,3})\s*(?:/|-|per)\s*(?P<per>[A-Za-z0-9.]+)\s*$")


def parse_units(text: str | None) -> tuple[str, str] | None:
    """Normalise a units cell to ``(currency, per_unit)``; ``None`` when it is not recognisable.

    >>> parse_units("CAD - MWh"), parse_units("CAD/MWh"), parse_units("$/MWh")
    (('CAD', 'MWh'), ('CAD', 'MWh'), ('USD', 'MWh'))
    >>> parse_units("€ per MWh"), parse_units("p/therm"), parse_units("MWh")
    (('EUR', 'MWh'), ('GBp', 'therm'), None)
    """
    if not text:
        return None
    match = _UNITS.match(text)
    if match is None:
        return None
    currency = match.group("cur")
    currency = _SYMBOLS.get(currency) or _SYMBOLS.get(currency.upper()) or currency.upper()
    return currency, match.group("per")
