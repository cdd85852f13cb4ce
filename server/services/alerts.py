"""Alerts: one open alert per patient and rule family (clinical-reference §4d), paging for urgent ones (§3).

Functions here run inside the caller's transaction (they take a Session), so an entry never exists without its
evaluation and its alerts, and a page is written to the outbox in the same commit as the alert that needs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..clinical.rules import Finding, Tier
from ..i18n import render_advice
from ..models import Alert, AlertEvent, OutboundMessage, Patient, Staff

# clinical-reference: section 3. Urgent: page the on-call person at once, the next one after 15 min unacknowledged.
URGENT_REPAGE_AFTER = timedelta(minutes=15)
# clinical-reference: section 3. Same day: page if still open after 4 h (in clinic hours).
SAME_DAY_PAGE_AFTER = timedelta(hours=4)
TIER_RAISED = "tier raised to "  # how the event that raises an alert's tier begins (read by the quality report)

ALERT_TIERS = (Tier.URGENT.value, Tier.SAME_DAY.value, Tier.ROUTINE.value)  # self_care never becomes an alert


@dataclass(frozen=True)
class AlertChange:
    """What happened to an alert in this transaction, for the inbox stream (published after commit)."""

    alert_id: int
    patient_id: int
    kind: str  # created | updated
    tier: str


def advice_text(finding: Finding) -> str:
    """The rule's own advice to the patient in English, kept on the alert for the record (the tier words aside)."""
    return " ".join(render_advice(finding.advice, "en"))[:2000]


def publish_alert_changes(ctx, changes: Iterable[AlertChange]) -> None:
    """Tell the live inbox about alerts opened or updated (call after their transaction committed)."""
    for change in changes:
        ctx.publish(
            "inbox",
            {"alert_id": change.alert_id, "patient_id": change.patient_id, "kind": change.kind, "tier": change.tier},
        )


def most_severe_per_family(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per family, the most severe (findings arrive most severe first from rules.evaluate).

    An alert stands for its family (§4d); upserting every finding of a family in turn would flip the alert's
    rule back and forth and write an event each time.
    """
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.family, finding)
    return list(seen.values())


def open_alert_for_family(session: Session, patient_id: int, family: str) -> Alert | None:
    return session.exec(
        select(Alert).where(Alert.patient_id == patient_id, Alert.family == family, Alert.status != "resolved")
    ).first()


# Built once (run on every entry with findings): building the SELECT costs more CPU than running it.
_OPEN_ALERTS = (
    select(Alert).where(Alert.patient_id == sa.bindparam("patient_id"), Alert.status != "resolved").order_by(Alert.id)
)


def open_alerts_by_family(session: Session, patient_id: int) -> dict[str, Alert]:
    """All of a patient's alerts that are not resolved, by family, in one query (at most one per family, §4d)."""
    alerts = session.exec(_OPEN_ALERTS, params={"patient_id": patient_id}).all()
    by_family: dict[str, Alert] = {}
    for alert in alerts:
        by_family.setdefault(alert.family, alert)
    return by_family


def open_alerts_of(session: Session, patient_ids: Iterable[int]) -> dict[int, dict[str, Alert]]:
    """open_alerts_by_family for many patients in one query: patient id -> family -> alert (every id is a key)."""
    found: dict[int, dict[str, Alert]] = {patient_id: {} for patient_id in patient_ids}
    if found:
        for alert in session.exec(
            select(Alert).where(Alert.patient_id.in_(list(found)), Alert.status != "resolved").order_by(Alert.id)
        ):
            found[alert.patient_id].setdefault(alert.family, alert)
    return found


def upsert_alert(
    session: Session,
    patient: Patient,
    finding: Finding,
    now: datetime,
    repage_after: timedelta = URGENT_REPAGE_AFTER,
    open_alerts: dict[str, Alert] | None = None,
) -> AlertChange | None:
    """Open an alert for a finding, or update the open one of its family (raising its tier, never lowering it).

    Returns None when nothing changed (the same finding seen again) or the finding needs no person (self_care).
    `open_alerts` (from open_alerts_by_family in this transaction) saves a query per finding; an alert opened
    here is added to it.
    """
    tier = Tier(finding.tier)
    if tier.value not in ALERT_TIERS:
        return None
    if open_alerts is None:
        alert = open_alert_for_family(session, patient.id, finding.family)
    else:
        alert = open_alerts.get(finding.family)
    if alert is None:
        alert = _new_alert(patient, finding, now)
        try:
            with session.begin_nested():  # another request may open the family's alert at the same moment
                session.add(alert)
                session.flush()
        except IntegrityError:
            alert = open_alert_for_family(session, patient.id, finding.family)
            return _update(session, patient, alert, finding, now, repage_after)
        if open_alerts is not None:
            open_alerts[finding.family] = alert
        return _opened(session, patient, alert, finding, now, repage_after)
    return _update(session, patient, alert, finding, now, repage_after)


def open_alerts_together(
    session: Session, openings: list[tuple[Patient, Finding]], now: datetime, repage_after: timedelta
) -> list[AlertChange]:
    """Open an alert for each (patient, finding) whose family has none open, all with one INSERT (SQLAlchemy sends
    PostgreSQL a single INSERT ... RETURNING for the lot) instead of one per alert: the sweep's way when it opens
    many. Raises IntegrityError if another request opened one of these families meanwhile: the caller runs it in a
    savepoint, rolls that back and opens them one by one with upsert_alert, which settles each race."""
    alerts = [_new_alert(patient, finding, now) for patient, finding in openings]
    session.add_all(alerts)
    session.flush()
    return [
        _opened(session, patient, alert, finding, now, repage_after)
        for (patient, finding), alert in zip(openings, alerts, strict=True)
    ]


def _new_alert(patient: Patient, finding: Finding, now: datetime) -> Alert:
    return Alert(
        patient_id=patient.id,
        family=finding.family,
        rule=finding.rule,
        tier=Tier(finding.tier).value,
        action=finding.action.value,
        facts=finding.facts,
        patient_advice=advice_text(finding),
        resume_level=finding.resume_level,
        resume_dose=finding.resume_dose,
        opened_at=now,
        updated_at=now,
    )


def _opened(
    session: Session, patient: Patient, alert: Alert, finding: Finding, now: datetime, repage_after: timedelta
) -> AlertChange:
    """What follows a new alert's INSERT: its first event, and paging when its tier calls for it."""
    session.add(AlertEvent(alert_id=alert.id, kind="created", at=now, detail=f"{finding.rule}: {finding.facts}"))
    _schedule_paging(session, patient, alert, now, repage_after)
    return AlertChange(alert.id, patient.id, "created", alert.tier)


def _update(
    session: Session, patient: Patient, alert: Alert, finding: Finding, now: datetime, repage_after: timedelta
) -> AlertChange | None:
    new_rank, old_rank = Tier(finding.tier).rank, Tier(alert.tier).rank
    if new_rank < old_rank:
        # A milder finding in the same family: note it on the alert once, keep the higher tier and its facts.
        detail = f"{finding.rule}: {finding.facts}"
        last = session.exec(
            select(AlertEvent.detail).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id.desc())
        ).first()
        if finding.facts in alert.facts or last == detail:
            return None
        session.add(AlertEvent(alert_id=alert.id, kind="updated", at=now, detail=detail))
        alert.updated_at = now
        session.add(alert)
        return AlertChange(alert.id, patient.id, "updated", alert.tier)
    if alert.rule == finding.rule and alert.facts == finding.facts and new_rank == old_rank:
        return None
    raised = new_rank > old_rank
    alert.rule, alert.action, alert.facts = finding.rule, finding.action.value, finding.facts
    alert.patient_advice, alert.resume_level, alert.resume_dose = (
        advice_text(finding),
        finding.resume_level,
        finding.resume_dose,
    )
    alert.updated_at = now
    if raised:
        alert.tier = Tier(finding.tier).value
        if alert.status == "acknowledged":
            alert.status = "open"  # a worse finding needs a person to look again
    session.add(alert)
    session.add(
        AlertEvent(
            alert_id=alert.id,
            kind="updated",
            at=now,
            detail=(f"{TIER_RAISED}{alert.tier}; " if raised else "") + f"{finding.rule}: {finding.facts}",
        )
    )
    if raised:
        _schedule_paging(session, patient, alert, now, repage_after)
    return AlertChange(alert.id, patient.id, "updated", alert.tier)


