"""One patient's record for the care team: the overview on the patient's page, their weights, and the
timeline of everything that happened (entries, labs, alerts, messages, plan versions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from ...clinical.rules import Finding
from ...errors import NotFound
from ...models import (
    Alert,
    AlertEvent,
    AntiemeticEvent,
    DoseEvent,
    InboundMessage,
    LabResult,
    OutboundMessage,
    Patient,
    PlanChangeNotice,
    Staff,
    SymptomReport,
    TreatmentPlan,
    WeightEntry,
)
from ..clinic_scope import OPEN_STATUSES, patient_for_staff, staff_names
from .inbox import AlertView, card_view, event_view, resume_finding_of
from .plan_history import plan_versions
from .recent_days import DayRow, recent_days
from .wording import (
    TIER_WORDS,
    dexamethasone_on_hold_words,
    dose_words,
    lab_words,
    ladder,
    lower_level_words,
    next_dose_words,
    symptom_words,
)

# A timeline message's title by outbox status: only `sent` says "Sent" (an `unknown` one may never have left).
MESSAGE_TITLES = {
    "sent": "Sent",
    "unknown": "Outcome unknown (maybe not delivered):",
    "failed": "Not sent:",
    "cancelled": "Cancelled",
    "expired": "Expired, not sent:",
    "claimed": "Sending",
    "sending": "Sending",
}


@dataclass
class PatientOverview:
    """Everything the patient's page shows at the top: plan, doses, open alerts, recent days, weight."""

    patient: Patient
    plan: TreatmentPlan
    versions: list[TreatmentPlan]
    dose: str
    next_dose: str
    lower_level: int | None
    lower_words: str
    open_alerts: list[AlertView]
    resume_finding: Finding | None
    days: list[DayRow]
    latest_weight: WeightEntry | None
    weight_pct: float | None
    changed_by: dict[int, str]
    levels: list[tuple[int, str]]  # the regimen's ladder, for "resume at"
    notices: dict[int, PlanChangeNotice] = field(default_factory=dict)  # by plan version id: told, confirmed?


def patient_overview(session: Session, staff: Staff, patient_id: int, now: datetime) -> PatientOverview:
    """The patient's page (NotFound for another clinic's patient)."""
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    versions = plan_versions(session, patient.id)
    if not versions:
        raise NotFound("This patient has no treatment plan.")
    plan = versions[-1]
    names = staff_names(session, staff.clinic_id)
    alerts = session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.status.in_(OPEN_STATUSES))).all()
    # The page's 14-day grid and resume finding are the ones every alert card shows: computed once for the page, not
    # once more per open alert (alert_view, for a card on its own, loads them itself).
    days = recent_days(session, patient, now)
    resume = resume_finding_of(session, patient, plan, now)
    views = sorted((_alert_card(session, a, patient, plan, days, resume, names, now) for a in alerts), key=_sort_key)
    latest = session.exec(
        select(WeightEntry)
        .where(WeightEntry.patient_id == patient.id, WeightEntry.superseded_at.is_(None))
        .order_by(WeightEntry.at.desc())
    ).first()
    lower, lower_words = lower_level_words(patient, plan)
    return PatientOverview(
        patient=patient,
        plan=plan,
        versions=list(reversed(versions)),
        dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now),
        lower_level=lower,
        lower_words=lower_words,
        open_alerts=views,
        resume_finding=resume,
        days=days,
        latest_weight=latest,
        weight_pct=round((latest.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1)
        if latest
        else None,
        changed_by=names,
        levels=ladder(plan.regimen),
        notices={
            n.plan_id: n
            for n in session.exec(select(PlanChangeNotice).where(PlanChangeNotice.patient_id == patient.id)).all()
        },
    )


def _alert_card(
    session: Session,
    alert: Alert,
    patient: Patient,
    plan: TreatmentPlan,
    days: list[DayRow],
    resume: Finding | None,
    names: dict[int, str],
    now: datetime,
) -> AlertView:
    """inbox.alert_view with the page's plan, grid and resume finding (the same values it would load)."""
    events = session.exec(
        select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
    ).all()
    return card_view(alert, patient, plan, [event_view(e, names) for e in events], days, names, now, resume)


def _sort_key(view: AlertView) -> str:
    return view.sort_key


def weights_between(session: Session, patient_id: int, start: datetime, end: datetime) -> list[WeightEntry]:
    """The patient's current weight entries in [start, end], oldest first (corrected ones left out)."""
    return list(
        session.exec(
            select(WeightEntry)
            .where(
                WeightEntry.patient_id == patient_id,
                WeightEntry.superseded_at.is_(None),
                WeightEntry.at >= start,
                WeightEntry.at <= end,
            )
            .order_by(WeightEntry.at)
        ).all()
    )


# --------------------------------------------------------------------------- timeline


@dataclass
class TimelineItem:
    """One line of the patient's timeline."""

    at: datetime
    kind: str  # entry | alert | message | plan | lab
    title: str
    detail: str = ""
    status: str = ""
    tone: str = ""  # urgent | same_day | routine | muted, for the eye


