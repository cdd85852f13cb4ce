"""What every outbox module shares to talk to the `reminder` table in SQL: the table, a bind, a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from ...models import OutboundMessage

OUTBOX = OutboundMessage.__table__
Bind = Engine | Connection  # dispatch functions take either; a worker's pass keeps one connection for all of them


@contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """One transaction on an engine (a pooled connection) or on a connection the caller holds."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with bind.begin():
            yield bind
