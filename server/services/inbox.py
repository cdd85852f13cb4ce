"""The care team's read models and alert actions: the inbox, alert cards, the roster, a patient's timeline and
the visit summary; acknowledge / assign / note / resolve an alert, and act on the label from an alert.

Reads take a Session (the route opens one); actions take the AppContext, own their transaction, write an
AlertEvent and an audit row with the change, and publish an inbox event after the commit.
Everything is scoped to the staff member's clinic: another clinic's patient or alert is "not found".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from ..clinical.regimens import REGIMENS, Plan, PlanStatus, describe_resume
from ..clinical.rules import RULES, Finding, Tier, evaluate
from ..clinical.schedule import WEEKDAYS, dose_on_local_date, is_dose_day, next_dose, resolve_local
from ..context import AppContext
from ..db import session_scope
from ..errors import Conflict, FieldError, NotFound
from ..models import (Alert, AlertEvent, AntiemeticEvent, AuditLog, DoseEvent, InboundMessage, LabResult,
                      OutboundMessage, Patient, Staff, SymptomReport, TreatmentPlan, WeightEntry)
from .audit import audit
from .patient_state import build_state, current_plan, schedule_setup

RECENT_DAYS = 14  # clinical-reference §6: "the patient's last 14 days"
ADHERENCE_DAYS = 14
OPEN_STATUSES = ("open", "acknowledged")
DOSE_LOG_ORDER = ("missed", "taken", "vomited")
NOTE_MAX = 2000
OUTCOME_MAX = 500

# clinical-reference §4: the label actions in words, for the care team.
ACTION_WORDS = {
    "continue_supportive": "Continue the same dose and add supportive care",
    "reduce": "Reduce selinexor one level down the ladder",
    "interrupt": "Interrupt: hold selinexor until recovery, then resume one level lower",
    "discontinue": "Permanently discontinue selinexor",
    "evaluate": "No dose action from the label: review and decide",
}
TIER_WORDS = {"urgent": "Urgent", "same_day": "Same day", "routine": "Routine", "self_care": "Self-care"}
OUTCOMES = (
    "Dose held",
    "Dose reduced",
    "Resumed",
    "Discontinued",
    "Supportive care advised",
    "Spoke with patient: no change",
    "Referred to clinic / ED",
    "Entry was a mistake",
)


# --------------------------------------------------------------------------- small shared helpers


def ladder(regimen: str) -> list[tuple[int, str]]:
    """The regimen's dose levels in words, for "resume at" choices."""
    return [(lv.level, lv.describe()) for lv in REGIMENS[regimen].levels]


def tier_rank(tier: str) -> int:
    return Tier(tier).rank


def patient_for_staff(session: Session, patient_id: int, clinic_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None or patient.clinic_id != clinic_id:
        raise NotFound("No such patient.")
    return patient


def _alert_for_staff(session: Session, alert_id: int, clinic_id: int, *, lock: bool = False) -> tuple[Alert, Patient]:
    query = select(Alert).where(Alert.id == alert_id)
    if lock:
        # Serialises with the worker's escalation, which pages from the same row.
        query = query.with_for_update()
    alert = session.exec(query).first()
    patient = session.get(Patient, alert.patient_id) if alert is not None else None
    if alert is None or patient is None or patient.clinic_id != clinic_id:
        raise NotFound("No such alert.")
    return alert, patient


def plan_of(patient: Patient, plan: TreatmentPlan) -> Plan:
    return Plan(regimen=plan.regimen, level=plan.dose_level, status=PlanStatus(plan.status),
                tablet_strength_mg=patient.tablet_strength_mg)


def dose_words(patient: Patient, plan: TreatmentPlan) -> str:
    """E.g. 'Xd level 0: 80 mg on Days 1 and 3 (160 mg a week), Mon and Wed 08:00 (active)'."""
    level = REGIMENS[plan.regimen].levels[plan.dose_level]
    days = WEEKDAYS[plan.day1_weekday].capitalize()
    if level.twice_weekly:
        days += f" and {WEEKDAYS[plan.day3_weekday].capitalize()}"
    return f"{plan.regimen} level {plan.dose_level}: {level.describe()}, {days} {plan.dose_time.strftime('%H:%M')}"


def patient_dose_words(patient: Patient, plan: TreatmentPlan) -> str:
    """For the patient's printed sheet: tablets, days and time, without ladder jargon."""
    current = plan_of(patient, plan)
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    days = names[plan.day1_weekday]
    if current.dose_level.twice_weekly:
        days += f" and {names[plan.day3_weekday]}"
    return (f"{current.tablets} tablets of {patient.tablet_strength_mg} mg ({current.dose_mg} mg) every {days} "
            f"at {plan.dose_time.strftime('%H:%M')}")


def lower_level_words(patient: Patient, plan: TreatmentPlan) -> tuple[int | None, str]:
    """One level lower, or (None, 'discontinue') at the end of the ladder."""
    return describe_resume(plan_of(patient, plan))


def local_text(instant: datetime | None, zone_name: str, *, with_day: bool = True) -> str:
    if instant is None:
        return ""
    local = instant.astimezone(setup_zone(zone_name))
    if with_day:
        return f"{local.strftime('%a')} {local.day} {local.strftime('%b')} {local.strftime('%H:%M')}"
    return local.strftime("%H:%M")


def setup_zone(zone_name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone_name)


def next_dose_words(patient: Patient, plan: TreatmentPlan, now: datetime) -> str:
    if plan.status == PlanStatus.HELD.value:
        return "none: selinexor is on hold"
    if plan.status == PlanStatus.DISCONTINUED.value:
        return "none: selinexor is discontinued"
    dose = next_dose(schedule_setup(patient, plan), now)
    if dose is None:
        return "none scheduled"
    hours = (dose.utc - now).total_seconds() / 3600
    when = f"in {hours:.0f} h" if hours < 48 else f"in {hours / 24:.0f} days"
    return f"{local_text(dose.utc, patient.timezone)} ({patient.timezone}), {when}: {dose.dose_mg} mg ({dose.tablets} tablets)"


def _age_words(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def _staff_names(session: Session, clinic_id: int) -> dict[int, str]:
    return {s.id: s.name for s in session.exec(select(Staff).where(Staff.clinic_id == clinic_id)).all()}


def _versions(session: Session, patient_id: int) -> list[TreatmentPlan]:
    return list(session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id)
                             .order_by(TreatmentPlan.version)).all())


