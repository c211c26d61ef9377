"""Errors to HTTP in one place: every error is ``application/problem+json`` (RFC 9457).

The body carries the stable ``code`` of the ``AurumError`` (or of the HTTP layer's own checks),
a message for a person, the request id and the error's small diagnostics. Never a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aurum.errors import AurumError, Unavailable

__all__ = ["PROBLEM", "RETRY_AFTER_S", "install", "problem", "title"]

PROBLEM = "application/problem+json"
# Seconds a client is asked to wait when a dependency of the API is down.
RETRY_AFTER_S = 5
log = logging.getLogger("aurum.api")

_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone",
    413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


def problem(request: Request, status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": f"https://aurum.dev/problems/{code}",
        "title": title(status),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=str),
        status_code=status,
        media_type=PROBLEM,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document. (Anything else
    that escapes a route is a 500 ``internal_error``, answered by ``app.RequestContext``.)"""

    async def aurum_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AurumError)
        status = exc.http_status  # the class says (aurum.errors)
        if status >= 500:
            log.warning("%s %s: %s %s", request.method, request.url.path, exc.code, exc.message)
        if isinstance(exc, Unavailable):  # hosts and ports stay in the log
            response = problem(request, status, exc.code, exc.public)
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        response = problem(request, status, exc.code, exc.message, diagnostics=exc.diagnostics)
        if status == 401:
            response.headers["WWW-Authenticate"] = (
                f'Bearer error="invalid_token", code="{exc.code}"'
            )
        if status == 429:
            wait = float(exc.diagnostics.get("retry_after_s", 1))
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        if status == 503:  # a read past its time limit: worth trying again
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "parameter": ".".join(str(p) for p in error.get("loc", ())[1:]) or None,
                "in": str(error.get("loc", ("request",))[0]),
                "message": error.get("msg", ""),
            }
            for error in exc.errors()
        ]
        first = errors[0] if errors else {"parameter": None, "message": "invalid request"}
        return problem(
            request,
            400,
            "parameter_invalid",
            f"{first['parameter'] or 'request'}: {first['message']}",
            errors=errors,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}.get(
            exc.status_code, "http_error"
        )
        response = problem(request, exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(AurumError, aurum_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
