"""Engine and sessions. Services own transactions: `with session_scope(engine) as s: ...` commits or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlmodel import Session

from .settings import Settings


def create_db_engine(settings_or_url: Settings | str, **kwargs) -> Engine:
    """An engine for SQLite (embedded, WAL, one writer) or PostgreSQL (psycopg 3)."""
    url = settings_or_url if isinstance(settings_or_url, str) else settings_or_url.database_url
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip on every checkout (issue 16). A connection the server dropped fails its
    # request once, and SQLAlchemy then discards the whole pool; recycling keeps idle connections from going stale.
    kwargs.setdefault("pool_recycle", 1800)
    return sa.create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web server read while the worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            # Take SQLite's write lock up front: a deferred transaction that reads and then writes fails at once
            # (SQLITE_BUSY, no waiting) when another writer committed in between; BEGIN IMMEDIATE waits instead.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


@lru_cache(maxsize=8)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for a one-statement look-up (who is signed in), on an autocommit connection: no BEGIN and no ROLLBACK.

    Not only two round trips fewer: psycopg forgets every statement it prepared on a connection when that connection
    rolls back (psycopg/_preparing.py), and a read-only session ends in a rollback. Before this, the sign-in look-up
    that starts every request wiped the statements the previous request prepared, so PostgreSQL parsed and planned
    each request's statements anew (the rules' inputs alone ~0.35 ms). Only for reads that need no common snapshot.
    """
    with Session(_autocommit(engine), expire_on_commit=False) as session:
        yield session


def in_list(column: sa.ColumnElement, name: str, item_type: Any, dialect: str) -> sa.ColumnElement:
    """`column IN (:name...)`; on PostgreSQL `= ANY(:name)`, whose SQL text (so its prepared plan) never changes."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=ARRAY(item_type)))
    return column.in_(sa.bindparam(name, expanding=True))
