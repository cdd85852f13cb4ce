"""Outcomes (architecture flow 3): what became of each claimed message, recorded with a compare-and-set on its claim.

`RetryPolicy` decides when a transient error is tried again; `record_progress` writes a dispatcher turn (finished
outcomes, and the next rows marked `sending`) in one transaction (one statement on PostgreSQL); `finish_claim`
records an outcome with side effects (opt-out, a care-team alert, push subscriptions) on its own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...context import AppContext
from ...db import session_scope
from ...models import Patient, PushSubscription, UTCDateTime
from ..alerts import AlertChange, publish_alert_changes
from .claims import ClaimedMessage, mark_sending_in_transaction
from .opt_out import opt_out_of_sms, raise_unreachable
from .sql import OUTBOX, Bind, transaction
from .unknowns import flag_unknown_messages
from .vocabulary import DELIVERY_FAILED, STAFF_MUST_KNOW_IF_UNKNOWN, MessageStatus

_T = OUTBOX


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter for transient errors; the provider's Retry-After is a floor."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(
            settings.send_max_attempts,
            timedelta(seconds=settings.retry_base_seconds),
            timedelta(seconds=settings.retry_max_seconds),
        )

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
        """How long to wait after `attempts` failed attempts (1 = the first failed)."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(0, attempts - 1))
        # Jitter in [ceiling/2, ceiling]: spread retries out without ever retrying at once.
        seconds = (rng or random).uniform(ceiling / 2, ceiling)
        return timedelta(seconds=max(seconds, retry_after or 0.0))


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message; `finish_claim` records it with a compare-and-set on the claim."""

    status: MessageStatus  # sent | pending (retry) | failed | unknown | cancelled | expired
    channel: str | None = None
    to_address: str | None = None
    provider_id: str | None = None
    delivery_status: str | None = None
    error: str | None = None  # last_error
    reason: str | None = None  # cancel_reason (cancelled, expired)
    retry_at: datetime | None = None
    opted_out: bool = False  # the provider says the number unsubscribed (21610)
    unreachable: str | None = None  # facts for a care-team alert: the patient could not be reached
    expired_endpoints: tuple[str, ...] = ()  # Web Push subscriptions that are gone (404/410)
    push_ok_endpoints: tuple[str, ...] = ()


def _finish_values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": outcome.status, "updated_at": now}
    if outcome.status == MessageStatus.PENDING:
        values.update(claim_token=None, claimed_at=None, next_attempt_at=outcome.retry_at)
    else:
        values["next_attempt_at"] = None
    if outcome.channel:
        values["channel"] = outcome.channel
    if outcome.to_address:
        values["to_address"] = outcome.to_address
    if outcome.error:
        values["last_error"] = outcome.error[:500]
    if outcome.status == MessageStatus.SENT:
        values.update(sent_at=now, provider_id=outcome.provider_id, last_error=None)
        if outcome.delivery_status:
            values["delivery_status"] = outcome.delivery_status
        if outcome.channel == "push":
            values["delivery_updated_at"] = now  # patient_state.last_delivered_at counts an accepted push
    if outcome.status in (MessageStatus.CANCELLED, MessageStatus.EXPIRED):
        values["cancel_reason"] = (outcome.reason or "")[:200]
    return values


# Compare-and-set on the claim. A row reaped to `unknown` while this worker was still sending keeps its token, so
# the real outcome still lands on it.
_HELD = (
    _T.c.id == sa.bindparam("b_id"),
    _T.c.claim_token == sa.bindparam("b_token"),
    sa.or_(
        *(
            _T.c.status == status  # no IN: executemany
            for status in (MessageStatus.CLAIMED, MessageStatus.SENDING, MessageStatus.UNKNOWN)
        )
    ),
)


@lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...]) -> sa.Update:
    values: dict[str, Any] = {name: sa.bindparam(f"v_{name}", type_=_T.c[name].type) for name in columns}
    if "delivery_status" in values:
        # A status callback may have arrived before the provider's answer: never move it backwards.
        values["delivery_status"] = sa.func.coalesce(_T.c.delivery_status, values["delivery_status"])
    if "last_error" in values:
        # ... nor erase the error it reported (receipts.py: "provider reported undelivered (error 30003)").
        failed = sa.or_(*(_T.c.delivery_status == status for status in sorted(DELIVERY_FAILED)))  # no IN: executemany
        values["last_error"] = sa.case((failed, _T.c.last_error), else_=values["last_error"])
    return sa.update(_T).where(*_HELD).values(values)


def _has_side_effects(outcome: Outcome) -> bool:
    return bool(outcome.opted_out or outcome.unreachable or outcome.expired_endpoints or outcome.push_ok_endpoints)


def _group_outcomes(
    items: Iterable[tuple[ClaimedMessage, Outcome]], now: datetime
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Outcome parameters grouped by the set of columns they write (one statement per group)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for claim, outcome in items:
        values = _finish_values(outcome, now)
        groups.setdefault(tuple(sorted(values)), []).append(
            {"b_id": claim.id, "b_token": claim.token, **{f"v_{k}": v for k, v in values.items()}}
        )
    return groups


def _naive_utc(value: Any) -> Any:
    """What UTCDateTime stores (naive UTC), for statements written in SQL text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _sql_type(name: str) -> str:
    """The SQL type of a progress parameter: b_id, b_token, or v_<column>."""
    if name == "b_id":
        return "integer"
    return "timestamp" if name.startswith("v_") and isinstance(_T.c[name[2:]].type, UTCDateTime) else "varchar"


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """Rows for jsonb_to_recordset: times as naive UTC ISO text (what UTCDateTime stores)."""
    return json.dumps(rows, default=lambda value: _naive_utc(value).isoformat())


