"""Which parser reads a payload: every format by name, with its parameters, and the file names
that say which it is.

A format is named ``{source}.{layout}`` (``pjm.dataminer_csv``, ``nyiso.lbmp``); a load names
one, or gives a file name from which :func:`detect` finds it and the parameters the name
carries (``..._damlbmp_...`` is NYISO's day-ahead, ``fred_series_observations_GDP_...`` is
series ``GDP``). :func:`read` checks the parameters and parses.

>>> detect("nyiso_rtlbmp_zone_20251102.csv")
('nyiso.lbmp', {'market_run': 'RT'})
>>> detect("fred_graph_csv_DGS10_2024-12-16_2025-01-10.csv")
('fred', {'series_id': 'DGS10'})
>>> detect("isone_smd_hourly_2025_CT_DST_days_sample.csv")
('isone.smd', {'node': 'CT'})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aurum.errors import PayloadError, RequestError
from aurum.feeds.lmp import FeedRows
from aurum.feeds.parsers import (
    caiso,
    ecb,
    eia,
    ercot,
    fred,
    isone,
    miso,
    noaa,
    nyiso,
    pjm,
    pjm_json,
    spp,
)

__all__ = ["READERS", "Reader", "dataset_of", "detect", "parse_params", "read"]

# What a parse's kind is written to (kinds not here are recognised payloads that hold no data
# to keep: an empty answer, a document listing, station metadata, a load forecast ...).
DATASET_OF_KIND = {
    "lmp": "iso_lmp",
    "series_observation": "series_observation",
    "fx_rate": "fx_rate",
}


@dataclass(frozen=True)
class Reader:
    """One payload format: its parser, its parameters (required, and optional with their
    allowed values), and a file-name pattern whose named groups are parameters."""

    format: str
    parse: Callable[..., FeedRows]
    doc: str
    names: str  # a regular expression matched against the file name (case-insensitive)
    required: tuple[str, ...] = ()
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fixed: Mapping[str, str] = field(default_factory=dict)  # parameters the format implies

    def read(self, payload: bytes, params: Mapping[str, str]) -> FeedRows:
        args = {**self.fixed, **params}
        unknown = sorted(set(params) - set(self.required) - set(self.optional))
        missing = [name for name in self.required if not args.get(name)]
        problems = [f"unknown parameter {name!r}" for name in unknown]
        problems += [f"parameter {name!r} is required" for name in missing]
        problems += [
            f"{name} must be one of {', '.join(allowed)}, not {args[name]!r}"
            for name, allowed in self.optional.items()
            if name in args and args[name] not in allowed
        ]
        if problems:
            raise PayloadError(
                "feed_params_invalid", f"{self.format}: {'; '.join(problems)}",
                format=self.format, required=list(self.required), optional=dict(self.optional),
            )  # fmt: skip
        names = (*self.required, *self.optional)
        return self.parse(payload, **{n: args[n] for n in names if n in args})


_RUN = {"market_run": ("DA", "RT")}
READERS: dict[str, Reader] = {
    r.format: r
    for r in (
        Reader("caiso.oasis_csv", caiso.parse, "CAISO OASIS PRC_LMP (CSV member, resultformat=6)",
               r"caiso_oasis_prc_lmp|prc_lmp.*\.csv$"),
        Reader("caiso.oasis_xml", caiso.parse_report_xml, "CAISO OASIS report XML (SLD_FCST …)",
               r"caiso_oasis.*\.xml$"),
        Reader("ercot.api", ercot.parse_api, "ERCOT public API JSON (np6-905-cd, np4-190-cd, "
               "document listings)", r"ercot_(api|mis_icedoclist)"),
        Reader("ercot.sced", ercot.parse_sced, "ERCOT MIS SCED LMP CSV (NP6-788)",
               r"ercot_mis_np6-788|lmpsrosnode"),
        Reader("pjm.dataminer_csv", pjm.parse, "PJM Data Miner 2 da_hrl_lmps / rt_hrl_lmps CSV",
               r"pjm_dataminer2_(da|rt)_hrl_lmps.*\.csv$"),
        Reader("pjm.dataminer_json", pjm_json.parse, "PJM Data Miner 2 API JSON envelope",
               r"pjm_dataminer2_api"),
        Reader("miso.da_expost", miso.parse, "MISO day-ahead ex-post LMP CSV (EST)",
               r"miso_da_expost", optional=_RUN),
        Reader("isone.smd", isone.parse, "ISO-NE SMD hourly (a load zone's sheet as CSV)",
               r"isone_smd_hourly_\d{4}_(?P<node>[A-Za-z_.]+?)_", required=("node",)),
        Reader("spp.da_lmp", spp.parse, "SPP DA-LMP-SL CSV (either header style)",
               r"^spp_", optional=_RUN),
        Reader("nyiso.lbmp", nyiso.parse, "NYISO damlbmp / rtlbmp zone CSV",
               r"nyiso_(?P<run>dam|rt|realtime)", optional=_RUN),
        Reader("eia.v2", eia.parse_v2, "EIA API v2 JSON", r"^eia_v2_"),
        Reader("eia.wholesale", eia.parse_wholesale,
               "EIA Wholesale Electricity Market Data CSV (an ISO's prices re-published)",
               r"^eia_wholesale_(?P<iso>[a-z]+)_", required=("iso",),
               optional={}),
        Reader("fred", fred.parse, "FRED series observations (JSON, fredgraph CSV)",
               r"^fred_(series_observations|graph_csv)_(?P<series_id>[A-Z0-9]+)_",
               required=("series_id",)),
        Reader("noaa.cdo_csv", noaa.parse_csv, "NOAA CDO daily summaries CSV (GHCND)",
               r"noaa_cdo_daily"),
        Reader("noaa.v2", noaa.parse_v2, "NOAA CDO API v2 JSON", r"noaa_cdo_v2"),
        Reader("ecb", ecb.parse, "ECB euro reference rates (daily/history XML, CSV, zip)",
               r"^ecb_|eurofxref"),
    )
}  # fmt: skip


def detect(name: str) -> tuple[str, dict[str, str]]:
    """The format a file name says, and the parameters it carries."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for reader in READERS.values():
        match = re.search(reader.names, base, re.IGNORECASE)
        if match is None:
            continue
        params = {k: v for k, v in match.groupdict().items() if v}
        if "run" in params:
            params = {"market_run": "DA" if params.pop("run").lower() == "dam" else "RT"}
        if "iso" in params:
            params["iso"] = params["iso"].upper()
        return reader.format, params
    raise PayloadError(
        "feed_format_unknown",
        f"cannot tell the format of {base!r} from its name: name one with --format "
        f"({', '.join(READERS)})",
        formats=list(READERS),
    )


