"""``aurum.Client``: the REST API from Python, as pandas DataFrames or Arrow tables.

Each method is one read route. It sends the keyword filters as query parameters and asks for
Parquet (the types survive: dates stay dates, nulls stay nulls). A Parquet answer holds every row
that matches, so a call is one request (``diff`` of every curve between two days, ~40,000 rows:
under 1 s, where pages of 1,000 took 8-20 s). Pages come only when asked for (``limit=`` in the
filters is the page size) or when the answer has more rows than the server puts in one file
(``AURUM_QUERY__MAX_FILE_ROWS``; it says so with ``answer_too_large``): then the client follows
``meta.next_cursor`` with pages of that size until ``has_more`` is false. The cursor pins the
snapshot of the first page, so the pages of one call are one consistent answer even while new
days are published; the last page's ``meta`` (``snapshot_id``, ``on``, ``tenors_changed`` …)
stays in ``client.last_meta``.

Errors are :class:`ApiError` (an ``AurumError``) with the server's stable ``code``, its HTTP
``status``, ``detail`` and ``request_id``; a server that cannot be reached is ``api_unreachable``::

    with Client("http://127.0.0.1:8095", token="...") as aurum:
        frame = aurum.curves(vendor="EUGP", location="Dutch_TTF", asof="latest",
                             tenor_type="MONTHLY")
        strips = aurum.strips(vendor="PW", kind=["calendar", "season"], arrow=True)
        moved = aurum.diff(date(2025, 9, 16), date(2025, 9, 17), vendor="RP")
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from aurum._version import __version__
from aurum.errors import AurumError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ApiError", "Client"]

_PARQUET = "application/vnd.apache.parquet"
# Chosen by the client on every request, so a caller cannot pass them as filters.
_RESERVED = frozenset({"format", "cursor"})
_MONTHS = frozenset({"month_from", "month_to", "custom", "month"})


class ApiError(AurumError):
    """An error answer of the API (its problem document), or no usable answer at all.

    ``code`` is the server's stable code (``parameter_unknown``, ``curve_unknown`` …) or one of
    the client's own: ``api_unreachable``, ``api_timeout``, ``api_error`` (an error answer that
    is not a problem document, e.g. from a proxy), ``api_response_invalid``,
    ``page_limit_exceeded`` and ``api_url_invalid``. ``status`` and ``request_id`` are ``None`` when
    no answer came.

    >>> e = ApiError("curve_unknown", "no curve abc", status=404, request_id="r1")
    >>> (e.code, e.status, e.detail, str(e))
    ('curve_unknown', 404, 'no curve abc', 'no curve abc (HTTP 404 curve_unknown, request r1)')
    """

    default_code = "api_error"

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        **diagnostics: Any,
    ) -> None:
        self.status = status
        self.detail = detail
        self.request_id = request_id
        code = code or self.default_code
        where = f"HTTP {status} {code}" if status else code
        if request_id:
            where += f", request {request_id}"
        super().__init__(code, f"{detail} ({where})", **diagnostics)


class Client:
    """A client of one Aurum API.

    ``token`` is sent as ``Authorization: Bearer <token>``. ``timeout`` (seconds) applies to the
    HTTP client built here; an injected ``http`` client (e.g. FastAPI's ``TestClient``) keeps its
    own settings and is not closed by :meth:`close`. ``max_pages`` bounds the pages one call
    follows; ``limit=`` in a call's filters is the page size (the server caps it); without it a
    call is one request unless the answer is over the server's file limit.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        max_pages: int = 10_000,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ApiError("api_url_invalid", f"base_url must start with http(s)://: {base_url!r}")
        if max_pages < 1:
            raise ValueError(f"max_pages must be >= 1, not {max_pages}")
        self.base_url = base_url.rstrip("/")
        self.max_pages = max_pages
        self.last_meta: dict[str, Any] | None = None
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._headers = {"User-Agent": f"aurum-client/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this client built it."""
        if self._owns_http:
            self._http.close()

    # -- routes -----------------------------------------------------------------------------

    @overload
    def curves(self, *, arrow: Literal[False] = ..., **filters: Any) -> pd.DataFrame: ...
    @overload
    def curves(self, *, arrow: Literal[True], **filters: Any) -> pa.Table: ...
    def curves(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """Curve rows (``GET /v1/curves``): identity filters (``vendor``, ``location`` …),
        ``curve_key`` and ``tenor_type`` (one or a list), ``month_from``/``month_to``,
        ``asof`` (a date, ``(first, last)`` or ``"latest"``), ``as_at``, ``fields``;
        ``scenario_run=RUN``: that scenario run's curves, with ``base_value`` and bands;
        ``to_currency="USD"``: prices converted at the ECB rate of each as-of (``currency``
        filters by a curve's own currency), the rates used in ``last_meta["fx"]``."""
        return self._read("/v1/curves", filters, arrow)

    @overload
    def strips(self, *, arrow: Literal[False] = ..., **filters: Any) -> pd.DataFrame: ...
    @overload
    def strips(self, *, arrow: Literal[True], **filters: Any) -> pa.Table: ...
    def strips(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """Strips (``GET /v1/curves/strips``): identity filters, ``asof`` (default latest),
        ``kind`` (calendar, quarter, season), ``custom`` (``"2026-01..2026-06"``,
        ``"2026-01-15..2026-06"`` or a pair), ``convention``, ``weighting``, ``source``
        (derived, vendor, both), ``include_current_month``, ``as_at``, ``scenario_run``. A
        started period is a balance strip (``Bal Cal 2025``)."""
        return self._read("/v1/curves/strips", filters, arrow)

    @overload
    def latest(self, *, arrow: Literal[False] = ..., **filters: Any) -> pd.DataFrame: ...
    @overload
    def latest(self, *, arrow: Literal[True], **filters: Any) -> pa.Table: ...
    def latest(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """The last good value per curve and tenor (``GET /v1/curves/latest``): identity and
        tenor filters, ``on``, ``lookback_days``, ``as_at``; ``last_meta["on"]`` is the
        reference as-of used."""
        return self._read("/v1/curves/latest", filters, arrow)

    @overload
    def diff(
        self, asof_from: date | str | None = None, asof_to: date | str | None = None, *,
        arrow: Literal[False] = ..., **filters: Any,
    ) -> pd.DataFrame: ...  # fmt: skip
    @overload
    def diff(
        self, asof_from: date | str | None = None, asof_to: date | str | None = None, *,
        arrow: Literal[True], **filters: Any,
    ) -> pa.Table: ...  # fmt: skip
    def diff(
        self, asof_from: date | str | None = None, asof_to: date | str | None = None, *,
        arrow: bool = False, **filters: Any,
    ) -> pd.DataFrame | pa.Table:  # fmt: skip
        """As-of ``asof_from`` against ``asof_to`` per curve and tenor (``GET /v1/curves/diff``):
        values, ``change``, ``change_pct``, ``z``; ``sort`` (abs_change, pct_change, z), ``top``
        and ``per`` (asset_class) for what moved most; ``last_meta`` holds ``curves_added``,
        ``curves_removed``, ``tenors_changed``. Without dates, ``scenario_run=RUN`` compares that
        run's base with its scenario curves (``against_run=B``: run RUN with run B)."""
        dates = {"asof_from": asof_from, "asof_to": asof_to}
        return self._read(
            "/v1/curves/diff", {**{k: v for k, v in dates.items() if v is not None}, **filters},
            arrow,
        )  # fmt: skip

    @overload
    def metadata_curves(self, *, arrow: Literal[False] = ..., **filters: Any) -> pd.DataFrame: ...
    @overload
    def metadata_curves(self, *, arrow: Literal[True], **filters: Any) -> pa.Table: ...
    def metadata_curves(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """One row per curve (``GET /v1/metadata/curves``): identity filters, ``curve_key``,
        ``q`` (words that must all appear in the curve's identity), ``as_at``."""
        return self._read("/v1/metadata/curves", filters, arrow)

    @overload
    def asof_dates(
        self, vendor: str | None = None, *, arrow: Literal[False] = ..., **filters: Any
    ) -> pd.DataFrame: ...
    @overload
    def asof_dates(
        self, vendor: str | None = None, *, arrow: Literal[True], **filters: Any
    ) -> pa.Table: ...
    def asof_dates(
        self, vendor: str | None = None, *, arrow: bool = False, **filters: Any
    ) -> pd.DataFrame | pa.Table:
        """Published (vendor, as-of) days, their rows and version (``/v1/metadata/asof-dates``)."""
        return self._read("/v1/metadata/asof-dates", {"vendor": vendor, **filters}, arrow)

    @overload
    def vendors(self, *, arrow: Literal[False] = ..., **filters: Any) -> pd.DataFrame: ...
    @overload
    def vendors(self, *, arrow: Literal[True], **filters: Any) -> pa.Table: ...
    def vendors(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """Each vendor's as-of count, first and last as-of and rows (``/v1/metadata/vendors``)."""
        return self._read("/v1/metadata/vendors", filters, arrow)

    # -- public feeds -----------------------------------------------------------------------------

    def lmp(
        self, iso: str, start: date | str, end: date | str | None = None, *, arrow: bool = False,
        **filters: Any,
    ) -> pd.DataFrame | pa.Table:  # fmt: skip
        """ISO prices (``GET /v1/iso/lmp``) over operating days ``start``..``end``: ``node``
        (one or a list), ``market_run`` (DA, RT), ``aggregate`` (interval, hourly, daily,
        monthly: time-weighted), ``block`` (ON_PEAK, OFF_PEAK, 7X24 …), ``as_at``."""
        query = {"iso": iso, "start": start, "end": end, **filters}
        return self._read("/v1/iso/lmp", query, arrow)

    def realised(
        self, iso: str, node: str, month: date | str, asof: date | str | None = None, *,
        arrow: bool = False,
    ) -> pd.DataFrame | pa.Table:  # fmt: skip
        """A mapped hub's settled ``month`` per block beside its forward's value as of
        ``asof`` (``GET /v1/iso/realised``)."""
        query = {"iso": iso, "node": node, "month": month, "asof": asof}
        return self._read("/v1/iso/realised", query, arrow)

    def series(
        self, source: str, series_id: str, *, arrow: bool = False, **filters: Any
    ) -> pd.DataFrame | pa.Table:
        """A public series' observations (``GET /v1/series/{source}/{id}``): ``start``,
        ``end``, ``vintage`` (FRED: the values as published that day), ``as_at``."""
        return self._read(f"/v1/series/{source}/{series_id}", filters, arrow)

    def fx(self, *, arrow: bool = False, **filters: Any) -> pd.DataFrame | pa.Table:
        """ECB reference rates per 1 EUR (``GET /v1/fx``): ``currency`` ("USD,GBP"), ``start``,
        ``end``, ``as_at``."""
        return self._read("/v1/fx", filters, arrow)

    # -- PPA valuations ---------------------------------------------------------------------------

    def valuate(
        self, *, wait: bool = True, poll_s: float = 1.0, timeout_s: float = 3600.0,
        **request: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """``POST /v1/ppa/valuate`` with ``request`` (``terms`` or ``contract_id``, ``curves``,
        ``discount`` …): the valuation with its summary and monthly ``cashflows``. An ensemble
        valuation is queued by the server: with ``wait`` this polls until it ends."""
        response = self._send("POST", "/v1/ppa/valuate", json=request)
        found: dict[str, Any] = response.json()["data"][0]
        deadline = time.monotonic() + timeout_s
        while wait and found["status"] not in ("published", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise ApiError("api_timeout", f"valuation {found['id']} did not end in time")
            time.sleep(poll_s)
            found = self.valuation(found["id"])
        return found

    def valuation(self, valuation_id: str) -> dict[str, Any]:
        """``GET /v1/ppa/valuations/{id}``: status, summary, inputs and cashflows."""
        found: dict[str, Any] = self._get(f"/v1/ppa/valuations/{valuation_id}", []).json()["data"][
            0
        ]
        return found

    def valuation_cashflows(
        self, valuation_id: str, *, arrow: bool = False
    ) -> pd.DataFrame | pa.Table:
        """A valuation's monthly rows as a DataFrame (or an Arrow table)."""
        return self._read(f"/v1/ppa/valuations/{valuation_id}/cashflows", {}, arrow)

    def valuation_report(self, valuation_id: str, path: str | Path) -> Path:
        """Save a valuation's XLSX report at ``path``."""
        target = Path(path)
        target.write_bytes(self._get(f"/v1/ppa/valuations/{valuation_id}/report.xlsx", []).content)
        return target

    def _read(self, path: str, filters: Mapping[str, Any], arrow: bool) -> pd.DataFrame | pa.Table:
        table = self._pages(path, _query(filters))
        return table if arrow else table.to_pandas()

    def _pages(self, path: str, query: list[tuple[str, str]]) -> pa.Table:
        """Every row of one answer, as one table: one Parquet request, or pages of the server's
        file limit when the whole answer is over it (and the call did not choose a page size)."""
        try:
            return self._follow(path, query)
        except ApiError as error:
            most = error.diagnostics.get("max_rows")
            paged = any(name == "limit" for name, _ in query)
            if error.code != "answer_too_large" or paged or type(most) is not int or most < 1:
                raise
            return self._follow(path, [*query, ("limit", str(most))])

    def _follow(self, path: str, query: list[tuple[str, str]]) -> pa.Table:
        """Every page of one answer, as one table (the cursor keeps the first page's snapshot)."""
        query = [*query, ("format", "parquet")]
        tables: list[pa.Table] = []
        cursor: str | None = None
        for _ in range(self.max_pages):
            response = self._get(path, [*query, ("cursor", cursor)] if cursor else query)
            table, meta = _page(response)
            tables.append(table)
            self.last_meta = meta
            cursor = meta.get("next_cursor") or response.headers.get("x-aurum-next-cursor")
            if not meta.get("has_more", cursor is not None):
                break
            if not cursor:
                raise ApiError(
                    "api_response_invalid",
                    f"{path}: the page says has_more but gives no next_cursor",
                    status=response.status_code,
                    request_id=response.headers.get("x-request-id"),
                )
        else:
            raise ApiError(
                "page_limit_exceeded",
                f"{path}: the answer has more than {self.max_pages:,} pages; narrow the filters,"
                " raise limit= (rows per page) or Client(max_pages=...)",
                max_pages=self.max_pages,
            )
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(tables, promote_options="permissive")

    def _get(self, path: str, query: list[tuple[str, str]]) -> httpx.Response:
        return self._send("GET", path, params=tuple(query))

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        url = self.base_url + path
        try:
            response = self._http.request(method, url, headers=self._headers, **options)
        except httpx.TimeoutException:
            raise ApiError("api_timeout", f"the Aurum API at {self.base_url} timed out") from None
        except httpx.TransportError as exc:  # refused, DNS, TLS, dropped connection
            raise ApiError(
                "api_unreachable",
                f"cannot reach the Aurum API at {self.base_url}: {exc or type(exc).__name__}",
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response


def _page(response: httpx.Response) -> tuple[pa.Table, dict[str, Any]]:
    """A Parquet answer's rows and its ``meta`` (the ``aurum.meta`` schema metadata)."""
    request_id = response.headers.get("x-request-id")
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.status_code != 200 or media != _PARQUET:
        raise ApiError(
            "api_response_invalid",
            f"expected a Parquet page, not HTTP {response.status_code} {media or '(no type)'}",
            status=response.status_code,
            request_id=request_id,
        )
    try:
        table = pq.read_table(pa.BufferReader(response.content))
        meta = json.loads((table.schema.metadata or {}).get(b"aurum.meta", b"{}"))
    except (pa.ArrowException, ValueError) as exc:
        raise ApiError(
            "api_response_invalid",
            f"the Parquet page cannot be read: {exc}",
            status=response.status_code,
            request_id=request_id,
        ) from None
    return table.replace_schema_metadata(None), meta if isinstance(meta, dict) else {}


def _error(response: httpx.Response) -> ApiError:
    """The problem document of an error answer as an ``ApiError`` (or the bare status)."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        given = body.get("diagnostics")
        diagnostics = {
            **{k: v for k, v in body.items() if k in ("errors", "instance")},
            **(given if isinstance(given, dict) else {}),
        }
        for taken in ("code", "detail", "status", "request_id"):
            diagnostics.pop(taken, None)
        return ApiError(
            body["code"],
            str(body.get("detail") or body.get("title") or body["code"]),
            status=response.status_code,
            request_id=body.get("request_id") or request_id,
            **diagnostics,
        )
    text = " ".join(response.text.split())[:200]
    return ApiError(
        "api_error",
        f"{response.request.url.path}: {response.reason_phrase or 'error'}"
        + (f": {text}" if text else ""),
        status=response.status_code,
        request_id=request_id,
    )


def _query(filters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Keyword filters as query parameters: ``None`` dropped, lists repeated, dates ISO (months
    ``YYYY-MM`` for ``month_from``/``month_to``/``custom``), pairs as ``A..B`` ranges for
    ``asof`` and ``custom``, ``fields`` comma-joined. Unknown names pass through so the
    server's ``parameter_unknown`` reaches the caller.

    >>> _query({"vendor": "PW", "tenor_type": ["MONTHLY", "QUARTER"], "month_from": date(2026, 1, 1),
    ...         "asof": (date(2025, 9, 1), date(2025, 9, 5)), "region": None})
    [('vendor', 'PW'), ('tenor_type', 'MONTHLY'), ('tenor_type', 'QUARTER'), ('month_from', '2026-01'), ('asof', '2025-09-01..2025-09-05')]
    >>> _query({"custom": [("2026-01", date(2026, 6, 1))], "fields": ["curve_key", "mid"]})
    [('custom', '2026-01..2026-06'), ('fields', 'curve_key,mid')]
    """  # noqa: E501
    reserved = sorted(_RESERVED & set(filters))
    if reserved:
        raise TypeError(f"{reserved[0]!r} is chosen by the client; it cannot be a filter")
    out: list[tuple[str, str]] = []
    for name, value in filters.items():
        if value is None:
            continue
        month = name in _MONTHS
        if name == "fields" and _is_many(value):
            out.append((name, ",".join(_text(v, month=False) for v in value)))
        elif name == "asof" and _is_pair(value):
            out.append((name, _range(value, month=False)))
        elif _is_many(value):
            items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
            for item in items:
                text = _range(item, month=month) if name == "custom" and _is_pair(item) else None
                out.append((name, text or _text(item, month=month)))
        else:
            out.append((name, _text(value, month=month)))
    return out


def _is_many(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _range(pair: Iterable[Any], *, month: bool) -> str:
    return "..".join(_text(v, month=month) for v in pair)


def _text(value: Any, *, month: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value:%Y-%m}" if month else value.isoformat()
    return str(value)
