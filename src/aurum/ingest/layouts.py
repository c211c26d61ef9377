"""Vendor layouts as data: ``layouts/*.toml`` read into frozen, strict specs.

One generic parser (``aurum.ingest.parser``) is driven by these specs; adding a vendor, or a new
vintage of a vendor's workbook, is a TOML file, not new parsing code. A typo in a spec fails when
it is loaded (``extra="forbid"``), not in the middle of a parse.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from functools import cache, cached_property
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aurum.errors import ConfigError, LayoutError

__all__ = [
    "FieldSpec", "Layout", "SheetSpec", "detect_layout", "file_name_date", "load_layouts", "squash",
]  # fmt: skip


def squash(text: str) -> str:
    """Header text compared without any whitespace or case: ``Bid   /   Ask`` is ``bid/ask``.

    >>> squash("Bid   /   Ask")
    'bid/ask'
    """
    return "".join(text.split()).casefold()


IdentityField = Literal[
    "iso", "region", "location", "market", "product", "block", "spark_location", "units"
]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Spec):
    """Where one identity field is read: the row labelled ``label``, or the unlabelled row ``above``
    the row labelled so (RP's region row)."""

    label: str | None = None
    above: str | None = None
    upper: bool = False

    @model_validator(mode="after")
    def _one_locator(self) -> FieldSpec:
        if (self.label is None) == (self.above is None):
            raise ValueError("give exactly one of 'label' or 'above'")
        return self


class SheetSpec(_Spec):
    name: str
    price: Literal["mid", "bidask", "copy"]
    family: str = "forward"
    twin: str | None = None
    copy_of: str | None = None


class Layout(_Spec):
    vendor: str
    file_name: str
    asof: Literal["required", "optional"]
    header: Literal["required", "optional"]
    anchor: IdentityField
    required: tuple[IdentityField, ...]
    identity: dict[IdentityField, FieldSpec]
    sheets: tuple[SheetSpec, ...]
    null_values: dict[IdentityField, tuple[str, ...]] = Field(default_factory=dict)
    fill_sparse: tuple[IdentityField, ...] = ()
    units_in_identity: bool = False
    rule_severity: dict[str, Literal["quarantine", "warn"]] = Field(default_factory=dict)
    label_rows: int = 12
    mid_headers: tuple[str, ...] = ("Mid",)
    bidask_headers: tuple[str, ...] = ("Bid / Ask", "BidAsk")

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        names = {s.name for s in self.sheets}
        for sheet in self.sheets:
            for ref in (sheet.twin, sheet.copy_of):
                if ref is not None and ref not in names:
                    raise ValueError(f"sheet {sheet.name!r} refers to unknown sheet {ref!r}")
        if self.anchor not in self.identity:
            raise ValueError(f"anchor {self.anchor!r} is not an identity field")
        for spec in self.identity.values():
            if spec.above is not None and not any(
                f.label == spec.above for f in self.identity.values()
            ):
                raise ValueError(f"'above = {spec.above!r}' names no label of this layout")
        return self

    @cached_property
    def header_kinds(self) -> dict[str, str]:
        """Price-type header texts (see :func:`squash`) to the kind of sheet they head."""
        return {squash(h): "mid" for h in self.mid_headers} | {
            squash(h): "bidask" for h in self.bidask_headers
        }

    def sheet(self, name: str) -> SheetSpec | None:
        return next((s for s in self.sheets if s.name == name), None)

    def twin_of(self, bidask_name: str) -> SheetSpec | None:
        """The Mid sheet whose twin is ``bidask_name``."""
        return next((s for s in self.sheets if s.twin == bidask_name), None)


@cache
def load_layouts() -> dict[str, Layout]:
    """Every packaged layout, by vendor code."""
    layouts: dict[str, Layout] = {}
    folder = resources.files("aurum.ingest") / "layouts"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            layout = Layout.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise ConfigError("layout_invalid", f"layout {entry.name}: {exc}") from None
        layouts[layout.vendor] = layout
    return layouts


def file_name_date(layout: Layout, file_name: str) -> date | None:
    """The as-of date in a vendor file name, if the name follows the vendor's pattern.

    >>> file_name_date(load_layouts()["RP"], "EOD_RP_20250917_1430.xlsx")
    datetime.date(2025, 9, 17)
    """
    match = re.match(layout.file_name, _suffix_lowered(file_name))
    if match is None:
        return None
    try:
        return datetime.strptime(match.group("date"), "%Y%m%d").date()
    except ValueError:
        raise LayoutError(
            "file_name_date_invalid", f"{file_name!r} carries no valid YYYYMMDD date"
        ) from None


def detect_layout(file_name: str, vendor: str | None = None) -> Layout:
    """The layout named by ``vendor``, or else the one whose file-name pattern matches."""
    layouts = load_layouts()
    if vendor is not None:
        try:
            return layouts[vendor.upper()]
        except KeyError:
            raise LayoutError(
                "vendor_unknown",
                f"unknown vendor {vendor!r}; known: {', '.join(sorted(layouts))}",
            ) from None
    name = _suffix_lowered(file_name)
    matches = [layout for layout in layouts.values() if re.match(layout.file_name, name)]
    if len(matches) != 1:
        raise LayoutError(
            "vendor_unknown",
            f"cannot tell the vendor of {file_name!r} from its name "
            f"(expected EOD_<{'|'.join(sorted(layouts))}>_YYYYMMDD_HHMM.xlsx); pass the vendor",
        )
    return matches[0]


def _suffix_lowered(file_name: str) -> str:
    """``EOD_RP_20250917_1430.XLSX`` is named like ``…1430.xlsx``: the suffix's case is the
    saving program's, not the vendor's.

    >>> _suffix_lowered("EOD_RP_20250917_1430.Xlsx")
    'EOD_RP_20250917_1430.xlsx'
    """
    stem, dot, suffix = file_name.rpartition(".")
    return f"{stem}{dot}{suffix.lower()}" if dot else file_name
