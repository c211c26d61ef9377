"""Reference data for what the workbooks do not say: asset class, canonical product and units.

``reference/curves.csv`` lists every known curve exactly; ``reference/rules.csv`` holds fallback
rules (case-insensitive globs, first match wins) for curves a vendor adds before the table knows
them. Units found in a workbook (PW's ``Units`` row) always win over both.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aurum.domain.identity import normalise

__all__ = ["MATCH_FIELDS", "Reference", "ReferenceEntry", "load_reference"]

MATCH_FIELDS = (
    "vendor", "family", "iso", "region", "location", "market", "product", "block", "spark_location",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReferenceEntry:
    asset_class: str | None
    canonical_product: str | None
    currency: str | None
    per_unit: str | None
    source: str  # "curves" (exact) or "rules" (fallback)


@dataclass(frozen=True)
class Reference:
    exact: dict[tuple[str, ...], ReferenceEntry]
    rules: tuple[tuple[tuple[re.Pattern[str] | None, ...], ReferenceEntry], ...]

    def lookup(self, identity: dict[str, str | None]) -> ReferenceEntry | None:
        """The entry for one curve identity (keys: ``MATCH_FIELDS``), exact rows first."""
        key = tuple(normalise(identity.get(f)) for f in MATCH_FIELDS)
        entry = self.exact.get(key)
        if entry is not None:
            return entry
        for patterns, rule in self.rules:
            if all(p is None or p.fullmatch(v) for p, v in zip(patterns, key, strict=True)):
                return rule
        return None


def _entry(row: dict[str, str], source: str) -> ReferenceEntry:
    return ReferenceEntry(
        asset_class=row["asset_class"].strip() or None,
        canonical_product=row["canonical_product"].strip() or None,
        currency=row["currency"].strip() or None,
        per_unit=row["per_unit"].strip() or None,
        source=source,
    )


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("aurum.ingest") / "reference" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@cache
def load_reference() -> Reference:
    exact = {
        tuple(normalise(row[f]) for f in MATCH_FIELDS): _entry(row, "curves")
        for row in _rows("curves.csv")
    }
    rules = tuple(
        (
            tuple(
                re.compile(fnmatch.translate(normalise(row[f]))) if row[f].strip() else None
                for f in MATCH_FIELDS
            ),
            _entry(row, "rules"),
        )
        for row in _rows("rules.csv")
    )
    return Reference(exact=exact, rules=rules)
