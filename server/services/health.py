"""What /healthz reports about the outbox: how late the oldest due message is, and how many sends ended unknown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

# An `unknown` outcome means the worker stopped while a request was in flight: the provider may or may not have
# accepted it, so a person has to check (the message is never re-sent blindly).
UNKNOWN_STATUS = "unknown"


@dataclass(frozen=True)
class DispatchHealth:
    """The outbox as an operator needs it: lag of the oldest due message (None when nothing is due) and unknowns."""

    lag_seconds: float | None
    unknown_messages: int


def dispatch_health(engine: Engine, now: datetime) -> DispatchHealth:
    """How long the oldest due, unsent message has waited, and how many messages ended `unknown`."""
    outbox = SQLModel.metadata.tables["reminder"]
    due_at = sa.func.coalesce(outbox.c.next_attempt_at, outbox.c.send_at)
    with engine.connect() as conn:
        oldest = conn.execute(
            sa.select(sa.func.min(due_at)).where(outbox.c.status == "pending", due_at <= now)
        ).scalar()
        unknown = conn.execute(sa.select(sa.func.count()).where(outbox.c.status == UNKNOWN_STATUS)).scalar_one()
    if oldest is None:
        return DispatchHealth(lag_seconds=None, unknown_messages=unknown)
    if oldest.tzinfo is None:  # min() over a coalesce loses the column's UTC type on some engines
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return DispatchHealth(lag_seconds=max(0.0, (now - oldest).total_seconds()), unknown_messages=unknown)
