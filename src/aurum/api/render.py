"""Answers as HTTP: ``{meta, data}`` JSON, CSV, Parquet or XLSX; cursors; ETags; the cache.

A read answer is a pure function of (route, query, snapshot, format), so that tuple is the cache
key and its digest the ETag: ``If-None-Match`` is answered with 304 before any data is read, and
a publish changes every key by changing the snapshot.

Pages are for JSON. A file answer (CSV, Parquet, XLSX) holds every row that matches, up to
``AURUM_QUERY__MAX_FILE_ROWS``; one that would hold more is refused (``answer_too_large``),
never cut short. Only a request's own ``limit`` pages a file (with ``Link`` and
``X-Aurum-Next-Cursor`` to the next one).

Cursors pin the snapshot of the first page and carry the offset of the next one, plus a digest
of the query they belong to: a cursor used with another query is refused (``cursor_foreign``).
They are signed (HMAC-SHA256 with the server's cursor key), so a client can neither forge a
snapshot id nor an offset: every worker and restart sharing the key accepts them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Request
from starlette.responses import Response

from aurum._version import __version__
from aurum.api.cache import Cache
from aurum.errors import AnswerTooLarge, NotAcceptable, RequestError
from aurum.formats import Sheet, csv_bytes, json_rows, xlsx_bytes
from aurum.query.curves import Page, ServedSlice

__all__ = ["FORMATS", "Cursor", "CursorCodec", "Limits", "Reader", "answer"]

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_ACCEPT = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
# The layout of cache keys; a new one never reads entries written under an older layout (such as
# CSV bodies made before formula-like text was neutralised, still in a shared Redis).
_KEYS = "k2"
# Parameters that do not change what a page holds (so they stay out of the query digest).
_PAGING = frozenset({"cursor", "limit", "format"})


@dataclass(frozen=True, slots=True)
class Limits:
    """How many rows an answer holds: a JSON page ``page_size`` unless the request asks (at
    most ``max_page_size``); a file every row, at most ``max_file_rows``."""

    page_size: int
    max_page_size: int
    max_file_rows: int

    def rows(self, fmt: str, asked: int | None) -> tuple[int, bool]:
        """(rows to read, whether more must refuse the answer rather than page it)."""
        if fmt == "json":
            return min(asked or self.page_size, self.max_page_size), False
        if asked is None or asked > self.max_file_rows:
            return self.max_file_rows, True
        return asked, False


@dataclass(frozen=True, slots=True)
class Cursor:
    snapshot_id: int
    offset: int
    query: str


def query_digest(path: str, params: Mapping[str, list[str]]) -> str:
    """What a page holds, as the routes parse it: a parameter that takes one value has exactly
    one (``reject_unknown`` refuses repeats), and a list parameter is read as a set."""
    canonical = [(k, sorted(set(v))) for k, v in sorted(params.items()) if k not in _PAGING]
    return hashlib.blake2b(orjson.dumps([path, canonical]), digest_size=8).hexdigest()


# Cursor offsets beyond this are refused before any SQL sees them (no table page is that deep).
MAX_OFFSET = 2**31 - 1


class CursorCodec:
    """Signs and checks cursors. ``keys[0]`` signs; every key verifies, so a key retired by a
    rotation keeps accepting the cursors it signed."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        if not keys or any(len(key) < 16 for key in keys):
            raise ValueError("cursor keys must be at least 16 bytes")
        self.keys = keys

    def encode(self, cursor: Cursor) -> str:
        raw = orjson.dumps({"s": cursor.snapshot_id, "o": cursor.offset, "q": cursor.query})
        return f"{_b64(raw)}.{_b64(self._sign(self.keys[0], raw))}"

    def decode(self, text: str, query: str) -> Cursor:
        invalid = RequestError("cursor_invalid", "the cursor is not one this API issued")
        payload, _, signature = text.partition(".")
        try:
            raw, mac = _unb64(payload), _unb64(signature)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not any(hmac.compare_digest(self._sign(key, raw), mac) for key in self.keys):
            raise invalid
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid from None
        if not (
            isinstance(fields, dict)
            and _whole(fields.get("s"), 2**63 - 1)
            and _whole(fields.get("o"), MAX_OFFSET)
            and isinstance(fields.get("q"), str)
        ):
            raise invalid
        cursor = Cursor(fields["s"], fields["o"], fields["q"])
        if cursor.query != query:
            raise RequestError(
                "cursor_foreign", "the cursor belongs to another query: repeat that query's filters"
            )
        return cursor

    @staticmethod
    def _sign(key: bytes, raw: bytes) -> bytes:
        return hmac.new(key, raw, hashlib.sha256).digest()[:16]


def _whole(value: Any, most: int) -> bool:
    """An integer (not a bool, a float or a string) in [0, most]."""
    return type(value) is int and 0 <= value <= most


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def negotiate(request: Request) -> str:
    """``format=`` wins over ``Accept``; JSON when neither says otherwise."""
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in FORMATS:
            raise NotAcceptable(
                "format_unsupported", f"format must be one of {', '.join(FORMATS)}: {asked!r}"
            )
        return asked
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in _ACCEPT:
            return _ACCEPT[media]
        if media in ("*/*", "application/*", ""):
            return "json"
    if accept:
        raise NotAcceptable(
            "format_unsupported", f"can answer {', '.join(FORMATS.values())}, not {accept!r}"
        )
    return "json"