def _effective(versions: list[TreatmentPlan], instant: datetime) -> TreatmentPlan:
    """The plan version in effect at `instant` (the first version for instants before enrollment)."""
    chosen = versions[0]
    for version in versions:
        if version.created_at <= instant:
            chosen = version
        else:
            break
    return chosen


def _day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    zone = setup_zone(zone_name)
    start = resolve_local(day, time(0, 0), zone).astimezone(timezone.utc)
    end = resolve_local(day + timedelta(days=1), time(0, 0), zone).astimezone(timezone.utc)
    return start, end


def day_start(day: date, zone_name: str) -> datetime:
    """Local midnight of `day`, as a UTC instant."""
    return _day_bounds(day, zone_name)[0]


def scheduled_dose_on(patient: Patient, versions: list[TreatmentPlan], day: date):
    """The dose scheduled on a local day under the plan version in effect then (None: none, held or stopped)."""
    start, end = _day_bounds(day, patient.timezone)
    version = _effective(versions, start + (end - start) / 2)
    try:
        dose = dose_on_local_date(schedule_setup(patient, version), day)
    except Exception:  # a version the clinical core now refuses must not break the page
        return None, version
    if dose is not None:
        at_dose = _effective(versions, dose.utc)
        if at_dose is not version:
            dose = dose_on_local_date(schedule_setup(patient, at_dose), day)
            version = at_dose
    return dose, version


# --------------------------------------------------------------------------- the patient's recent days


@dataclass
class DayRow:
    day: date
    scheduled_mg: int | None = None  # a selinexor dose was scheduled that day
    plan_status: str = "active"
    held_dose: bool = False  # a dose day of the pattern while selinexor was on hold
    dose: str | None = None  # taken | missed | vomited, as logged
    antiemetic: bool = False
    weight_kg: float | None = None
    weight_pct: float | None = None  # change from baseline, negative = loss
    nausea: int | None = None
    vomiting: int | None = None
    stools_above: int | None = None
    appetite: int | None = None
    fatigue: int | None = None
    temp_c: float | None = None
    bleeding: str | None = None
    neuro: str | None = None
    vision: bool = False
    labs: list[str] = field(default_factory=list)
    is_today: bool = False
    is_past: bool = False

    @property
    def dose_mark(self) -> str:
        if self.dose:
            return {"taken": "✓", "missed": "✗", "vomited": "V"}.get(self.dose, self.dose)
        if self.scheduled_mg:
            return "?" if self.is_past else "·"
        if self.held_dose:
            return "H"
        return ""


def _worse(current, new, order: tuple | None = None):
    if new is None:
        return current
    if current is None:
        return new
    if order:
        return new if order.index(new) > order.index(current) else current
    return max(current, new)


