"""Logs and traces: one JSON line per log record, carrying its request, tenant and run; spans
across API → query → lake when tracing is on.

The context travels in context variables that the API's middleware (request id, tenant) and the
run kernel (run id) set, so any module's ``logging.getLogger(...)`` lines carry them without
passing them around::

    with telemetry.context(run_id=run.run_id):
        log.info("staged")   # {"level": "INFO", ..., "msg": "staged", "run_id": "..."}

Tracing is off by default and then costs one check per span. ``configure_tracing(True)`` needs
the OpenTelemetry SDK (``pip install 'aurum[otel]'``): without it, it raises
``NotInstalledError`` rather than tracing nothing. Finished spans go to the exporters the
OpenTelemetry environment names (``OTEL_TRACES_EXPORTER``, OTLP endpoint) when its exporter
package is installed, and always to a small in-memory ring that the operator's route
``/v1/observability/traces`` shows.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aurum.errors import NotInstalledError

__all__ = [
    "JsonFormatter", "bind", "configure_logging", "configure_tracing", "context", "current",
    "recent_spans", "span", "tracing_enabled",
]  # fmt: skip

_FIELDS = ("request_id", "tenant", "run_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"aurum_{name}", default=None) for name in _FIELDS
}


def current() -> dict[str, str]:
    """The context set now (request id, tenant, run id), without the unset ones."""
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


@contextlib.contextmanager
def context(**values: str | None) -> Iterator[None]:
    """Set some of request_id, tenant, run_id for the block (and what it calls)."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**values: str | None) -> None:
    """Set some of the context for the rest of the current task (a request's, from its
    authentication on); :func:`context` is the scoped form."""
    for name, value in values.items():
        _context[name].set(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context, the error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **current(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """The line, then the context it does not already name: ``[tenant=acme run_id=…]``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        found = {k: v for k, v in current().items() if f"{k}={v}" not in text}
        return f"{text} [{' '.join(f'{k}={v}' for k, v in found.items())}]" if found else text


_handler: logging.Handler | None = None


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Aurum's loggers (``aurum.*``) write to stderr as ``text`` or ``json``; called by each
    composition root once (again: replaces its own handler, never stacks)."""
    global _handler
    root = logging.getLogger("aurum")
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(
        JsonFormatter() if fmt == "json" else _TextFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(_handler)
    root.setLevel(level.upper())
    root.propagate = False


# -- traces ----------------------------------------------------------------------------------

_tracer: Any = None
_recent: deque[dict[str, Any]] = deque(maxlen=200)
_recent_lock = threading.Lock()


def tracing_enabled() -> bool:
    return _tracer is not None


def configure_tracing(enabled: bool, *, kept: int = 200) -> None:
    """Turn spans on (or off). On needs the OpenTelemetry SDK: ``NotInstalledError`` if it is
    missing, never a silent no-op."""
    global _tracer, _recent
    if not enabled:
        _tracer = None
        return
    try:
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult as Result
    except ImportError as exc:
        raise NotInstalledError(
            "not_installed",
            "AURUM_TELEMETRY__TRACES is on but the OpenTelemetry SDK is not installed:"
            " pip install 'aurum[otel]' (or turn tracing off)",
            extra="otel",
        ) from exc

    class Recent(SpanExporter):
        """Keeps the last ``kept`` finished spans for the operator's route."""

        def export(self, spans: Any) -> Result:
            with _recent_lock:
                _recent.extend(_summary(s) for s in spans if isinstance(s, ReadableSpan))
            return Result.SUCCESS

    with _recent_lock:
        _recent = deque(maxlen=kept)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Recent()))
    _add_configured_exporters(provider)
    _tracer = provider.get_tracer("aurum")


def _add_configured_exporters(provider: Any) -> None:
    """The OTLP exporter, when its package is installed and an endpoint is configured."""
    import os

    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):  # fmt: skip
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise NotInstalledError(
            "not_installed", "an OTLP endpoint is set but its exporter is not installed:"
            " pip install opentelemetry-exporter-otlp-proto-http", extra="otel",
        ) from exc  # fmt: skip
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span named ``name`` around the block when tracing is on (else nothing), a child of
    the current one, carrying ``attributes`` and the log context."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name) as opened:
        for key, value in {**current(), **attributes}.items():
            if value is not None:
                opened.set_attribute(f"aurum.{key}", value if isinstance(value, int | float | bool)
                                     else str(value))  # fmt: skip
        yield opened


def recent_spans(limit: int = 100) -> list[dict[str, Any]]:
    """The newest finished spans, newest first."""
    with _recent_lock:
        return list(_recent)[::-1][:limit]


def _summary(s: Any) -> dict[str, Any]:
    context = s.get_span_context()
    parent = s.parent
    return {
        "name": s.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "start": datetime.fromtimestamp(s.start_time / 1e9, UTC).isoformat(),
        "ms": round((s.end_time - s.start_time) / 1e6, 3),
        "status": s.status.status_code.name,
        "attributes": dict(s.attributes or {}),
    }
