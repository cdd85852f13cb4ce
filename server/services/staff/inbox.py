"""The care team's inbox: open alerts of the clinic as cards (everything a card shows, clinical-reference §6),
the tier counts, the index the live page re-syncs against, and held patients ready to resume (R-RESUME).

Reads take a Session (the route opens one). Everything is scoped to the staff member's clinic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from ...clinical.regimens import PlanStatus
from ...clinical.rules import RULES, Finding, Tier, evaluate
from ...models import Alert, AlertEvent, Patient, Staff, TreatmentPlan
from ..patient_state import build_state, current_plan
from .clinic_scope import OPEN_STATUSES, alert_for_staff, staff_names
from .recent_days import DayRow, recent_days
from .wording import ACTION_WORDS, age_words, dose_words, local_text, lower_level_words, next_dose_words


@dataclass
class EventView:
    """One line of an alert's history (created, paged, acknowledged, note...)."""

    at: datetime
    kind: str
    who: str
    detail: str


@dataclass
class AlertView:
    """Everything a card shows (clinical-reference §6)."""

    alert: Alert
    patient: Patient
    plan: TreatmentPlan
    rule_words: str
    action_words: str
    resume_words: str
    lower_level: int | None
    lower_words: str
    current_dose: str
    next_dose: str
    age: str
    opened_local: str
    events: list[EventView]
    days: list[DayRow]
    acknowledged_by: str = ""
    assigned_to: str = ""
    resume_finding: Finding | None = None  # R-RESUME, met now, for a held patient
    is_resume_alert: bool = False

    @property
    def sort_key(self) -> str:
        """Tier (most severe first), then age (oldest first): the order the inbox is read in."""
        return f"{3 - Tier(self.alert.tier).rank}|{self.alert.opened_at.strftime('%Y%m%d%H%M%S')}|{self.alert.id:09d}"

    @property
    def pages(self) -> list[EventView]:
        """The pages sent for this alert."""
        return [e for e in self.events if e.kind == "paged"]


def resume_finding_of(session: Session, patient: Patient, plan: TreatmentPlan, now: datetime) -> Finding | None:
    """R-RESUME's finding when a held patient meets the resume criterion now; None otherwise."""
    if plan.status != PlanStatus.HELD.value:
        return None
    try:
        findings = evaluate(build_state(session, patient, now), now)
    except Exception:  # noqa: BLE001 - a patient whose state the core refuses still gets their card
        return None
    return next((f for f in findings if f.rule == "R-RESUME"), None)


def alert_view(session: Session, alert: Alert, patient: Patient, now: datetime, names: dict[int, str]) -> AlertView:
    """One alert as its card shows it."""
    plan = current_plan(session, patient.id)
    rule = RULES.get(alert.rule)
    events = [EventView(e.at, e.kind, names.get(e.staff_id, "system") if e.staff_id else "system", e.detail)
              for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id)
                                    .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())).all()]
    lower, lower_words = lower_level_words(patient, plan)
    if alert.resume_dose:
        resume = (f"level {alert.resume_level}: {alert.resume_dose}" if alert.resume_level is not None
                  else f"{alert.resume_dose} (no lower level: the label says permanently discontinue)")
    elif alert.action in ("reduce", "interrupt"):
        resume = lower_words if lower is None else f"level {lower}: {lower_words}"
    else:
        resume = "no change from the label"
    return AlertView(
        alert=alert, patient=patient, plan=plan,
        rule_words=f"{alert.rule}: {rule.condition}" if rule else alert.rule,
        action_words=ACTION_WORDS.get(alert.action, alert.action),
        resume_words=resume, lower_level=lower, lower_words=lower_words, current_dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now), age=age_words(now - alert.opened_at),
        opened_local=local_text(alert.opened_at, patient.timezone), events=events,
        days=recent_days(session, patient, now),
        acknowledged_by=names.get(alert.acknowledged_by_staff_id, "") if alert.acknowledged_by_staff_id else "",
        assigned_to=names.get(alert.assigned_to_staff_id, "") if alert.assigned_to_staff_id else "",
        resume_finding=resume_finding_of(session, patient, plan, now),
        is_resume_alert=alert.rule == "R-RESUME",
    )


@dataclass
class InboxFilter:
    """The inbox's filters (a tier, or only the alerts assigned to me)."""

    tier: str = ""  # urgent | same_day | routine | "" (all)
    mine: bool = False  # assigned to me


def open_alerts(session: Session, staff: Staff, now: datetime, flt: InboxFilter | None = None) -> list[AlertView]:
    """Open and acknowledged alerts of the clinic, most severe tier first, then oldest first."""
    flt = flt or InboxFilter()
    query = (select(Alert, Patient).join(Patient, Patient.id == Alert.patient_id)
             .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES)))
    if flt.tier:
        query = query.where(Alert.tier == flt.tier)
    if flt.mine:
        query = query.where(Alert.assigned_to_staff_id == staff.id)
    names = staff_names(session, staff.clinic_id)
    views = [alert_view(session, alert, patient, now, names) for alert, patient in session.exec(query).all()]
    return sorted(views, key=lambda v: v.sort_key)


def alert_card(session: Session, staff: Staff, alert_id: int, now: datetime) -> AlertView:
    """One card of the clinic (NotFound for another clinic's alert)."""
    alert, patient = alert_for_staff(session, alert_id, staff.clinic_id)
    return alert_view(session, alert, patient, now, staff_names(session, staff.clinic_id))


@dataclass
class ResumeReady:
    """A held patient who meets the resume criterion, for the panel above the inbox."""

    patient: Patient
    plan: TreatmentPlan
    finding: Finding
    held_since: str


def resume_ready(session: Session, staff: Staff, now: datetime) -> list[ResumeReady]:
    """Held patients who meet the resume criterion of the rule that held them (R-RESUME), for the inbox's top."""
    latest = (select(TreatmentPlan.patient_id, sa.func.max(TreatmentPlan.version).label("v"))
              .group_by(TreatmentPlan.patient_id).subquery())
    rows = session.exec(
        select(Patient, TreatmentPlan)
        .join(latest, latest.c.patient_id == Patient.id)
        .join(TreatmentPlan, sa.and_(TreatmentPlan.patient_id == Patient.id, TreatmentPlan.version == latest.c.v))
        .where(Patient.clinic_id == staff.clinic_id, TreatmentPlan.status == PlanStatus.HELD.value)
    ).all()
    ready = []
    for patient, plan in rows:
        finding = resume_finding_of(session, patient, plan, now)
        if finding is not None:
            ready.append(ResumeReady(patient, plan, finding, local_text(plan.created_at, patient.timezone)))
    return ready


def inbox_index(session: Session, staff: Staff) -> list[dict[str, Any]]:
    """The open alerts of the clinic as ids, tiers and change stamps only (no health data, so not audited):
    the live page compares it with what it shows and fetches only the cards that changed."""
    rows = session.exec(select(Alert.id, Alert.tier, Alert.status, Alert.updated_at, Alert.assigned_to_staff_id)
                        .join(Patient, Patient.id == Alert.patient_id)
                        .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))).all()
    return [{"id": i, "tier": t, "status": st, "updated": u.isoformat(), "assignee": a} for i, t, st, u, a in rows]


def tier_counts(views: Iterable[AlertView]) -> dict[str, int]:
    """How many open alerts of each tier the views hold."""
    counts = {"urgent": 0, "same_day": 0, "routine": 0}
    for view in views:
        counts[view.alert.tier] = counts.get(view.alert.tier, 0) + 1
    return counts