# read(snapshot id, limit, offset, format) -> a page; the format lets a reader answer JSON
# straight from a served slice.
Reader = Callable[[int | None, int, int, str], Page | ServedSlice]


def answer(
    request: Request,
    read: Reader,
    *,
    pin: Callable[[int | None], int],
    cache: Cache,
    cursors: CursorCodec,
    neutralised: bool = True,
    limit: int | None,
    limits: Limits,
    pinned_by_request: bool,
    scope: str = "*",
    meta: Mapping[str, Any] | None = None,
) -> Response:
    """Run ``read(snapshot_id, limit, offset)`` for this request, or answer from cache / 304.

    ``limit`` is the request's own (``None``: it gave none; see :class:`Limits`).
    ``pin(cursor_snapshot)`` resolves the snapshot before anything is read. ``scope`` names
    what the caller may see (its entitled vendors): callers of different scopes never share a
    cache entry or an ETag.
    """
    fmt = negotiate(request)
    params = {k: request.query_params.getlist(k) for k in request.query_params}
    digest = query_digest(request.url.path, params)
    cursor = None
    if "cursor" in params:
        cursor = cursors.decode(params["cursor"][-1], digest)
    capped, whole = limits.rows(fmt, limit)
    snapshot = pin(cursor.snapshot_id if cursor else None)
    offset = cursor.offset if cursor else 0
    text = "" if neutralised else "raw"  # how CSV text is written
    rows = f"{capped}{'whole' if whole else ''}"  # a page and a whole answer never share
    key = f"{_KEYS}|{__version__}|{digest}|{snapshot}|{offset}|{rows}|{fmt}{text}|{scope}"
    etag = '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'
    immutable = pinned_by_request or cursor is not None
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=86400, immutable" if immutable else "private, no-cache",
        "X-Aurum-Snapshot": str(snapshot),
        "Vary": "Accept",
    }
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    no_store = "no-cache" in request.headers.get("cache-control", "")
    body = None if no_store else cache.get(key)
    if body is not None:
        headers["X-Aurum-Cache"] = "hit"
        return Response(body, media_type=FORMATS[fmt], headers=headers)
    page = read(snapshot, capped, offset, fmt)
    if whole and page.has_more:
        raise AnswerTooLarge(
            "answer_too_large",
            f"more than {capped:,} rows match, the most a {fmt} answer holds: narrow the"
            " filters, page it with limit= (and the next cursor), or ask an operator to raise"
            " AURUM_QUERY__MAX_FILE_ROWS",
            max_rows=capped,
        )
    page_meta: dict[str, Any] = {
        "snapshot_id": page.snapshot_id,
        "count": page.rows,
        "offset": offset,
        "limit": capped,
        "limit_capped": limit is not None and limit > capped,
        "has_more": page.has_more,
        "next_cursor": (
            cursors.encode(Cursor(page.snapshot_id, offset + page.rows, digest))
            if page.has_more
            else None
        ),
        "query_ms": round(page.seconds * 1000, 3),
        **(meta or {}),
        **page.extra,
    }
    body = render(page, page_meta, fmt, neutralised=neutralised)
    if page_meta["next_cursor"]:
        headers["Link"] = f'<{_next_url(request, page_meta["next_cursor"])}>; rel="next"'
        headers["X-Aurum-Next-Cursor"] = page_meta["next_cursor"]
    cache.set(key, body)
    headers["X-Aurum-Cache"] = "miss"
    headers["X-Aurum-Rows"] = str(page.rows)
    return Response(body, media_type=FORMATS[fmt], headers=headers)


def render(
    page: Page | ServedSlice, meta: Mapping[str, Any], fmt: str, *, neutralised: bool = True
) -> bytes:
    """The page as bytes; ``neutralised``: CSV text cells that start like a formula get a ``'``
    (see ``aurum.formats``)."""
    if isinstance(page, ServedSlice):  # JSON already: the same bytes orjson would make
        if fmt != "json":
            raise AssertionError("a served slice answers JSON only")
        return b'{"meta":' + orjson.dumps(meta, option=_JSON) + b',"data":' + page.json + b"}"
    table = page.table
    if fmt == "json":
        return orjson.dumps({"meta": meta, "data": json_rows(table)}, option=_JSON)
    if fmt == "csv":
        return csv_bytes(table, neutralised=neutralised)
    if fmt == "xlsx":  # the rows, then what they are: the snapshot and the page's facts
        about = pa.table({
            "field": list(meta), "value": [_about(value) for value in meta.values()]
        })  # fmt: skip
        return xlsx_bytes([Sheet("data", table), Sheet("about", about)])
    sink = io.BytesIO()
    schema = table.schema.with_metadata({b"aurum.meta": orjson.dumps(meta, option=_JSON)})
    pq.write_table(table.cast(schema), sink, compression="zstd")
    return sink.getvalue()


_JSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _about(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, option=_JSON).decode()


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _next_url(request: Request, cursor: str) -> str:
    return str(request.url.include_query_params(cursor=cursor))
