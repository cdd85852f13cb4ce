"""Health for load balancers and operators: the database answers, the worker is alive, reminders go out on time.

503 (so a load balancer or an uptime check raises the alarm) when the database is unreachable, when the freshest
worker heartbeat is older than WORKER_STALE_SECONDS (in production also when no worker ever ran), or when the oldest
due message has waited longer than DISPATCH_LAG_LIMIT_SECONDS.
"""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from ..context import Ctx
from ..db import ping
from ..services.health import dispatch_health
from ..services.heartbeat import worker_heartbeat_age


@get("/healthz", sync_to_thread=True, tags=["operations"], summary="Health of the server, database, worker and outbox")
def healthz(ctx: Ctx) -> Response[dict[str, Any]]:
    settings = ctx.settings
    if not ping(ctx.engine):
        return Response(
            {
                "status": "error",
                "database": "unreachable",
                "worker_heartbeat_age_s": None,
                "sms_channel": settings.sms_channel_name,
            },
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    now = ctx.clock.now()
    age = worker_heartbeat_age(ctx.engine, now)
    outbox = dispatch_health(ctx.engine, now)
    problems: list[str] = []
    if age is None and settings.environment == "production":
        problems.append("no worker has run")
    elif age is not None and age > settings.worker_stale_seconds:
        problems.append(f"the worker's last heartbeat is {round(age)} s old")
    if outbox.lag_seconds is not None and outbox.lag_seconds > settings.dispatch_lag_limit_seconds:
        problems.append(f"the oldest due message has waited {round(outbox.lag_seconds)} s")
    body: dict[str, Any] = {
        "status": "error" if problems else "ok",
        "database": "ok",
        "worker_heartbeat_age_s": None if age is None else round(age, 1),
        "sms_channel": settings.sms_channel_name,
        "dispatch_lag_s": None if outbox.lag_seconds is None else round(outbox.lag_seconds, 1),
        "unknown_messages": outbox.unknown_messages,
    }
    if problems:
        body["problems"] = problems
    return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE if problems else HTTP_200_OK)
