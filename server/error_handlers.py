"""The app's last line: no input answers 500, and a 500 that still happens is logged with its traceback.

- Values no column can hold (an id beyond 64 bits, a NUL on PostgreSQL that slipped past the typed inputs) and
  bodies nested beyond reason answer 400, never 500.
- Framework errors (404, 405, 400...) keep their status; a 404 never repeats a path (no server paths in bodies).
- Anything else is a bug: logged with its traceback under a request id, which the 500 answer shows so a person can
  quote it.
"""

from __future__ import annotations

import logging
import uuid

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions.responses import create_exception_response

log = logging.getLogger("server.errors")

MAX_SIGNED_64 = 2**63 - 1


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """Litestar's own answer for framework errors, with a 404's detail replaced (it may quote a path)."""
    if exc.status_code == 404:
        return Response({"status_code": 404, "detail": "Not found."}, status_code=404)
    return create_exception_response(request, exc)


def out_of_range_handler(request: Request, exc: Exception) -> Response:
    """A value the database or the driver cannot hold (an integer beyond 64 bits, a NUL byte): 400."""
    log.warning("refused a value out of range on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return Response(
        {"error": "invalid", "message": "A value in the request is out of range or not allowed."}, status_code=400
    )


def too_deep_handler(request: Request, exc: RecursionError) -> Response:
    """A request body nested beyond reason (JSON 100,000 levels deep): 400."""
    return Response({"error": "invalid", "message": "The request body is nested too deeply."}, status_code=400)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    """Any other exception: a bug. Logged with its traceback and a request id; the answer names only the id."""
    request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    log.error("500 on %s %s (request id %s)", request.method, request.url.path, request_id, exc_info=exc)
    return Response(
        {"status_code": 500, "detail": "Internal Server Error", "request_id": request_id},
        status_code=500,
        headers={"X-Request-ID": request_id},
    )
