"""Claims (architecture flow 3): taking due rows for one worker, and giving back or recovering the ones it holds.

`claim_due_messages` takes due rows under a token and a lease (SKIP LOCKED on PostgreSQL); `mark_sending` commits
`claimed -> sending` before a request leaves (the dispatcher's turn does it in the statement that writes outcomes:
outcomes.record_progress); `release_claims` gives back rows never sent; `reap_stale_claims` recovers the rows of
dead workers without ever risking a second send; `expire_overdue` retires rows that would arrive too late. Every
write is a compare-and-set on the claim token and status.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import select

from ...db import in_list
from .sql import OUTBOX, Bind, transaction
from .vocabulary import DEFAULT_EXPIRY_REASON, EXPIRY_REASONS, MessageKind, MessageStatus

log = logging.getLogger(__name__)
_T = OUTBOX


@dataclass(frozen=True)
class ClaimedMessage:
    """A row this worker holds under `token`; everything the sender needs besides the recipient."""

    id: int
    token: str
    kind: str
    channel: str
    patient_id: int | None
    staff_id: int | None
    alert_id: int | None
    to_address: str | None
    body: str | None
    payload: dict[str, Any]
    scheduled_for: datetime
    send_at: datetime
    expires_at: datetime | None
    attempts: int

    @property
    def to_patient(self) -> bool:
        # Pages go to staff (about a patient); every other row with a patient goes to that patient, even when a
        # staff member wrote it (invites and sign-in links carry the sender in staff_id).
        return self.patient_id is not None and self.kind != MessageKind.PAGE


_CLAIM_COLUMNS = (
    _T.c.id,
    _T.c.kind,
    _T.c.channel,
    _T.c.patient_id,
    _T.c.staff_id,
    _T.c.alert_id,
    _T.c.to_address,
    _T.c.body,
    _T.c.payload,
    _T.c.scheduled_for,
    _T.c.send_at,
    _T.c.expires_at,
    _T.c.attempts,
)


def _param(name: str, column: str) -> sa.BindParameter:
    return sa.bindparam(name, type_=_T.c[column].type)


# The dispatcher's statements are built once per dialect: building SQLAlchemy constructs on every call costs
# more CPU than the database work itself at a few thousand messages a second.
@lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> sa.Update:
    # A materialized CTE, not `id IN (subquery)`: PostgreSQL may rescan an IN-subquery, and with SKIP LOCKED
    # each rescan can pick other rows, so more than `limit` rows would be claimed.
    due = (
        select(_T.c.id)
        .where(_T.c.status == MessageStatus.PENDING, _T.c.next_attempt_at <= _param("due_before", "send_at"))
        .order_by(_T.c.next_attempt_at)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        sa.update(_T)
        .where(_T.c.id == due.c.id, _T.c.status == MessageStatus.PENDING)
        .values(
            status=MessageStatus.CLAIMED,
            claim_token=sa.bindparam("token", type_=sa.String),
            claimed_at=_param("now", "claimed_at"),
            next_attempt_at=_param("deadline", "next_attempt_at"),
            updated_at=_param("now", "updated_at"),
        )
        .returning(*_CLAIM_COLUMNS)
    )


@lru_cache(maxsize=4)
def _mark_statement(dialect: str) -> sa.Update:
    return (
        sa.update(_T)
        .where(
            in_list(_T.c.id, "ids", sa.Integer, dialect),
            _T.c.claim_token == sa.bindparam("token", type_=sa.String),
            _T.c.status == MessageStatus.CLAIMED,
        )
        .values(
            status=MessageStatus.SENDING,
            attempts=_T.c.attempts + 1,
            next_attempt_at=_param("deadline", "next_attempt_at"),
            updated_at=_param("now", "updated_at"),
        )
        .returning(_T.c.id)
    )


def claim_due_messages(
    bind: Bind,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    due_before: datetime | None = None,
    token: str | None = None,
) -> list[ClaimedMessage]:
    """Claim up to `limit` rows due at `due_before` (default `now`) for this worker.

    PostgreSQL: SKIP LOCKED, so any number of workers claim disjoint rows; SQLite has one writer at a time.
    The claim's lease deadline is kept in next_attempt_at, so finding dead claims is the same index lookup.
    """
    token = token or uuid.uuid4().hex
    with transaction(bind) as conn:
        rows = conn.execute(
            _claim_statement(conn.dialect.name),
            {
                "due_before": due_before or now,
                "limit": limit,
                "token": token,
                "now": now,
                "deadline": now + lease,
            },
        ).all()
    claims = [
        ClaimedMessage(
            id=r.id,
            token=token,
            kind=r.kind,
            channel=r.channel,
            patient_id=r.patient_id,
            staff_id=r.staff_id,
            alert_id=r.alert_id,
            to_address=r.to_address,
            body=r.body,
            payload=json.loads(r.payload) if r.payload else {},
            scheduled_for=r.scheduled_for,
            send_at=r.send_at,
            expires_at=r.expires_at,
            attempts=r.attempts,
        )
        for r in rows
    ]
    return sorted(claims, key=lambda c: (c.send_at, c.id))


def mark_sending(bind: Bind, claims: Iterable[ClaimedMessage], now: datetime, lease: timedelta) -> set[int]:
    """Record, before the requests leave, that these attempts may reach a provider; returns the ids still held.

    The dispatcher marks a row only as a free sender thread takes it, so `sending` rows are the sends in flight;
    rows waiting in memory are still `claimed`. Counting the attempt here is what "attempts show the request
    could have been sent" means for the reaper.
    """
    with transaction(bind) as conn:
        return mark_sending_in_transaction(conn, claims, now, lease)


def mark_sending_in_transaction(
    conn: Connection, claims: Iterable[ClaimedMessage], now: datetime, lease: timedelta
) -> set[int]:
    """`mark_sending` inside the caller's transaction (a dispatcher turn also writes outcomes in it)."""
    started: set[int] = set()
    by_token: dict[str, list[int]] = {}
    for claim in claims:
        by_token.setdefault(claim.token, []).append(claim.id)
    statement = _mark_statement(conn.dialect.name)
    for token, ids in by_token.items():
        started.update(
            conn.execute(statement, {"ids": ids, "token": token, "now": now, "deadline": now + lease}).scalars()
        )
    return started