def read(format: str, payload: bytes, params: Mapping[str, str] | None = None) -> FeedRows:
    """Parse ``payload`` as ``format`` (``feed_format_unknown`` for another name)."""
    reader = READERS.get(format)
    if reader is None:
        raise PayloadError(
            "feed_format_unknown",
            f"no feed format {format!r}: one of {', '.join(READERS)}",
            formats=list(READERS),
        )
    return reader.read(payload, params or {})


def parse_params(values: Sequence[str] | None) -> dict[str, str]:
    """``name=value`` texts (a CLI's ``--param``, a form's ``param``) as a mapping.

    >>> parse_params(["node=CT", " series_id = GDP "])
    {'node': 'CT', 'series_id': 'GDP'}
    """
    params = {}
    for value in values or ():
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise RequestError("parameter_invalid", f"a parameter is name=value, not {value!r}")
        params[name.strip()] = text.strip()
    return params


def dataset_of(kind: str) -> str | None:
    """The dataset a parse of ``kind`` is written to (None: nothing to keep)."""
    return DATASET_OF_KIND.get(kind)


def describe() -> list[dict[str, Any]]:
    """Every format as data (``aurum feeds list``, ``/v1/feeds/formats``)."""
    return [
        {"format": r.format, "doc": r.doc, "required": list(r.required),
         "optional": {k: list(v) for k, v in r.optional.items()}}
        for r in READERS.values()
    ]  # fmt: skip