def timeline(session: Session, staff: Staff, patient_id: int, now: datetime, days: int = 30) -> list[TimelineItem]:
    """Everything that happened to one patient in the last `days` days, newest first."""
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    since = now - timedelta(days=days)
    pid = patient.id
    names = staff_names(session, staff.clinic_id)
    items: list[TimelineItem] = []
    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid, DoseEvent.at >= since)).all():
        items.append(
            TimelineItem(
                d.at,
                "entry",
                f"Dose {d.status}",
                f"for {d.scheduled_for:%a %d %b}"
                + ("; antiemetic taken" if d.antiemetic_taken else "")
                + (" (corrected later)" if d.superseded_at else ""),
                d.source,
                "muted" if d.superseded_at else "",
            )
        )
    for a in session.exec(
        select(AntiemeticEvent).where(AntiemeticEvent.patient_id == pid, AntiemeticEvent.at >= since)
    ).all():
        items.append(
            TimelineItem(a.at, "entry", "Anti-nausea medicine taken", "", a.source, "muted" if a.superseded_at else "")
        )
    for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid, WeightEntry.at >= since)).all():
        pct = (w.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100
        items.append(
            TimelineItem(
                w.at,
                "entry",
                f"Weight {w.entered_value:g} {w.entered_unit}",
                f"{w.kg:.1f} kg, {pct:+.1f}% from baseline" + (" (corrected later)" if w.superseded_at else ""),
                w.source,
                "muted" if w.superseded_at else "",
            )
        )
    for s in session.exec(
        select(SymptomReport).where(SymptomReport.patient_id == pid, SymptomReport.at >= since)
    ).all():
        items.append(
            TimelineItem(
                s.at,
                "entry",
                "Symptom check-in",
                symptom_words(s, patient.usual_stools_per_day) + (" (corrected later)" if s.superseded_at else ""),
                s.source,
                "muted" if s.superseded_at else "",
            )
        )
    for lab in session.exec(
        select(LabResult).where(
            LabResult.patient_id == pid, LabResult.collected_at >= since, LabResult.superseded_at.is_(None)
        )
    ).all():
        who = names.get(lab.entered_by_staff_id, "") if lab.entered_by_staff_id else lab.source
        items.append(TimelineItem(lab.collected_at, "lab", "Labs", lab_words(lab), f"entered by {who}"))
    for alert in session.exec(select(Alert).where(Alert.patient_id == pid, Alert.opened_at >= since)).all():
        items.append(
            TimelineItem(
                alert.opened_at,
                "alert",
                f"Alert opened: {alert.rule} ({TIER_WORDS.get(alert.tier, alert.tier)})",
                alert.facts,
                alert.status,
                alert.tier,
            )
        )
    for event, alert in session.exec(
        select(AlertEvent, Alert)
        .join(Alert, Alert.id == AlertEvent.alert_id)
        .where(Alert.patient_id == pid, AlertEvent.at >= since, AlertEvent.kind != "created")
    ).all():
        who = names.get(event.staff_id, "system") if event.staff_id else "system"
        items.append(
            TimelineItem(event.at, "alert", f"Alert #{alert.id} {event.kind}", f"{event.detail} ({who})", "", "muted")
        )
    for r in session.exec(
        select(OutboundMessage).where(
            OutboundMessage.patient_id == pid,
            OutboundMessage.kind != "page",
            OutboundMessage.send_at >= since,
            OutboundMessage.send_at <= now,
            OutboundMessage.status != "pending",
        )
    ).all():
        status = r.delivery_status or r.status
        detail = r.body or ""
        if r.last_error:
            detail += f" [{r.last_error}]"
        if r.cancel_reason:
            detail += f" [cancelled: {r.cancel_reason}]"
        tone = "urgent" if r.status in ("failed", "unknown") or r.delivery_status in ("undelivered", "failed") else ""
        items.append(
            TimelineItem(
                r.sent_at or r.send_at,
                "message",
                f"{MESSAGE_TITLES.get(r.status, r.status.capitalize())} {r.kind.replace('_', ' ')} by {r.channel}",
                detail.strip(),
                status,
                tone or ("muted" if r.status == "cancelled" else ""),
            )
        )
    for m in session.exec(
        select(InboundMessage).where(InboundMessage.patient_id == pid, InboundMessage.received_at >= since)
    ).all():
        items.append(
            TimelineItem(
                m.received_at,
                "message",
                "Received SMS",
                f"“{m.body}”"
                + (f" → handled as {m.handled_as}" if m.handled_as else "")
                + (f"; replied “{m.reply}”" if m.reply else ""),
                "received",
            )
        )
    for v in session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == pid, TreatmentPlan.created_at >= since)
    ).all():
        who = names.get(v.changed_by_staff_id, "") if v.changed_by_staff_id else "system"
        items.append(
            TimelineItem(
                v.created_at,
                "plan",
                f"Plan v{v.version}: {v.status}, {v.regimen} level {v.dose_level}",
                f"{v.reason} ({who})"
                + (f"; held for {v.hold_rule}" if v.hold_rule else "")
                + dexamethasone_on_hold_words(v),
                v.status,
            )
        )
    for n in session.exec(
        select(PlanChangeNotice).where(PlanChangeNotice.patient_id == pid, PlanChangeNotice.acknowledged_at >= since)
    ).all():
        items.append(
            TimelineItem(
                n.acknowledged_at,
                "plan",
                "Plan change confirmed by the patient",
                f"{n.operation.replace('_', ' ')} (plan notice #{n.id}), by {n.acknowledged_via}",
                "confirmed",
            )
        )
    items.sort(key=lambda i: i.at, reverse=True)
    return items
