"""Delivery receipts (architecture flow 4): the SMS provider's status callbacks, applied only forwards.

A receipt for a row left `unknown` proves the provider accepted it (it becomes `sent`); a failed delivery tells
the care team (R-NO-DELIVERY), and error 21610 records that the number unsubscribed.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from ...context import AppContext
from ...db import session_scope
from ...models import OutboundMessage, Patient
from ..alerts import AlertChange, publish_alert_changes
from .opt_out import opt_out_of_sms, raise_unreachable
from .vocabulary import DELIVERY_ALIASES, DELIVERY_FAILED, DELIVERY_RANK, MessageKind, MessageStatus

TWILIO_OPTED_OUT = 21610  # "the number unsubscribed from your messages"


def record_delivery_status(
    ctx: AppContext,
    *,
    message_sid: str,
    status: str,
    error_code: int | None = None,
    reminder_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Apply a provider status callback; updates only move forward. False when nothing matched (still a 200).

    The callback URL carries our row id, so a row left `unknown` (a timeout, or a worker that died mid-send: no
    provider id known) is matched by id; any receipt proves the provider accepted it, so it becomes `sent`. A
    callback that outruns the provider's answer to the worker is matched the same way and only records the
    delivery status; the worker then finishes the row.
    """
    now = now or ctx.clock.now()
    status = DELIVERY_ALIASES.get((status or "").lower(), (status or "").lower())
    if status not in DELIVERY_RANK or not message_sid:
        return False
    changes: list[AlertChange] = []
    with session_scope(ctx.engine) as session:
        row = session.exec(select(OutboundMessage).where(OutboundMessage.provider_id == message_sid)).first()
        if row is None and reminder_id is not None:
            candidate = session.get(OutboundMessage, reminder_id)
            if candidate is not None and candidate.provider_id in (None, message_sid) and candidate.channel != "push":
                row = candidate
                row.provider_id = message_sid
        if row is None:
            return False
        if row.status == MessageStatus.UNKNOWN:  # the provider has it after all: a receipt is proof of acceptance
            row.status, row.sent_at = MessageStatus.SENT, now
            row.last_error = ("resolved by the provider's status callback; was: " + (row.last_error or ""))[:500]
            session.add(row)
        current = row.delivery_status
        if current is not None and DELIVERY_RANK.get(current, -1) >= DELIVERY_RANK[status]:
            return True  # late or repeated callback: keep the furthest status
        row.delivery_status, row.delivery_updated_at, row.updated_at = status, now, now
        if status in DELIVERY_FAILED:
            row.last_error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
        session.add(row)
        is_patient_message = row.patient_id is not None and row.kind != MessageKind.PAGE
        if status in DELIVERY_FAILED and is_patient_message:
            patient = session.get(Patient, row.patient_id)
            if error_code == TWILIO_OPTED_OUT:
                change = opt_out_of_sms(session, patient, now, "undelivered: the number unsubscribed (error 21610)")
            else:
                change = raise_unreachable(
                    session,
                    patient,
                    f"an SMS ({row.kind}) was reported {status}" + (f" with error {error_code}" if error_code else ""),
                    now,
                )
            if change is not None:
                changes.append(change)
    publish_alert_changes(ctx, changes)
    return True