def _schedule_paging(session: Session, patient: Patient, alert: Alert, now: datetime, repage_after: timedelta) -> None:
    if alert.tier == Tier.URGENT.value:
        page_next(session, patient, alert, now, repage_after)
    elif alert.tier == Tier.SAME_DAY.value and alert.next_page_at is None:
        alert.next_page_at = now + SAME_DAY_PAGE_AFTER
        session.add(alert)


def on_call_chain(session: Session, clinic_id: int) -> list[Staff]:
    """Staff with a pager number, in on-call order."""
    return list(
        session.exec(
            select(Staff)
            .where(
                Staff.clinic_id == clinic_id,
                Staff.active.is_(True),
                Staff.on_call_order.is_not(None),
                Staff.phone_e164.is_not(None),
            )
            .order_by(Staff.on_call_order)
        ).all()
    )


def page_next(
    session: Session, patient: Patient, alert: Alert, now: datetime, repage_after: timedelta = URGENT_REPAGE_AFTER
) -> OutboundMessage | None:
    """Page the next person in the on-call chain through the outbox and record it on the alert."""
    chain = on_call_chain(session, patient.clinic_id)
    if not chain:
        session.add(AlertEvent(alert_id=alert.id, kind="paged", at=now, detail="no one is on call: nobody was paged"))
        # Try again later: someone may be put on call; an urgent alert must not go quiet.
        alert.next_page_at = now + repage_after
        session.add(alert)
        return None
    # Past the end of the chain, start again from the first person: an urgent alert is never dropped.
    staff = chain[alert.page_level % len(chain)]
    alert.page_level += 1
    alert.next_page_at = now + repage_after
    session.add(alert)
    # Health data stays on the server: the page names no patient and no diagnosis, only where to look.
    body = (
        f"Selinexor Companion: {alert.tier.replace('_', '-')} alert #{alert.id} needs review. Open the care-team inbox."
    )
    page = OutboundMessage(
        dedupe_key=f"page:{alert.id}:{alert.page_level}",
        patient_id=patient.id,
        staff_id=staff.id,
        alert_id=alert.id,
        kind="page",
        channel="sms",
        to_address=staff.phone_e164,
        body=body,
        scheduled_for=now,
        send_at=now,
        expires_at=now + timedelta(hours=2),
        status="pending",
        next_attempt_at=now,
        payload=json.dumps({"alert_id": alert.id, "page_level": alert.page_level}),
        created_at=now,
        updated_at=now,
    )
    session.add(page)
    session.add(
        AlertEvent(
            alert_id=alert.id,
            kind="paged",
            at=now,
            staff_id=staff.id,
            detail=f"page {alert.page_level} to {staff.name} ({staff.role})",
        )
    )
    return page