@lru_cache(maxsize=64)
def _pg_progress_statement(shapes: tuple[tuple[str, ...], ...], mark: bool) -> sa.TextClause:
    """PostgreSQL: a whole dispatcher turn in one statement (one round trip, atomic).

    One data-modifying CTE per group of outcomes (UPDATE ... FROM the group's rows, a compare-and-set on each
    row's claim token) and one that marks the next rows `sending`; they touch disjoint rows. Each group's rows
    travel as one JSON parameter (jsonb_to_recordset): one value to encode instead of an array per column.
    """
    ctes, counts = [], []
    # A status callback may have outrun the provider's answer: its delivery status and the error it reported stay
    # (the same rule as _finish_statement's).
    failed = ", ".join(f"'{status}'" for status in sorted(DELIVERY_FAILED))
    special = {
        "delivery_status": "COALESCE(r.delivery_status, v.v_delivery_status)",
        "last_error": f"CASE WHEN r.delivery_status IN ({failed}) THEN r.last_error ELSE v.v_last_error END",
    }
    for n, columns in enumerate(shapes):
        names = ["b_id", "b_token", *(f"v_{c}" for c in columns)]
        record = ", ".join(f"{name} {_sql_type(name)}" for name in names)
        sets = ", ".join(f"{c} = {special.get(c, f'v.v_{c}')}" for c in columns)
        ctes.append(
            f"f{n} AS (UPDATE reminder AS r SET {sets} "
            f"FROM jsonb_to_recordset(CAST(:f{n} AS jsonb)) AS v({record}) "
            f"WHERE r.id = v.b_id AND r.claim_token = v.b_token "
            f"AND r.status IN ('claimed', 'sending', 'unknown') RETURNING 1)"
        )
        counts.append(f"(SELECT count(*) FROM f{n})")
    if mark:
        ctes.append(
            "s AS (UPDATE reminder AS r SET status = 'sending', attempts = r.attempts + 1, "
            "next_attempt_at = :deadline, updated_at = :now "
            "FROM jsonb_to_recordset(CAST(:s AS jsonb)) AS t(id integer, token varchar) "
            "WHERE r.id = t.id AND r.claim_token = t.token AND r.status = 'claimed' RETURNING r.id)"
        )
    started = "ARRAY(SELECT id FROM s)" if mark else "CAST(ARRAY[] AS integer[])"
    return sa.text(f"WITH {', '.join(ctes)} SELECT {' + '.join(counts) or '0'} AS recorded, {started} AS started")


