"""Security and caching headers on every response, including the framework's own error pages (404, 405, 400, 403).

A `before_send` hook sees every response the app sends (an `after_request` hook misses exception responses).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from .settings import Settings

# Health data: no framing (clickjacking of staff actions), no referrer leaking sign-in links or patient ids, no script
# but our own files (no inline script anywhere; the JSON strings block in base.html is data, not script), no plugins.
# Inline styles stay allowed: the Today page inlines its critical CSS so it paints on a slow phone at once.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
HSTS = "max-age=31536000; includeSubDomains"  # production only: it is served over https (settings insist)
# Versioned static assets may be cached; everything else can carry patient data or a live link: never stored.
CACHEABLE_PREFIXES = ("/static/",)


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """The `before_send` hook that adds the headers a response has not set itself."""
    headers = dict(SECURITY_HEADERS)
    if settings.environment == "production":
        headers["Strict-Transport-Security"] = HSTS

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        response_headers = MutableScopeHeaders.from_message(message)
        for name, value in headers.items():
            if name not in response_headers:
                response_headers[name] = value
        if "cache-control" not in response_headers and not scope.get("path", "").startswith(CACHEABLE_PREFIXES):
            response_headers["Cache-Control"] = "no-store"

    return add_headers
