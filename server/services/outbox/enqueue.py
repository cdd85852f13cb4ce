"""Putting rows in the outbox: an insert that skips existing dedupe keys, and ready-made SMS such as replies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from .sql import OUTBOX
from .vocabulary import MessageStatus

REPLY_TTL = timedelta(hours=1)


def insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT the outbox rows, skipping any whose dedupe_key already exists (both engines)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


def enqueue_sms(
    session: Session,
    *,
    kind: str,
    key: str,
    to: str,
    body: str,
    now: datetime,
    patient_id: int | None = None,
    ttl: timedelta = REPLY_TTL,
) -> None:
    """Put a ready-made SMS (e.g. a reply) in the outbox in the caller's transaction; a repeated key adds nothing."""
    insert_ignoring_duplicates(
        session,
        [
            {
                "dedupe_key": f"{kind}:{key}"[:160],
                "patient_id": patient_id,
                "kind": kind,
                "channel": "sms",
                "to_address": to,
                "body": body[:1600],
                "scheduled_for": now,
                "send_at": now,
                "expires_at": now + ttl,
                "status": MessageStatus.PENDING,
                "next_attempt_at": now,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