def recent_days(session: Session, patient: Patient, now: datetime, days: int = RECENT_DAYS,
                end_day: date | None = None) -> list[DayRow]:
    """One row per local day, oldest first, ending today: doses, weights, symptoms (worst of the day), labs."""
    zone = setup_zone(patient.timezone)
    today = now.astimezone(zone).date()
    last = end_day or today
    first = last - timedelta(days=days - 1)
    start, _ = _day_bounds(first, patient.timezone)
    _, end = _day_bounds(last, patient.timezone)
    rows = {first + timedelta(days=i): DayRow(day=first + timedelta(days=i)) for i in range(days)}
    versions = _versions(session, patient.id)
    for day, row in rows.items():
        row.is_today = day == today
        row.is_past = day < today
        if versions:
            dose, version = scheduled_dose_on(patient, versions, day)
            row.scheduled_mg = dose.dose_mg if dose else None
            row.plan_status = version.status
            row.held_dose = version.status == PlanStatus.HELD.value and is_dose_day(schedule_setup(patient, version), day)
    pid = patient.id

    def day_of(instant: datetime) -> date:
        return instant.astimezone(zone).date()

    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid, DoseEvent.superseded_at.is_(None),
                                                  DoseEvent.at >= start - timedelta(days=1), DoseEvent.at < end)
                          .order_by(DoseEvent.at)).all():
        row = rows.get(d.scheduled_for or day_of(d.at))
        if row is not None:
            # The most informative log of the day: a dose taken then vomited shows as vomited; missed is weakest.
            row.dose = _worse(row.dose, d.status, DOSE_LOG_ORDER)
            row.antiemetic = row.antiemetic or bool(d.antiemetic_taken)
    for a in session.exec(select(AntiemeticEvent).where(AntiemeticEvent.patient_id == pid,
                                                        AntiemeticEvent.superseded_at.is_(None),
                                                        AntiemeticEvent.at >= start, AntiemeticEvent.at < end)).all():
        row = rows.get(day_of(a.at))
        if row is not None:
            row.antiemetic = True
    for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid, WeightEntry.superseded_at.is_(None),
                                                    WeightEntry.at >= start, WeightEntry.at < end)
                          .order_by(WeightEntry.at)).all():
        row = rows.get(day_of(w.at))
        if row is not None:
            row.weight_kg = w.kg
            row.weight_pct = round((w.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1)
    for s in session.exec(select(SymptomReport).where(SymptomReport.patient_id == pid,
                                                      SymptomReport.superseded_at.is_(None),
                                                      SymptomReport.at >= start, SymptomReport.at < end)).all():
        row = rows.get(day_of(s.at))
        if row is None:
            continue
        row.nausea = _worse(row.nausea, s.nausea)
        row.vomiting = _worse(row.vomiting, s.vomiting_episodes)
        if s.loose_stools is not None:
            row.stools_above = _worse(row.stools_above, max(0, s.loose_stools - patient.usual_stools_per_day))
        row.appetite = _worse(row.appetite, s.appetite)
        row.fatigue = _worse(row.fatigue, s.fatigue)
        row.temp_c = _worse(row.temp_c, s.temperature_c)
        row.bleeding = _worse(row.bleeding, s.bleeding, ("none", "minor", "major"))
        row.neuro = _worse(row.neuro, s.neuro, ("none", "dizzy", "major"))
        row.vision = row.vision or bool(s.vision_change)
    for lab in session.exec(select(LabResult).where(LabResult.patient_id == pid, LabResult.collected_at >= start,
                                                    LabResult.collected_at < end)).all():
        row = rows.get(day_of(lab.collected_at))
        if row is not None:
            row.labs.append(lab_words(lab))
    return [rows[d] for d in sorted(rows)]


def lab_words(lab: LabResult) -> str:
    parts = []
    if lab.sodium_mmol_l is not None:
        parts.append(f"Na {lab.sodium_mmol_l:g}")
    if lab.platelets_10e9_l is not None:
        parts.append(f"PLT {lab.platelets_10e9_l:g}")
    if lab.anc_10e9_l is not None:
        parts.append(f"ANC {lab.anc_10e9_l:g}")
    if lab.hemoglobin_g_dl is not None:
        parts.append(f"Hb {lab.hemoglobin_g_dl:g}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- the inbox


@dataclass
class EventView:
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
        return f"{3 - tier_rank(self.alert.tier)}|{self.alert.opened_at.strftime('%Y%m%d%H%M%S')}|{self.alert.id:09d}"

    @property
    def pages(self) -> list[EventView]:
        return [e for e in self.events if e.kind == "paged"]


def _resume_finding(session: Session, patient: Patient, plan: TreatmentPlan, now: datetime) -> Finding | None:
    if plan.status != PlanStatus.HELD.value:
        return None
    try:
        findings = evaluate(build_state(session, patient, now), now)
    except Exception:  # noqa: BLE001 - a patient whose state the core refuses still gets their card
        return None
    return next((f for f in findings if f.rule == "R-RESUME"), None)


def _alert_view(session: Session, alert: Alert, patient: Patient, now: datetime, names: dict[int, str]) -> AlertView:
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
        next_dose=next_dose_words(patient, plan, now), age=_age_words(now - alert.opened_at),
        opened_local=local_text(alert.opened_at, patient.timezone), events=events,
        days=recent_days(session, patient, now),
        acknowledged_by=names.get(alert.acknowledged_by_staff_id, "") if alert.acknowledged_by_staff_id else "",
        assigned_to=names.get(alert.assigned_to_staff_id, "") if alert.assigned_to_staff_id else "",
        resume_finding=_resume_finding(session, patient, plan, now),
        is_resume_alert=alert.rule == "R-RESUME",
    )


@dataclass
class InboxFilter:
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
    names = _staff_names(session, staff.clinic_id)
    views = [_alert_view(session, alert, patient, now, names) for alert, patient in session.exec(query).all()]
    return sorted(views, key=lambda v: v.sort_key)


def alert_card(session: Session, staff: Staff, alert_id: int, now: datetime) -> AlertView:
    alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id)
    return _alert_view(session, alert, patient, now, _staff_names(session, staff.clinic_id))


@dataclass
class ResumeReady:
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
        finding = _resume_finding(session, patient, plan, now)
        if finding is not None:
            ready.append(ResumeReady(patient, plan, finding, local_text(plan.created_at, patient.timezone)))
    return ready


def inbox_index(session: Session, staff: Staff) -> list[dict]:
    """The open alerts of the clinic as ids, tiers and change stamps only (no health data, so not audited):
    the live page compares it with what it shows and fetches only the cards that changed."""
    rows = session.exec(select(Alert.id, Alert.tier, Alert.status, Alert.updated_at, Alert.assigned_to_staff_id)
                        .join(Patient, Patient.id == Alert.patient_id)
                        .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))).all()
    return [{"id": i, "tier": t, "status": st, "updated": u.isoformat(), "assignee": a} for i, t, st, u, a in rows]


def tier_counts(views: Iterable[AlertView]) -> dict[str, int]:
    counts = {"urgent": 0, "same_day": 0, "routine": 0}
    for view in views:
        counts[view.alert.tier] = counts.get(view.alert.tier, 0) + 1
    return counts


# --------------------------------------------------------------------------- alert actions


def _publish(ctx: AppContext, alert: Alert, kind: str) -> None:
    ctx.publish("inbox", {"alert_id": alert.id, "patient_id": alert.patient_id, "kind": kind, "tier": alert.tier})


def _cancel_pending_pages(session: Session, alert: Alert, now: datetime, why: str) -> int:
    """Pages not yet handed to the provider are no longer needed once a person has the alert."""
    pages = session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id,
                                                       OutboundMessage.kind == "page",
                                                       OutboundMessage.status == "pending")).all()
    for page in pages:
        page.status = "cancelled"
        page.cancel_reason = why
        page.updated_at = now
        session.add(page)
    return len(pages)


def _acknowledge(session: Session, alert: Alert, staff: Staff, now: datetime) -> bool:
    """In the caller's transaction. Stops escalation: no further page goes out for this alert."""
    if alert.status != "open":
        return False
    alert.status = "acknowledged"
    alert.acknowledged_at = now
    alert.acknowledged_by_staff_id = staff.id
    alert.next_page_at = None
    alert.updated_at = now
    session.add(alert)
    cancelled = _cancel_pending_pages(session, alert, now, f"acknowledged by {staff.name}")
    detail = f"acknowledged by {staff.name} ({staff.role})"
    if cancelled:
        detail += f"; {cancelled} unsent page{'s' if cancelled != 1 else ''} cancelled"
    session.add(AlertEvent(alert_id=alert.id, kind="acknowledged", at=now, staff_id=staff.id, detail=detail))
    return True