def release_claims(bind: Bind, claims: Iterable[ClaimedMessage], now: datetime) -> int:
    """Give back claimed rows that were never sent (the worker is stopping): due again at once."""
    released = 0
    with transaction(bind) as conn:
        for claim in claims:
            stmt = (
                sa.update(_T)
                .where(_T.c.id == claim.id, _T.c.claim_token == claim.token, _T.c.status == MessageStatus.CLAIMED)
                .values(
                    status=MessageStatus.PENDING, claim_token=None, claimed_at=None, next_attempt_at=now, updated_at=now
                )
            )
            released += conn.execute(stmt).rowcount
    return released


@dataclass(frozen=True)
class ReapResult:
    returned: int  # claimed, never sent: pending again
    unknown: int  # sending when the lease ran out: may have been accepted
    unknown_ids: tuple[int, ...] = field(
        default=(), compare=False
    )  # which ones (staff hear about the ones that matter: outbox/unknowns.py)


REAPED_UNKNOWN_REASON = (
    "the worker stopped during the send (lease expired); the provider may have accepted it, "
    "so it is not re-sent: a delivery receipt resolves it, otherwise staff decide"
)


def reap_stale_claims(bind: Bind, now: datetime) -> ReapResult:
    """Recover rows of workers that died or stalled, never risking a second send.

    1. A claim's lease deadline is in next_attempt_at (set at claim, and again when the send begins).
    2. `claimed` past its deadline: the worker never wrote `sending`, which it commits before any request leaves,
       so nothing was sent: the row goes back to `pending` and any worker may send it.
    3. `sending` past its deadline: the request may have left and been accepted. It becomes `unknown` with a
       reason and is never re-sent automatically; a later status callback (which carries the row id) resolves it.
       The claim token is kept, so if the stalled worker does finish, its own result still lands.
    """
    back = (
        sa.update(_T)
        .where(_T.c.status == MessageStatus.CLAIMED, _T.c.next_attempt_at <= now)
        .values(status=MessageStatus.PENDING, claim_token=None, claimed_at=None, next_attempt_at=now, updated_at=now)
    )
    lost = (
        sa.update(_T)
        .where(_T.c.status == MessageStatus.SENDING, _T.c.next_attempt_at <= now)
        .values(status=MessageStatus.UNKNOWN, last_error=REAPED_UNKNOWN_REASON, next_attempt_at=None, updated_at=now)
        .returning(_T.c.id)
    )
    with transaction(bind) as conn:
        returned = conn.execute(back).rowcount
        unknown_ids = tuple(conn.execute(lost).scalars())
    if returned or unknown_ids:
        log.warning("reaped stale claims: %d back to pending, %d unknown", returned, len(unknown_ids))
    return ReapResult(returned, len(unknown_ids), unknown_ids)


def expire_overdue(bind: Bind, now: datetime) -> int:
    """Due rows past their usefulness expire with a reason instead of arriving late."""
    reason = sa.case(*((_T.c.kind == kind, text) for kind, text in EXPIRY_REASONS.items()), else_=DEFAULT_EXPIRY_REASON)
    stmt = (
        sa.update(_T)
        .where(_T.c.status == MessageStatus.PENDING, _T.c.next_attempt_at <= now, _T.c.expires_at <= now)
        .values(status=MessageStatus.EXPIRED, cancel_reason=reason, next_attempt_at=None, updated_at=now)
    )
    with transaction(bind) as conn:
        return conn.execute(stmt).rowcount
