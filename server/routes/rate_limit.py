"""Request rate limits per client address (as the trusted-proxy rule resolves it), counted in the database so every
web process and a restart share them (services/rate_counters.py). A route opts in with `guards=[limit.guard]`; the
refusal is a TooManyRequestsException, which the route's exception handlers turn into its own 429 page or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler

from ..client_address import client_address
from ..services import rate_counters


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests per `window` per client address, over every route that shares `name`."""

    name: str
    limit: int
    window: timedelta

    async def guard(self, connection: ASGIConnection, _: BaseRouteHandler) -> None:
        """Litestar guard: count this request; refuse it over the limit."""
        ctx = connection.app.state.ctx
        key = f"rate:{self.name}:{client_address(connection) or 'unknown'}"
        over = await anyio.to_thread.run_sync(
            lambda: rate_counters.over_limit(ctx.engine, key, ctx.clock.now(), limit=self.limit, window=self.window)
        )
        if over:
            raise TooManyRequestsException("Too many requests. Try again later.")