def acknowledge_alert(ctx: AppContext, staff: Staff, alert_id: int, *, ip: str | None) -> Alert:
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        changed = _acknowledge(session, alert, staff, now)
        if changed:
            audit(session, staff_id=staff.id, action="alert.acknowledge", patient_id=patient.id, now=now, ip=ip,
                  detail=f"alert #{alert.id} {alert.rule} ({alert.tier})")
    if changed:
        _publish(ctx, alert, "acknowledged")
    return alert


def assign_alert(ctx: AppContext, staff: Staff, alert_id: int, assignee_id: int | None, *, ip: str | None) -> Alert:
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        name = "nobody"
        if assignee_id is not None:
            assignee = session.get(Staff, assignee_id)
            if assignee is None or assignee.clinic_id != staff.clinic_id or not assignee.active:
                raise FieldError("assignee_id", "Choose an active member of the care team.")
            name = assignee.name
        alert.assigned_to_staff_id = assignee_id
        alert.updated_at = now
        session.add(alert)
        session.add(AlertEvent(alert_id=alert.id, kind="assigned", at=now, staff_id=staff.id,
                               detail=f"assigned to {name} by {staff.name}"))
        audit(session, staff_id=staff.id, action="alert.assign", patient_id=patient.id, now=now, ip=ip,
              detail=f"alert #{alert.id} to {name}")
    _publish(ctx, alert, "assigned")
    return alert


def add_note(ctx: AppContext, staff: Staff, alert_id: int, note: str, *, ip: str | None) -> Alert:
    now = ctx.clock.now()
    note = (note or "").strip()
    if not note:
        raise FieldError("note", "Write the note first.")
    if len(note) > NOTE_MAX:
        raise FieldError("note", f"Keep notes under {NOTE_MAX} characters.")
    with session_scope(ctx.engine) as session:
        alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id)
        session.add(AlertEvent(alert_id=alert.id, kind="note", at=now, staff_id=staff.id, detail=note))
        alert.updated_at = now
        session.add(alert)
        audit(session, staff_id=staff.id, action="alert.note", patient_id=patient.id, now=now, ip=ip,
              detail=f"alert #{alert.id}")
    _publish(ctx, alert, "note")
    return alert


def resolve_alert(ctx: AppContext, staff: Staff, alert_id: int, outcome: str, *, ip: str | None) -> Alert:
    """Close the alert with its outcome; the next matching entry opens a new one (§4d)."""
    now = ctx.clock.now()
    outcome = (outcome or "").strip()
    if not outcome:
        raise FieldError("outcome", "Say what was done (the outcome is kept with the alert).")
    if len(outcome) > OUTCOME_MAX:
        raise FieldError("outcome", f"Keep the outcome under {OUTCOME_MAX} characters.")
    with session_scope(ctx.engine) as session:
        alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        _acknowledge(session, alert, staff, now)
        alert.status = "resolved"
        alert.resolved_at = now
        alert.resolved_by_staff_id = staff.id
        alert.outcome = outcome
        alert.next_page_at = None
        alert.updated_at = now
        session.add(alert)
        session.add(AlertEvent(alert_id=alert.id, kind="resolved", at=now, staff_id=staff.id, detail=outcome))
        audit(session, staff_id=staff.id, action="alert.resolve", patient_id=patient.id, now=now, ip=ip,
              detail=f"alert #{alert.id} {alert.rule}: {outcome}")
    _publish(ctx, alert, "resolved")
    return alert


def act_on_alert(ctx: AppContext, staff: Staff, alert_id: int, *, operation: str, reason: str,
                 level: int | None = None, schedule=None, dexamethasone_on_hold: str | None = None,
                 ip: str | None = None) -> TreatmentPlan:
    """A plan change taken from an alert: the hold remembers the alert's rule (for R-RESUME), the alert records
    the action, and an open alert is acknowledged (a person has clearly seen it: stop paging)."""
    from .plans import change_plan

    with Session(ctx.engine) as session:
        alert, _ = _alert_for_staff(session, alert_id, staff.clinic_id)
    if alert.status == "resolved":
        raise Conflict("This alert was already resolved; act from the patient's page.")
    plan = change_plan(ctx, alert.patient_id, staff_id=staff.id, operation=operation, reason=reason, level=level,
                       hold_rule=alert.rule if operation == "hold" else None, schedule=schedule,
                       dexamethasone_on_hold=dexamethasone_on_hold, ip=ip)
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = _alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        _acknowledge(session, alert, staff, now)
        session.add(AlertEvent(alert_id=alert.id, kind="action", at=now, staff_id=staff.id,
                               detail=f"{operation}: plan v{plan.version}, {plan.regimen} level {plan.dose_level}, "
                                      f"{plan.status}. {reason.strip()}"))
        alert.updated_at = now
        session.add(alert)
    _publish(ctx, alert, "action")
    return plan


# --------------------------------------------------------------------------- roster


@dataclass
class RosterRow:
    patient: Patient
    plan: TreatmentPlan
    dose: str
    days_on_therapy: int | None  # None: not started yet
    adherence_taken: int
    adherence_scheduled: int
    weight_kg: float | None
    weight_pct: float | None
    weight_at: datetime | None
    alerts: dict[str, int]

    @property
    def adherence_pct(self) -> float | None:
        if not self.adherence_scheduled:
            return None
        return round(100 * self.adherence_taken / self.adherence_scheduled)

    @property
    def worst_alert_rank(self) -> int:
        return max((tier_rank(t) for t, n in self.alerts.items() if n), default=0)

    @property
    def name(self) -> str:
        return f"{self.patient.last_name}, {self.patient.first_name}"


ROSTER_SORTS = {
    "name": lambda r: (r.patient.last_name.lower(), r.patient.first_name.lower()),
    "mrn": lambda r: r.patient.mrn,
    "status": lambda r: (r.plan.status, r.patient.last_name.lower()),
    "days": lambda r: (r.days_on_therapy is None, r.days_on_therapy or 0),
    "adherence": lambda r: (r.adherence_pct is None, r.adherence_pct or 0),
    "weight": lambda r: (r.weight_pct is None, r.weight_pct or 0),
    "alerts": lambda r: (-r.worst_alert_rank, -sum(r.alerts.values()), r.patient.last_name.lower()),
}


