"""Reads of the lake: every one through :class:`Query`, pinned to a snapshot."""

from aurum.query.engine import AsAt, Query, QueryResult, resolve_snapshot

__all__ = ["AsAt", "Query", "QueryResult", "resolve_snapshot"]
