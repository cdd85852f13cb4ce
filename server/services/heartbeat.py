"""The worker's heartbeat row, written by the worker and read by /healthz."""

from __future__ import annotations

import os
import socket
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..db import session_scope
from ..models import WorkerHeartbeat


def beat(engine: Engine, name: str, now: datetime) -> None:
    """Record that the worker called `name` is alive at `now`."""
    with session_scope(engine) as session:
        row = session.get(WorkerHeartbeat, name)
        if row is None:
            session.add(WorkerHeartbeat(name=name, beat_at=now, pid=os.getpid(), host=socket.gethostname()))
        else:
            row.beat_at, row.pid, row.host = now, os.getpid(), socket.gethostname()


def worker_heartbeat_age(engine: Engine, now: datetime) -> float | None:
    """Seconds since the freshest heartbeat of any worker, or None if no worker ever ran."""
    with engine.connect() as conn:
        # max() keeps the column's UTCDateTime type, so the value comes back aware on every engine.
        latest = conn.execute(sa.select(sa.func.max(WorkerHeartbeat.__table__.c.beat_at))).scalar()
    if latest is None:
        return None
    return max(0.0, (now - latest).total_seconds())