@dataclass
class RosterFilter:
    q: str = ""
    status: str = ""  # active | held | discontinued
    regimen: str = ""
    alerts: str = ""  # any | urgent | none
    sort: str = "alerts"
    desc: bool = False


def roster(session: Session, staff: Staff, now: datetime, flt: RosterFilter | None = None) -> list[RosterRow]:
    """Every patient of the clinic with the numbers a pharmacist scans for (a handful of queries, not N+1)."""
    flt = flt or RosterFilter()
    patients = {p.id: p for p in session.exec(select(Patient).where(Patient.clinic_id == staff.clinic_id)).all()}
    if not patients:
        return []
    ids = list(patients)
    versions: dict[int, list[TreatmentPlan]] = defaultdict(list)
    for plan in session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id.in_(ids))
                             .order_by(TreatmentPlan.patient_id, TreatmentPlan.version)).all():
        versions[plan.patient_id].append(plan)
    latest_weight: dict[int, WeightEntry] = {}
    for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id.in_(ids), WeightEntry.superseded_at.is_(None))
                          .order_by(WeightEntry.patient_id, WeightEntry.at)).all():
        latest_weight[w.patient_id] = w
    window_start = now - timedelta(days=ADHERENCE_DAYS + 2)
    taken: dict[int, set[date]] = defaultdict(set)
    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id.in_(ids), DoseEvent.superseded_at.is_(None),
                                                  DoseEvent.at >= window_start,
                                                  DoseEvent.status.in_(("taken", "vomited")))).all():
        patient = patients[d.patient_id]
        taken[d.patient_id].add(d.scheduled_for or d.at.astimezone(setup_zone(patient.timezone)).date())
    alerts: dict[int, dict[str, int]] = defaultdict(lambda: {"urgent": 0, "same_day": 0, "routine": 0})
    for patient_id, tier, count in session.exec(
            select(Alert.patient_id, Alert.tier, sa.func.count()).where(Alert.patient_id.in_(ids),
                                                                       Alert.status.in_(OPEN_STATUSES))
            .group_by(Alert.patient_id, Alert.tier)).all():
        alerts[patient_id][tier] = count

    rows = []
    for pid, patient in patients.items():
        if not versions[pid]:
            continue
        plan = versions[pid][-1]
        today = now.astimezone(setup_zone(patient.timezone)).date()
        start = versions[pid][0].start_date
        days_on = (today - start).days + 1 if today >= start else None
        scheduled = done = 0
        # Completed local days only: today's dose may still be ahead.
        for i in range(1, ADHERENCE_DAYS + 1):
            day = today - timedelta(days=i)
            if day < start:
                break
            dose, _ = scheduled_dose_on(patient, versions[pid], day)
            if dose is not None:
                scheduled += 1
                done += day in taken[pid]
        weight = latest_weight.get(pid)
        pct = (round((weight.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1)
               if weight else None)
        rows.append(RosterRow(patient=patient, plan=plan, dose=dose_words(patient, plan), days_on_therapy=days_on,
                              adherence_taken=done, adherence_scheduled=scheduled,
                              weight_kg=weight.kg if weight else None, weight_pct=pct,
                              weight_at=weight.at if weight else None, alerts=dict(alerts[pid])))

    q = flt.q.strip().lower()
    if q:
        rows = [r for r in rows if q in r.patient.mrn.lower() or q in f"{r.patient.first_name} {r.patient.last_name}".lower()
                or q in r.name.lower()]
    if flt.status:
        rows = [r for r in rows if r.plan.status == flt.status]
    if flt.regimen:
        rows = [r for r in rows if r.plan.regimen == flt.regimen]
    if flt.alerts == "any":
        rows = [r for r in rows if sum(r.alerts.values())]
    elif flt.alerts == "urgent":
        rows = [r for r in rows if r.alerts.get("urgent")]
    elif flt.alerts == "none":
        rows = [r for r in rows if not sum(r.alerts.values())]
    rows.sort(key=ROSTER_SORTS.get(flt.sort, ROSTER_SORTS["alerts"]), reverse=flt.desc)
    return rows


# --------------------------------------------------------------------------- a patient's page


@dataclass
class PatientOverview:
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


def patient_overview(session: Session, staff: Staff, patient_id: int, now: datetime) -> PatientOverview:
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    versions = _versions(session, patient.id)
    if not versions:
        raise NotFound("This patient has no treatment plan.")
    plan = versions[-1]
    names = _staff_names(session, staff.clinic_id)
    alerts = session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.status.in_(OPEN_STATUSES))).all()
    views = sorted((_alert_view(session, a, patient, now, names) for a in alerts), key=lambda v: v.sort_key)
    latest = session.exec(select(WeightEntry).where(WeightEntry.patient_id == patient.id,
                                                    WeightEntry.superseded_at.is_(None))
                          .order_by(WeightEntry.at.desc())).first()
    lower, lower_words = lower_level_words(patient, plan)
    return PatientOverview(
        patient=patient, plan=plan, versions=list(reversed(versions)), dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now), lower_level=lower, lower_words=lower_words,
        open_alerts=views, resume_finding=_resume_finding(session, patient, plan, now),
        days=recent_days(session, patient, now), latest_weight=latest,
        weight_pct=round((latest.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1) if latest else None,
        changed_by=names,
        levels=[(lv.level, lv.describe()) for lv in REGIMENS[plan.regimen].levels],
    )


def weights_between(session: Session, patient_id: int, start: datetime, end: datetime) -> list[WeightEntry]:
    return list(session.exec(select(WeightEntry).where(WeightEntry.patient_id == patient_id,
                                                       WeightEntry.superseded_at.is_(None),
                                                       WeightEntry.at >= start, WeightEntry.at <= end)
                             .order_by(WeightEntry.at)).all())


