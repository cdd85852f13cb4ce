"""The printable visit summary: since the last visit, doses scheduled and logged, the weight trend, the worst
symptoms, alerts, plan actions and labs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from ...models import Alert, AuditLog, DoseEvent, LabResult, Patient, Staff, SymptomReport, TreatmentPlan, WeightEntry
from ..clinic_scope import OPEN_STATUSES, patient_for_staff, staff_names
from .patient_record import weights_between
from .plan_history import day_bounds, plan_versions, scheduled_dose_on
from .recent_days import DOSE_LOG_ORDER, worse
from .wording import dose_words, next_dose_words


@dataclass
class VisitSummary:
    """The visit summary's numbers and lists."""

    patient: Patient
    plan: TreatmentPlan
    since: date
    until: date
    doses_scheduled: int
    doses_taken: int
    doses_vomited: int
    doses_missed: int
    doses_not_logged: int
    weights: list[WeightEntry]
    worst: list[tuple[str, str]]  # (symptom, worst value with its date)
    alerts: list[Alert]
    actions: list[TreatmentPlan]
    labs: list[LabResult]
    names: dict[int, str]
    dose: str
    next_dose: str


VISIT_DEFAULT_DAYS = 28


def last_visit_date(session: Session, patient_id: int, now: datetime) -> date | None:
    """The previous visit: the last day before today a visit summary was printed for this patient (audit log).

    Days before today only: opening the summary twice during today's visit must not shrink it to nothing.
    """
    today_start = datetime.combine(now.date(), time(0), UTC)
    at = session.exec(
        select(sa.func.max(AuditLog.at)).where(
            AuditLog.patient_id == patient_id, AuditLog.action == "patient.visit_summary", AuditLog.at < today_start
        )
    ).first()
    return at.date() if at else None


def visit_summary(session: Session, staff: Staff, patient_id: int, now: datetime, since: date | None) -> VisitSummary:
    """A one-page summary since the last visit: doses, weight trend, worst symptoms, alerts and actions."""
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    zone = ZoneInfo(patient.timezone)
    today = now.astimezone(zone).date()
    versions = plan_versions(session, patient.id)
    plan = versions[-1]
    since = since or today - timedelta(days=VISIT_DEFAULT_DAYS)
    start, _ = day_bounds(since, patient.timezone)
    pid = patient.id
    logs: dict[date, str] = {}
    for d in session.exec(
        select(DoseEvent).where(
            DoseEvent.patient_id == pid, DoseEvent.superseded_at.is_(None), DoseEvent.at >= start - timedelta(days=1)
        )
    ).all():
        day = d.scheduled_for or d.at.astimezone(zone).date()
        logs[day] = worse(logs.get(day), d.status, DOSE_LOG_ORDER)
    scheduled = taken = vomited = missed = not_logged = 0
    day = max(since, versions[0].start_date)
    while day < today:
        dose, _ = scheduled_dose_on(patient, versions, day)
        if dose is not None:
            scheduled += 1
            status = logs.get(day)
            taken += status == "taken"
            vomited += status == "vomited"
            missed += status == "missed"
            not_logged += status is None
        day += timedelta(days=1)
    symptoms = session.exec(
        select(SymptomReport)
        .where(SymptomReport.patient_id == pid, SymptomReport.superseded_at.is_(None), SymptomReport.at >= start)
        .order_by(SymptomReport.at)
    ).all()
    worst: list[tuple[str, str]] = []

    def worst_of(label: str, values: list[tuple[object, datetime]], fmt, order: tuple | None = None) -> None:
        values = [(v, at) for v, at in values if v is not None]
        if not values:
            return
        # The worst value; of equally bad ones, the latest (the most recent time it was that bad).
        key = (lambda p: (order.index(p[0]), p[1])) if order else (lambda p: (p[0], p[1]))
        value, at = max(values, key=key)
        worst.append((label, f"{fmt(value)} ({at.astimezone(zone):%a %d %b})"))

    worst_of("Nausea (grade 0-3)", [(s.nausea, s.at) for s in symptoms], str)
    worst_of("Vomiting (episodes/24 h)", [(s.vomiting_episodes, s.at) for s in symptoms], str)
    worst_of(
        "Diarrhea (stools above usual)",
        [
            (max(0, s.loose_stools - patient.usual_stools_per_day) if s.loose_stools is not None else None, s.at)
            for s in symptoms
        ],
        str,
    )
    worst_of("Appetite (grade 0-3)", [(s.appetite, s.at) for s in symptoms], str)
    worst_of("Fatigue (grade 0-3)", [(s.fatigue, s.at) for s in symptoms], str)
    worst_of("Temperature", [(s.temperature_c, s.at) for s in symptoms], lambda v: f"{v:.1f} °C")
    worst_of("Bleeding", [(s.bleeding, s.at) for s in symptoms], str, ("none", "minor", "major"))
    worst_of("Dizziness / confusion", [(s.neuro, s.at) for s in symptoms], str, ("none", "dizzy", "major"))
    alerts = list(
        session.exec(
            select(Alert)
            .where(
                Alert.patient_id == pid,
                sa.or_(Alert.opened_at >= start, Alert.status.in_(OPEN_STATUSES), Alert.resolved_at >= start),
            )
            .order_by(Alert.opened_at)
        ).all()
    )
    actions = [v for v in versions if v.created_at >= start]
    labs = list(
        session.exec(
            select(LabResult)
            .where(LabResult.patient_id == pid, LabResult.collected_at >= start, LabResult.superseded_at.is_(None))
            .order_by(LabResult.collected_at)
        ).all()
    )
    return VisitSummary(
        patient=patient,
        plan=plan,
        since=since,
        until=today,
        doses_scheduled=scheduled,
        doses_taken=taken,
        doses_vomited=vomited,
        doses_missed=missed,
        doses_not_logged=not_logged,
        weights=weights_between(session, pid, start, now),
        worst=worst,
        alerts=alerts,
        actions=actions,
        labs=labs,
        names=staff_names(session, staff.clinic_id),
        dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now),
    )
