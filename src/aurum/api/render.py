"""Answers as HTTP: ``{meta, data}`` JSON, CSV or Parquet; cursors; ETags; the cache.

A read answer is a pure function of (route, query, snapshot, format), so that tuple is the cache
key and its digest the ETag: ``If-None-Match`` is answered with 304 before any data is read, and
a publish changes every key by changing the snapshot.

Cursors pin the snapshot of the first page and carry the offset of the next one, plus a digest
of the query they belong to: a cursor used with another query is refused (``cursor_foreign``).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Request
from starlette.responses import Response

from aurum import __version__
from aurum.api.cache import Cache
from aurum.api.problems import ApiError
from aurum.query.curves import Page

__all__ = ["FORMATS", "Cursor", "Reader", "answer", "decode_cursor", "encode_cursor"]

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
_ACCEPT = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
# Parameters that do not change what a page holds (so they stay out of the query digest).
_PAGING = frozenset({"cursor", "limit", "format"})


@dataclass(frozen=True, slots=True)
class Cursor:
    snapshot_id: int
    offset: int
    query: str


def query_digest(path: str, params: Mapping[str, list[str]]) -> str:
    canonical = [(k, sorted(v)) for k, v in sorted(params.items()) if k not in _PAGING]
    return hashlib.blake2b(orjson.dumps([path, canonical]), digest_size=8).hexdigest()


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps({"s": cursor.snapshot_id, "o": cursor.offset, "q": cursor.query})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, query: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        fields = orjson.loads(raw)
        cursor = Cursor(int(fields["s"]), int(fields["o"]), str(fields["q"]))
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise ApiError("cursor_invalid", "the cursor is not one this API issued") from None
    if cursor.offset < 0 or cursor.snapshot_id < 0 or not isinstance(fields, dict):
        raise ApiError("cursor_invalid", "the cursor is not one this API issued")
    if cursor.query != query:
        raise ApiError(
            "cursor_foreign", "the cursor belongs to another query: repeat that query's filters"
        )
    return cursor


def negotiate(request: Request) -> str:
    """``format=`` wins over ``Accept``; JSON when neither says otherwise."""
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in FORMATS:
            raise ApiError(
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
        raise ApiError(
            "format_unsupported", f"can answer {', '.join(FORMATS.values())}, not {accept!r}"
        )
    return "json"


# read(snapshot id, limit, offset, format) -> a page; the format lets a reader answer JSON
# straight from a served slice.
Reader = Callable[[int | None, int, int, str], Page]


def answer(
    request: Request,
    read: Reader,
    *,
    pin: Callable[[int | None], int],
    cache: Cache,
    limit: int,
    max_limit: int,
    pinned_by_request: bool,
    scope: str = "*",
    meta: Mapping[str, Any] | None = None,
) -> Response:
    """Run ``read(snapshot_id, limit, offset)`` for this request, or answer from cache / 304.

    ``pin(cursor_snapshot)`` resolves the snapshot before anything is read. ``scope`` names
    what the caller may see (its entitled vendors): callers of different scopes never share a
    cache entry or an ETag.
    """
    fmt = negotiate(request)
    params = {k: request.query_params.getlist(k) for k in request.query_params}
    digest = query_digest(request.url.path, params)
    cursor = None
    if "cursor" in params:
        cursor = decode_cursor(params["cursor"][-1], digest)
    capped = min(limit, max_limit)
    snapshot = pin(cursor.snapshot_id if cursor else None)
    offset = cursor.offset if cursor else 0
    key = f"{__version__}|{digest}|{snapshot}|{offset}|{capped}|{fmt}|{scope}"
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
    page_meta: dict[str, Any] = {
        "snapshot_id": page.snapshot_id,
        "count": page.rows,
        "offset": offset,
        "limit": capped,
        "limit_capped": limit > capped,
        "has_more": page.has_more,
        "next_cursor": (
            encode_cursor(Cursor(page.snapshot_id, offset + page.rows, digest))
            if page.has_more
            else None
        ),
        "query_ms": round(page.seconds * 1000, 3),
        **(meta or {}),
        **page.extra,
    }
    body = render(page, page_meta, fmt)
    if page_meta["next_cursor"]:
        headers["Link"] = f'<{_next_url(request, page_meta["next_cursor"])}>; rel="next"'
        headers["X-Aurum-Next-Cursor"] = page_meta["next_cursor"]
    cache.set(key, body)
    headers["X-Aurum-Cache"] = "miss"
    return Response(body, media_type=FORMATS[fmt], headers=headers)


def render(page: Page, meta: Mapping[str, Any], fmt: str) -> bytes:
    if page.served is not None:  # the rows are JSON already: the same bytes orjson would make
        if fmt != "json":
            raise AssertionError("a served slice answers JSON only")
        return (
            b'{"meta":' + orjson.dumps(meta, option=_JSON) + b',"data":' + page.served.json + b"}"
        )
    table = page.table
    if fmt == "json":
        return orjson.dumps({"meta": meta, "data": table.to_pylist()}, option=_JSON)
    if fmt == "csv":
        return to_csv(table)
    sink = io.BytesIO()
    schema = table.schema.with_metadata({b"aurum.meta": orjson.dumps(meta, option=_JSON)})
    pq.write_table(table.cast(schema), sink, compression="zstd")
    return sink.getvalue()


_JSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def to_csv(table: pa.Table) -> bytes:
    """CSV as Excel reads it: a header, ISO dates, empty cells for nulls, lists as a|b."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            [
                "|".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                for v in row.values()
            ]
        )
    return out.getvalue().encode()


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _next_url(request: Request, cursor: str) -> str:
    return str(request.url.include_query_params(cursor=cursor))
