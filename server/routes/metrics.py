"""Prometheus metrics at /metrics: request latency by route (Litestar's Prometheus middleware) plus the domain figures
of `services.metrics`. Off unless METRICS_TOKEN is set; then a scraper sends `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac

from litestar import get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ..context import Ctx
from ..services.metrics import domain_metrics
from ..settings import Settings


def requires_metrics_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """404 while metrics are off (METRICS_TOKEN empty), 401 without the right bearer token."""
    settings: Settings = connection.app.state.ctx.settings
    token = settings.metrics_token.get_secret_value()
    if not token:
        raise NotFoundException()
    sent = connection.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise NotAuthorizedException("A valid metrics token is required.")


@get("/metrics", guards=[requires_metrics_token], sync_to_thread=True, include_in_schema=False)
def metrics(ctx: Ctx) -> Response[bytes]:
    """Request metrics of this process, then the domain figures from the database."""
    body = generate_latest(REGISTRY) + generate_latest(domain_metrics(ctx.engine, ctx.clock.now()))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def prometheus_config() -> PrometheusConfig:
    """Latency by route template (never the raw path: ids and sign-in tokens stay out of the labels)."""
    return PrometheusConfig(
        app_name="companion",
        prefix="companion",
        group_path=True,
        exclude=["^/metrics$", "^/static/", "^/healthz$"],
        exclude_unhandled_paths=True,
    )