# --------------------------------------------------------------------------- timeline


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # entry | alert | message | plan | lab
    title: str
    detail: str = ""
    status: str = ""
    tone: str = ""  # urgent | same_day | routine | muted, for the eye


def _symptom_words(s: SymptomReport, usual: int) -> str:
    parts = []
    if s.nausea is not None:
        parts.append(f"nausea {s.nausea}")
    if s.vomiting_episodes is not None:
        parts.append(f"vomiting ×{s.vomiting_episodes}")
    if s.loose_stools is not None:
        parts.append(f"stools {s.loose_stools} ({max(0, s.loose_stools - usual)} above usual)")
    if s.appetite is not None:
        parts.append(f"appetite {s.appetite}")
    if s.fatigue is not None:
        parts.append(f"fatigue {s.fatigue}")
    if s.temperature_c is not None:
        parts.append(f"{s.temperature_c:.1f} °C")
    if s.chills:
        parts.append("chills")
    if s.bleeding and s.bleeding != "none":
        parts.append(f"bleeding: {s.bleeding}")
    if s.neuro and s.neuro != "none":
        parts.append(f"dizziness/confusion: {s.neuro}")
    if s.vision_change:
        parts.append("vision change")
    return ", ".join(parts) or "nothing reported"


def timeline(session: Session, staff: Staff, patient_id: int, now: datetime, days: int = 30) -> list[TimelineItem]:
    """Everything that happened to one patient in the last `days` days, newest first."""
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    since = now - timedelta(days=days)
    pid = patient.id
    names = _staff_names(session, staff.clinic_id)
    items: list[TimelineItem] = []
    unit = patient.weight_unit
    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid, DoseEvent.at >= since)).all():
        items.append(TimelineItem(d.at, "entry", f"Dose {d.status}",
                                  f"for {d.scheduled_for:%a %d %b}" + ("; antiemetic taken" if d.antiemetic_taken else "")
                                  + (" (corrected later)" if d.superseded_at else ""), d.source,
                                  "muted" if d.superseded_at else ""))
    for a in session.exec(select(AntiemeticEvent).where(AntiemeticEvent.patient_id == pid,
                                                        AntiemeticEvent.at >= since)).all():
        items.append(TimelineItem(a.at, "entry", "Anti-nausea medicine taken", "", a.source,
                                  "muted" if a.superseded_at else ""))
    for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid, WeightEntry.at >= since)).all():
        pct = (w.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100
        items.append(TimelineItem(w.at, "entry", f"Weight {w.entered_value:g} {w.entered_unit}",
                                  f"{w.kg:.1f} kg, {pct:+.1f}% from baseline" + (" (corrected later)" if w.superseded_at else ""),
                                  w.source, "muted" if w.superseded_at else ""))
    for s in session.exec(select(SymptomReport).where(SymptomReport.patient_id == pid, SymptomReport.at >= since)).all():
        items.append(TimelineItem(s.at, "entry", "Symptom check-in", _symptom_words(s, patient.usual_stools_per_day)
                                  + (" (corrected later)" if s.superseded_at else ""), s.source,
                                  "muted" if s.superseded_at else ""))
    for lab in session.exec(select(LabResult).where(LabResult.patient_id == pid, LabResult.collected_at >= since)).all():
        who = names.get(lab.entered_by_staff_id, "") if lab.entered_by_staff_id else lab.source
        items.append(TimelineItem(lab.collected_at, "lab", "Labs", lab_words(lab), f"entered by {who}"))
    for alert in session.exec(select(Alert).where(Alert.patient_id == pid, Alert.opened_at >= since)).all():
        items.append(TimelineItem(alert.opened_at, "alert", f"Alert opened: {alert.rule} ({TIER_WORDS.get(alert.tier, alert.tier)})",
                                  alert.facts, alert.status, alert.tier))
    for event, alert in session.exec(select(AlertEvent, Alert).join(Alert, Alert.id == AlertEvent.alert_id)
                                     .where(Alert.patient_id == pid, AlertEvent.at >= since,
                                            AlertEvent.kind != "created")).all():
        who = names.get(event.staff_id, "system") if event.staff_id else "system"
        items.append(TimelineItem(event.at, "alert", f"Alert #{alert.id} {event.kind}", f"{event.detail} ({who})", "",
                                  "muted"))
    for r in session.exec(select(OutboundMessage).where(OutboundMessage.patient_id == pid,
                                                        OutboundMessage.kind != "page",
                                                        OutboundMessage.send_at >= since, OutboundMessage.send_at <= now,
                                                        OutboundMessage.status != "pending")).all():
        status = r.delivery_status or r.status
        detail = r.body or ""
        if r.last_error:
            detail += f" [{r.last_error}]"
        if r.cancel_reason:
            detail += f" [cancelled: {r.cancel_reason}]"
        tone = "urgent" if r.status in ("failed", "unknown") or r.delivery_status in ("undelivered", "failed") else ""
        items.append(TimelineItem(r.sent_at or r.send_at, "message", f"Sent {r.kind.replace('_', ' ')} by {r.channel}",
                                  detail.strip(), status, tone or ("muted" if r.status == "cancelled" else "")))
    for m in session.exec(select(InboundMessage).where(InboundMessage.patient_id == pid,
                                                       InboundMessage.received_at >= since)).all():
        items.append(TimelineItem(m.received_at, "message", "Received SMS", f"“{m.body}”"
                                  + (f" → handled as {m.handled_as}" if m.handled_as else "")
                                  + (f"; replied “{m.reply}”" if m.reply else ""), "received"))
    for v in session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == pid,
                                                      TreatmentPlan.created_at >= since)).all():
        who = names.get(v.changed_by_staff_id, "") if v.changed_by_staff_id else "system"
        items.append(TimelineItem(v.created_at, "plan", f"Plan v{v.version}: {v.status}, {v.regimen} level {v.dose_level}",
                                  f"{v.reason} ({who})" + (f"; held for {v.hold_rule}" if v.hold_rule else "")
                                  + _dexamethasone_on_hold_words(v), v.status))
    items.sort(key=lambda i: i.at, reverse=True)
    return items


