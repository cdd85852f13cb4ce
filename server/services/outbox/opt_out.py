"""Opt-out and unreachable patients: STOP/START, and the care team hears about patients we cannot reach.

clinical-reference R-NO-DELIVERY: a patient who opted out of SMS, or whose messages cannot be delivered, gets a
routine alert so that someone on the care team follows up another way.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from ...clinical.rules import RULES, Action, Finding, Tier
from ...models import Patient
from ..alerts import AlertChange, upsert_alert

log = logging.getLogger(__name__)

OPTED_OUT_FACTS = "the patient opted out of SMS"  # the same words as clinical.rules, so re-evaluation is a no-op


def _no_delivery_finding(facts: str) -> Finding:
    rule = RULES["R-NO-DELIVERY"]  # clinical-reference: R-NO-DELIVERY (adherence, routine, evaluate)
    return Finding(
        rule=rule.id,
        family=rule.family,
        tier=Tier.ROUTINE,
        action=Action.EVALUATE,
        facts=facts,
        advice=(),
        resume_level=None,
        resume_dose=None,
    )


def raise_unreachable(session: Session, patient: Patient, facts: str, now: datetime) -> AlertChange | None:
    """Tell the care team that a message could not reach the patient (caller's transaction)."""
    return upsert_alert(session, patient, _no_delivery_finding(f"no message reached the patient: {facts}"[:2000]), now)


def raise_possibly_undelivered(session: Session, patient: Patient, facts: str, now: datetime) -> AlertChange | None:
    """Tell the care team that a message may not have reached its recipient (caller's transaction)."""
    return upsert_alert(session, patient, _no_delivery_finding(facts[:2000]), now)


def opt_out_of_sms(session: Session, patient: Patient, now: datetime, how: str) -> AlertChange | None:
    """Record that the patient unsubscribed from SMS and tell the care team (caller's transaction)."""
    if not patient.sms_opted_out:
        patient.sms_opted_out, patient.sms_opted_out_at = True, now
        session.add(patient)
        log.info("patient %s opted out of SMS: %s", patient.id, how)
    return upsert_alert(session, patient, _no_delivery_finding(OPTED_OUT_FACTS), now)


def opt_in_to_sms(session: Session, patient: Patient, now: datetime) -> None:
    """The patient texted START: messages may go to them again (their pending reminders were never cancelled)."""
    if patient.sms_opted_out:
        patient.sms_opted_out, patient.sms_opted_out_at = False, None
        session.add(patient)
