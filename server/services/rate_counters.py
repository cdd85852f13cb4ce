"""Counters in time windows, in the database, so every web process and a restart share them (rate limits on sign-in
pages and links, sign-in throttling). Each change is one atomic statement on the counter's row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ..models import RateCounter

_T = RateCounter.__table__
KEY_LENGTH = 200


@dataclass(frozen=True)
class Count:
    """A counter after a change: hits in the current window, and until when the key is blocked (if it is)."""

    count: int
    window_start: datetime
    blocked_until: datetime | None

    def blocked(self, now: datetime) -> bool:
        return self.blocked_until is not None and self.blocked_until > now


def _key(key: str) -> str:
    return key[:KEY_LENGTH]


def _ensure_row(conn: Connection, key: str, now: datetime) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(_T).values(key=key, count=0, window_start=now).on_conflict_do_nothing(index_elements=["key"]))


def hit(engine: Engine, key: str, now: datetime, window: timedelta) -> Count:
    """Count one event for `key`; the count restarts when its window (from the first event) has passed."""
    key = _key(key)
    expired = _T.c.window_start <= now - window
    with engine.begin() as conn:
        _ensure_row(conn, key, now)
        row = conn.execute(
            sa.update(_T)
            .where(_T.c.key == key)
            .values(
                count=sa.case((expired, 1), else_=_T.c.count + 1),
                window_start=sa.case((expired, now), else_=_T.c.window_start),
            )
            .returning(_T.c.count, _T.c.window_start, _T.c.blocked_until)
        ).one()
    return Count(row.count, row.window_start, row.blocked_until)


def block(engine: Engine, key: str, until: datetime) -> None:
    """Refuse `key` until `until` (never shortening a longer block)."""
    key = _key(key)
    with engine.begin() as conn:
        _ensure_row(conn, key, until)
        conn.execute(
            sa.update(_T)
            .where(_T.c.key == key, sa.or_(_T.c.blocked_until.is_(None), _T.c.blocked_until < until))
            .values(blocked_until=until)
        )


def current(engine: Engine, key: str) -> Count | None:
    """The counter as stored, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(_T.c.count, _T.c.window_start, _T.c.blocked_until).where(_T.c.key == _key(key))
        ).first()
    return Count(row.count, row.window_start, row.blocked_until) if row else None


def clear(engine: Engine, key: str) -> None:
    """Forget `key` (a successful sign-in clears its failures)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(_T).where(_T.c.key == _key(key)))


def over_limit(engine: Engine, key: str, now: datetime, *, limit: int, window: timedelta) -> bool:
    """A request rate limit: count this request; True when `key` made more than `limit` in the window."""
    return hit(engine, key, now, window).count > limit