def _dexamethasone_on_hold_words(plan: TreatmentPlan) -> str:
    """'; dexamethasone continues' / '; dexamethasone held too' for a held Xd/XVd version (clinical-reference §1)."""
    if plan.status != "held" or plan.regimen not in ("Xd", "XVd"):
        return ""
    return "; dexamethasone held too" if plan.dexamethasone_on_hold == "hold" else "; dexamethasone continues"


# --------------------------------------------------------------------------- visit summary


@dataclass
class VisitSummary:
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
    today_start = datetime.combine(now.date(), time(0), timezone.utc)
    at = session.exec(select(sa.func.max(AuditLog.at)).where(AuditLog.patient_id == patient_id,
                                                             AuditLog.action == "patient.visit_summary",
                                                             AuditLog.at < today_start)).first()
    return at.date() if at else None


def visit_summary(session: Session, staff: Staff, patient_id: int, now: datetime, since: date | None) -> VisitSummary:
    """A one-page summary since the last visit: doses, weight trend, worst symptoms, alerts and actions."""
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    zone = setup_zone(patient.timezone)
    today = now.astimezone(zone).date()
    versions = _versions(session, patient.id)
    plan = versions[-1]
    since = since or today - timedelta(days=VISIT_DEFAULT_DAYS)
    start, _ = _day_bounds(since, patient.timezone)
    pid = patient.id
    logs: dict[date, str] = {}
    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid, DoseEvent.superseded_at.is_(None),
                                                  DoseEvent.at >= start - timedelta(days=1))).all():
        day = d.scheduled_for or d.at.astimezone(zone).date()
        logs[day] = _worse(logs.get(day), d.status, DOSE_LOG_ORDER)
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
    symptoms = session.exec(select(SymptomReport).where(SymptomReport.patient_id == pid,
                                                        SymptomReport.superseded_at.is_(None),
                                                        SymptomReport.at >= start).order_by(SymptomReport.at)).all()
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
    worst_of("Diarrhea (stools above usual)",
             [(max(0, s.loose_stools - patient.usual_stools_per_day) if s.loose_stools is not None else None, s.at)
              for s in symptoms], str)
    worst_of("Appetite (grade 0-3)", [(s.appetite, s.at) for s in symptoms], str)
    worst_of("Fatigue (grade 0-3)", [(s.fatigue, s.at) for s in symptoms], str)
    worst_of("Temperature", [(s.temperature_c, s.at) for s in symptoms], lambda v: f"{v:.1f} °C")
    worst_of("Bleeding", [(s.bleeding, s.at) for s in symptoms], str, ("none", "minor", "major"))
    worst_of("Dizziness / confusion", [(s.neuro, s.at) for s in symptoms], str, ("none", "dizzy", "major"))
    alerts = list(session.exec(select(Alert).where(Alert.patient_id == pid, sa.or_(
        Alert.opened_at >= start, Alert.status.in_(OPEN_STATUSES), Alert.resolved_at >= start)).order_by(Alert.opened_at)).all())
    actions = [v for v in versions if v.created_at >= start]
    labs = list(session.exec(select(LabResult).where(LabResult.patient_id == pid, LabResult.collected_at >= start)
                             .order_by(LabResult.collected_at)).all())
    return VisitSummary(
        patient=patient, plan=plan, since=since, until=today, doses_scheduled=scheduled, doses_taken=taken,
        doses_vomited=vomited, doses_missed=missed, doses_not_logged=not_logged,
        weights=weights_between(session, pid, start, now), worst=worst, alerts=alerts, actions=actions, labs=labs,
        names=_staff_names(session, staff.clinic_id), dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now),
    )


# --------------------------------------------------------------------------- audit of views


def record_view(ctx: AppContext, staff: Staff, action: str, *, patient_id: int | None = None, detail: str = "",
                ip: str | None = None) -> None:
    """Every staff view of patient data is audited (who, what, when, from where)."""
    with session_scope(ctx.engine) as session:
        audit(session, staff_id=staff.id, action=action, patient_id=patient_id, now=ctx.clock.now(), ip=ip,
              detail=detail)


def record_views(ctx: AppContext, staff: Staff, action: str, patient_ids: Iterable[int], *, ip: str | None,
                 detail: str = "") -> None:
    """One audit row per patient whose data a page showed (the inbox and roster show many at once)."""
    now = ctx.clock.now()
    patient_ids = sorted(set(patient_ids))
    with session_scope(ctx.engine) as session:
        for pid in patient_ids:
            audit(session, staff_id=staff.id, action=action, patient_id=pid, now=now, ip=ip, detail=detail)
        if not patient_ids:
            audit(session, staff_id=staff.id, action=action, now=now, ip=ip, detail=detail or "no patients shown")


# --------------------------------------------------------------------------- audit log for admins


@dataclass
class AuditFilter:
    staff_id: int | None = None
    patient_id: int | None = None
    action: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1


AUDIT_PAGE_SIZE = 100


def audit_log(session: Session, admin: Staff, flt: AuditFilter) -> tuple[list[AuditLog], bool]:
    """Audit rows of the admin's clinic (by its staff, or about its patients), newest first; and whether more exist."""
    staff_ids = select(Staff.id).where(Staff.clinic_id == admin.clinic_id)
    patient_ids = select(Patient.id).where(Patient.clinic_id == admin.clinic_id)
    query = select(AuditLog).where(sa.or_(AuditLog.staff_id.in_(staff_ids), AuditLog.patient_id.in_(patient_ids)))
    if flt.staff_id:
        query = query.where(AuditLog.staff_id == flt.staff_id)
    if flt.patient_id:
        query = query.where(AuditLog.patient_id == flt.patient_id)
    if flt.action:
        query = query.where(AuditLog.action.startswith(flt.action))
    if flt.since:
        query = query.where(AuditLog.at >= datetime.combine(flt.since, time(0), timezone.utc))
    if flt.until:
        query = query.where(AuditLog.at < datetime.combine(flt.until + timedelta(days=1), time(0), timezone.utc))
    page = max(1, flt.page)
    rows = list(session.exec(query.order_by(AuditLog.at.desc(), AuditLog.id.desc())
                             .offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE + 1)).all())
    return rows[:AUDIT_PAGE_SIZE], len(rows) > AUDIT_PAGE_SIZE


