"""Liveness for load balancers and operators: the database answers, and how old the worker's heartbeat is."""

from __future__ import annotations

from litestar import get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from ..context import Ctx
from ..db import ping
from ..services.heartbeat import worker_heartbeat_age


@get("/healthz", sync_to_thread=True, tags=["operations"], summary="Health of the server, database and worker")
def healthz(ctx: Ctx) -> Response[dict]:
    if not ping(ctx.engine):
        return Response(
            {"status": "error", "database": "unreachable", "worker_heartbeat_age_s": None},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    age = worker_heartbeat_age(ctx.engine, ctx.clock.now())
    return Response(
        {"status": "ok", "database": "ok", "worker_heartbeat_age_s": None if age is None else round(age, 1)},
        status_code=HTTP_200_OK,
    )