def _write_progress(
    conn: Connection, simple: list, to_start: list[ClaimedMessage], now: datetime, lease: timedelta
) -> tuple[int, set[int]]:
    groups = _group_outcomes(simple, now)
    if conn.dialect.name == "postgresql":
        params: dict[str, Any] = {
            "now": _naive_utc(now),
            "deadline": _naive_utc(now + lease),
            "s": json.dumps([{"id": c.id, "token": c.token} for c in to_start]),
        }
        for n, rows in enumerate(groups.values()):
            params[f"f{n}"] = _json_rows(rows)
        row = conn.execute(_pg_progress_statement(tuple(groups), bool(to_start)), params).one()
        return row.recorded, set(row.started)
    recorded = 0
    for columns, rows in groups.items():
        result = conn.execute(_finish_statement(columns), rows)
        recorded += result.rowcount if result.rowcount >= 0 else len(rows)
    return recorded, mark_sending_in_transaction(conn, to_start, now, lease) if to_start else set()


def record_progress(
    ctx: AppContext,
    bind: Bind,
    finished: Iterable[tuple[ClaimedMessage, Outcome]],
    to_start: Iterable[ClaimedMessage],
    now: datetime,
    lease: timedelta,
) -> tuple[int, set[int]]:
    """One turn of a dispatch pass: write finished outcomes and mark the next rows `sending`, atomically.

    Returns (outcomes recorded, ids now held as sending). Outcomes with side effects (opt-out, an alert, push
    subscriptions) are recorded one by one by `finish_claim`, in their own transactions.
    """
    finished = list(finished)
    simple, special = [], []
    for item in finished:
        (special if _has_side_effects(item[1]) else simple).append(item)
    recorded = sum(finish_claim(ctx, claim, outcome, now) for claim, outcome in special)
    to_start = list(to_start)
    if not simple and not to_start:
        done, started = 0, set()
    else:
        with transaction(bind) as conn:
            done, started = _write_progress(conn, simple, to_start, now, lease)
    unknown = [
        claim.id
        for claim, outcome in finished
        if outcome.status == MessageStatus.UNKNOWN and claim.kind in STAFF_MUST_KNOW_IF_UNKNOWN
    ]
    if unknown:
        flag_unknown_messages(ctx, unknown, now)  # only rows this worker did record as unknown are still unknown
    return recorded + done, started


def finish_claims(ctx: AppContext, items: Iterable[tuple[ClaimedMessage, Outcome]], now: datetime) -> int:
    """Record many outcomes (side-effect-free ones in one transaction); returns how many rows were held."""
    return record_progress(ctx, ctx.engine, items, (), now, timedelta(0))[0]


def finish_claim(ctx: AppContext, claim: ClaimedMessage, outcome: Outcome, now: datetime) -> bool:
    """Record one outcome if this worker still holds the claim (compare-and-set on claim_token); False otherwise."""
    values = _finish_values(outcome, now)
    changes: list[AlertChange] = []
    with session_scope(ctx.engine) as session:
        params = {"b_id": claim.id, "b_token": claim.token, **{f"v_{k}": v for k, v in values.items()}}
        if session.execute(_finish_statement(tuple(sorted(values))), params).rowcount != 1:
            return False
        if outcome.expired_endpoints:
            session.execute(sa.delete(PushSubscription).where(PushSubscription.endpoint.in_(outcome.expired_endpoints)))
        if outcome.push_ok_endpoints:
            session.execute(
                sa.update(PushSubscription)
                .where(PushSubscription.endpoint.in_(outcome.push_ok_endpoints))
                .values(last_success_at=now)
            )
        if claim.to_patient and (outcome.opted_out or outcome.unreachable):
            patient = session.get(Patient, claim.patient_id)
            if patient is not None:
                change = (
                    opt_out_of_sms(
                        session, patient, now, "the SMS provider reports the number unsubscribed (error 21610)"
                    )
                    if outcome.opted_out
                    else raise_unreachable(session, patient, outcome.unreachable, now)
                )
                if change is not None:
                    changes.append(change)
    publish_alert_changes(ctx, changes)
    return True