# --------------------------------------------------------------------------- plan actions from the staff pages


@dataclass(frozen=True)
class PlanForm:
    """A plan decision as typed on a staff page (strings, as browsers send them)."""

    operation: str = ""
    reason: str = ""
    level: str = ""
    hold_rule: str = ""
    day1_weekday: str = ""
    day3_weekday: str = ""
    dose_time: str = ""
    antiemetic_name: str = ""
    antiemetic_offset_min: str = ""
    dexamethasone_instruction: str = ""
    dexamethasone_on_hold: str = ""  # with a hold of Xd/XVd: continue | hold (clinical-reference section 1)
    back: str = ""


@dataclass(frozen=True)
class PlanDecision:
    operation: str
    reason: str
    level: int | None
    hold_rule: str | None
    schedule: object | None  # plans.ScheduleChange
    dexamethasone_on_hold: str | None = None


def parse_plan_form(form: PlanForm) -> PlanDecision:
    """Turn the form into change_plan's arguments; bad values name their field."""
    from .plans import OPERATIONS, ScheduleChange

    operation = form.operation.strip()
    if operation not in OPERATIONS:
        raise FieldError("operation", f"Choose one of: {', '.join(OPERATIONS)}.")
    reason = form.reason.strip()
    if not reason:
        raise FieldError("reason", "Say why (it is kept with the plan version and shown in the timeline).")
    if len(reason) > 500:
        raise FieldError("reason", "Keep the reason under 500 characters.")
    level = None
    if operation == "resume" and form.level.strip():
        try:
            level = int(form.level)
        except ValueError:
            raise FieldError("level", "Choose the level to resume at.") from None
    hold_rule = form.hold_rule.strip() or None
    if hold_rule is not None and hold_rule not in RULES:
        raise FieldError("hold_rule", "Choose one of the patient's alerts, or none.")
    # clinical-reference: section 1: the service refuses a hold of Xd/XVd without the choice, in words
    dexamethasone_on_hold = form.dexamethasone_on_hold.strip() or None
    if dexamethasone_on_hold is not None and dexamethasone_on_hold not in ("continue", "hold"):
        raise FieldError("dexamethasone_on_hold", "Choose: continue dexamethasone as prescribed, or hold it too.")
    schedule = None
    if operation == "change_schedule":
        values: dict = {}
        for name in ("day1_weekday", "day3_weekday"):
            text = getattr(form, name).strip()
            if text:
                try:
                    values[name] = int(text)
                except ValueError:
                    raise FieldError(name, "Choose a weekday.") from None
                if not 0 <= values[name] <= 6:
                    raise FieldError(name, "Choose a weekday.")
        if "day1_weekday" in values and "day3_weekday" not in values:
            values["day3_weekday"] = (values["day1_weekday"] + 2) % 7  # Day 3 follows Day 1 (reference §1)
        if form.dose_time.strip():
            try:
                values["dose_time"] = time.fromisoformat(form.dose_time.strip()).replace(second=0, microsecond=0)
            except ValueError:
                raise FieldError("dose_time", "Dose time must be a local time like 08:00.") from None
        if form.antiemetic_name.strip():
            if len(form.antiemetic_name.strip()) > 100:
                raise FieldError("antiemetic_name", "Keep the antiemetic under 100 characters.")
            values["antiemetic_name"] = form.antiemetic_name.strip()
        if form.antiemetic_offset_min.strip():
            try:
                values["antiemetic_offset_min"] = int(form.antiemetic_offset_min)
            except ValueError:
                raise FieldError("antiemetic_offset_min", "Minutes before the dose must be a whole number.") from None
        if form.dexamethasone_instruction.strip():
            if len(form.dexamethasone_instruction.strip()) > 300:
                raise FieldError("dexamethasone_instruction", "Keep the instruction under 300 characters.")
            values["dexamethasone_instruction"] = form.dexamethasone_instruction.strip()
        if not values:
            raise FieldError("day1_weekday", "Change at least one of: weekdays, dose time, antiemetic.")
        schedule = ScheduleChange(**values)
    return PlanDecision(operation=operation, reason=reason, level=level, hold_rule=hold_rule, schedule=schedule,
                        dexamethasone_on_hold=dexamethasone_on_hold if operation == "hold" else None)


def change_patient_plan(ctx: AppContext, staff: Staff, patient_id: int, form: PlanForm, *,
                        ip: str | None) -> TreatmentPlan:
    """A plan decision from the patient's page (the patient must belong to the staff member's clinic)."""
    from .plans import change_plan

    decision = parse_plan_form(form)
    with Session(ctx.engine) as session:
        patient_for_staff(session, patient_id, staff.clinic_id)
    return change_plan(ctx, patient_id, staff_id=staff.id, operation=decision.operation, reason=decision.reason,
                       level=decision.level, hold_rule=decision.hold_rule if decision.operation == "hold" else None,
                       schedule=decision.schedule, dexamethasone_on_hold=decision.dexamethasone_on_hold, ip=ip)


def act_on_alert_form(ctx: AppContext, staff: Staff, alert_id: int, form: PlanForm, *,
                      ip: str | None) -> TreatmentPlan:
    decision = parse_plan_form(form)
    return act_on_alert(ctx, staff, alert_id, operation=decision.operation, reason=decision.reason,
                        level=decision.level, schedule=decision.schedule,
                        dexamethasone_on_hold=decision.dexamethasone_on_hold, ip=ip)
