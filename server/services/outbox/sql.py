"""What every outbox module shares to talk to the `reminder` table in SQL: the table, a bind, a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
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


def in_list(column: sa.ColumnElement, name: str, item_type: Any, dialect: str) -> sa.ColumnElement:
    """`column IN (:name...)`; on PostgreSQL `= ANY(:name)`, whose SQL text (so its prepared plan) never changes."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(name, type_=ARRAY(item_type)))
    return column.in_(sa.bindparam(name, expanding=True))
