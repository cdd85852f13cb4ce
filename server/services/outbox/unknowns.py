"""Unknown outcomes the care team must hear about: a dose reminder, page or plan-change notice whose request may or
may not have reached its recipient (a crash mid-send, a timeout after the request left) is never re-sent, so a
person has to decide; each raises a routine R-NO-DELIVERY alert on the patient naming the message.

clinical-reference: R-NO-DELIVERY (a message that may not have reached the patient is followed up by the care team).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import select

from ...context import AppContext
from ...db import session_scope
from ...models import OutboundMessage, Patient
from ..alerts import AlertChange, publish_alert_changes
from .opt_out import raise_possibly_undelivered
from .vocabulary import STAFF_MUST_KNOW_IF_UNKNOWN, MessageKind, MessageStatus

log = logging.getLogger(__name__)


def unknown_facts(message: OutboundMessage) -> str:
    """The alert's words for one message whose outcome is unknown."""
    when = f"{message.scheduled_for:%Y-%m-%d %H:%M} UTC" if message.scheduled_for else "unknown time"
    if message.kind == MessageKind.PAGE:
        what = f"an urgent page about alert #{message.alert_id} (to {message.to_address})"
        follow_up = "make sure someone is handling that alert"
    else:
        what = f"the {message.kind.replace('_', ' ')} message scheduled for {when}"
        follow_up = "contact the patient to check"
    return (
        f"{what} may not have been delivered: the send's outcome is unknown and it is not re-sent "
        f"automatically; {follow_up} (message #{message.id})"
    )[:2000]


def flag_unknown_messages(ctx: AppContext, message_ids: Iterable[int], now: datetime) -> int:
    """Raise a staff-visible alert for each listed message that is `unknown` and of a kind staff must know about."""
    ids = sorted(set(message_ids))
    if not ids:
        return 0
    changes: list[AlertChange] = []
    flagged = 0
    with session_scope(ctx.engine) as session:
        rows = session.exec(
            select(OutboundMessage).where(
                OutboundMessage.id.in_(ids),
                OutboundMessage.status == MessageStatus.UNKNOWN,
                OutboundMessage.kind.in_(STAFF_MUST_KNOW_IF_UNKNOWN),
            )
        ).all()
        for message in rows:
            patient = session.get(Patient, message.patient_id) if message.patient_id is not None else None
            if patient is None:  # a page not about a patient: the operator's log is all there is
                log.error("message %s (%s) has an unknown outcome and no patient to alert on", message.id, message.kind)
                continue
            change = raise_possibly_undelivered(session, patient, unknown_facts(message), now)
            flagged += 1
            if change is not None:
                changes.append(change)
    publish_alert_changes(ctx, changes)
    return flagged
