# Over 400 lines on purpose: the page's queries and the views built from them are read together.
"""The care team's inbox: open alerts of the clinic as cards (everything a card shows, clinical-reference §6),
the tier counts, the index the live page re-syncs against, and held patients ready to resume (R-RESUME).

Reads take a Session (the route opens one). Everything is scoped to the staff member's clinic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from ...clinical.regimens import PlanStatus
from ...clinical.rules import RULES, Finding, Tier, evaluate
from ...models import Alert, AlertEvent, Patient, Staff, TreatmentPlan
from ..clinic_scope import OPEN_STATUSES, alert_for_staff, staff_names
from ..patient_state import build_state, build_states, current_plan
from .recent_days import DayRow, recent_days, recent_days_for
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
    next_page: str = ""  # time to the next escalation page of an open alert ("" once acknowledged)
    is_new: bool = False  # opened in the last minutes and nobody has it yet: highlighted

    @property
    def sort_key(self) -> str:
        """Tier (most severe first), then newest first: the order the inbox is read in (issue 12 item 1)."""
        newest_first = 10**11 - int(self.alert.opened_at.timestamp())
        return f"{3 - Tier(self.alert.tier).rank}|{newest_first:011d}|{10**9 - self.alert.id:09d}"

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


def card_view(
    alert: Alert,
    patient: Patient,
    plan: TreatmentPlan,
    events: list[EventView],
    days: list[DayRow],
    names: dict[int, str],
    now: datetime,
    resume_finding: Finding | None,
) -> AlertView:
    """One alert as its card or row shows it, from rows already loaded."""
    rule = RULES.get(alert.rule)
    lower, lower_words = lower_level_words(patient, plan)
    if alert.resume_dose:
        resume = (
            f"level {alert.resume_level}: {alert.resume_dose}"
            if alert.resume_level is not None
            else f"{alert.resume_dose} (no lower level: the label says permanently discontinue)"
        )
    elif alert.action in ("reduce", "interrupt"):
        resume = lower_words if lower is None else f"level {lower}: {lower_words}"
    else:
        resume = "no change from the label"
    return AlertView(
        alert=alert,
        patient=patient,
        plan=plan,
        rule_words=f"{alert.rule}: {rule.condition}" if rule else alert.rule,
        action_words=ACTION_WORDS.get(alert.action, alert.action),
        resume_words=resume,
        lower_level=lower,
        lower_words=lower_words,
        current_dose=dose_words(patient, plan),
        next_dose=next_dose_words(patient, plan, now),
        age=age_words(now - alert.opened_at),
        opened_local=local_text(alert.opened_at, patient.timezone),
        events=events,
        days=days,
        acknowledged_by=names.get(alert.acknowledged_by_staff_id, "") if alert.acknowledged_by_staff_id else "",
        assigned_to=names.get(alert.assigned_to_staff_id, "") if alert.assigned_to_staff_id else "",
        resume_finding=resume_finding,
        is_resume_alert=alert.rule == "R-RESUME",
        next_page=(
            age_words(alert.next_page_at - now)
            if alert.status == "open" and alert.next_page_at and alert.next_page_at > now
            else ("due now" if alert.status == "open" and alert.next_page_at else "")
        ),
        is_new=alert.status == "open" and now - alert.opened_at <= NEW_FOR,
    )


def event_view(e: AlertEvent, names: dict[int, str]) -> EventView:
    """One line of an alert's history, with the staff member's name (or "system")."""
    return EventView(e.at, e.kind, names.get(e.staff_id, "system") if e.staff_id else "system", e.detail)


def alert_view(session: Session, alert: Alert, patient: Patient, now: datetime, names: dict[int, str]) -> AlertView:
    """One alert as its card shows it."""
    plan = current_plan(session, patient.id)
    events = [
        event_view(e, names)
        for e in session.exec(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
        ).all()
    ]
    return card_view(
        alert,
        patient,
        plan,
        events,
        recent_days(session, patient, now),
        names,
        now,
        resume_finding_of(session, patient, plan, now),
    )


@dataclass
class InboxFilter:
    """The inbox's filters (a tier, or only the alerts assigned to me) and the page."""

    tier: str = ""  # urgent | same_day | routine | "" (all)
    mine: bool = False  # assigned to me (and, always, urgent alerts nobody has: issue 12 item 2)
    page: int = 1


def _filtered(query: Any, staff: Staff, flt: InboxFilter) -> Any:
    """The open alerts of the staff member's clinic that the filter keeps."""
    query = query.where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))
    if flt.tier:
        query = query.where(Alert.tier == flt.tier)
    if flt.mine:
        # A personal view never hides urgent work nobody has taken.
        query = query.where(
            sa.or_(
                Alert.assigned_to_staff_id == staff.id,
                sa.and_(Alert.assigned_to_staff_id.is_(None), Alert.tier == Tier.URGENT.value),
            )
        )
    return query


def open_alerts(session: Session, staff: Staff, now: datetime, flt: InboxFilter | None = None) -> list[AlertView]:
    """Every open and acknowledged alert the filter keeps, in the inbox's order (all pages)."""
    flt = flt or InboxFilter()
    views: list[AlertView] = []
    page = 1
    while True:
        result = inbox_groups(session, staff, now, InboxFilter(flt.tier, flt.mine, page))
        views.extend(result.views)
        if page >= result.pages:
            return views
        page += 1


@dataclass
class PatientGroup:
    """One patient's open alerts in the inbox, with the patient's 14-day grid shown once."""

    patient: Patient
    plan: TreatmentPlan
    alerts: list[AlertView]
    days: list[DayRow]
    resume_finding: Finding | None = None

    @property
    def tier(self) -> str:
        """The most severe tier among the patient's open alerts."""
        return self.alerts[0].alert.tier


@dataclass
class InboxCounts:
    """The clinic's open alerts by tier, and the personal view's summary ("0 assigned to you · 4 urgent unassigned")."""

    by_tier: dict[str, int]
    assigned_to_me: int
    urgent_unassigned: int


@dataclass
class InboxPage:
    """One page of the inbox: patients most severe first, then newest; their alerts the same way."""

    groups: list[PatientGroup]
    page: int
    pages: int
    patients: int
    counts: InboxCounts

    @property
    def views(self) -> list[AlertView]:
        """The page's alerts in reading order."""
        return [view for group in self.groups for view in group.alerts]


INBOX_PAGE_SIZE = 25  # patients per page (each has at most a handful of open alerts: one per rule family)
NEW_FOR = timedelta(minutes=15)  # an open alert this young is highlighted as new
_TIER_ORDER = sa.case({Tier.URGENT.value: 0, Tier.SAME_DAY.value: 1, Tier.ROUTINE.value: 2}, value=Alert.tier, else_=3)


def inbox_counts(session: Session, staff: Staff) -> InboxCounts:
    """Open alerts of the clinic by tier, mine, and urgent ones nobody has (one query)."""
    rows = session.exec(
        select(
            Alert.tier,
            sa.func.count(),
            sa.func.sum(sa.case((Alert.assigned_to_staff_id == staff.id, 1), else_=0)),
            sa.func.sum(sa.case((Alert.assigned_to_staff_id.is_(None), 1), else_=0)),
        )
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))
        .group_by(Alert.tier)
    ).all()
    by_tier = {"urgent": 0, "same_day": 0, "routine": 0}
    mine = unassigned_urgent = 0
    for tier, count, assigned, unassigned in rows:
        by_tier[tier] = by_tier.get(tier, 0) + count
        mine += assigned or 0
        if tier == Tier.URGENT.value:
            unassigned_urgent = unassigned or 0
    return InboxCounts(by_tier, mine, unassigned_urgent)


def inbox_groups(
    session: Session,
    staff: Staff,
    now: datetime,
    flt: InboxFilter | None = None,
    page_size: int = INBOX_PAGE_SIZE,
    ready: list[ResumeReady] | None = None,
) -> InboxPage:
    """One page of the inbox, in a fixed number of statements whatever the number of open alerts: the page's
    patients, their alerts, current plans, alert histories, names and 14-day grids are each loaded in one query."""
    flt = flt or InboxFilter()
    # Patients ordered by their most severe open alert, then by the newest alert of that tier: each patient's first
    # alert in that order (one pass over the open alerts and a sort; a self-join of them went quadratic on
    # PostgreSQL whenever the planner misjudged its size).
    rank = _TIER_ORDER.label("rank")
    alerts = _filtered(
        select(
            Alert.patient_id.label("pid"),
            rank,
            Alert.opened_at.label("at"),
            sa.func.row_number()
            .over(partition_by=Alert.patient_id, order_by=(_TIER_ORDER, Alert.opened_at.desc()))
            .label("nth"),
        ).join(Patient, Patient.id == Alert.patient_id),
        staff,
        flt,
    ).subquery()
    keys = (
        select(alerts.c.pid, alerts.c.rank, alerts.c.at.label("newest"), sa.func.count().over().label("total"))
        .where(alerts.c.nth == 1)
        .order_by(alerts.c.rank, alerts.c.at.desc(), alerts.c.pid)
        .offset((max(flt.page, 1) - 1) * page_size)
        .limit(page_size)
    )
    page_rows = session.exec(keys).all()
    total = page_rows[0][3] if page_rows else 0
    counts = inbox_counts(session, staff)
    pids = [row[0] for row in page_rows]
    pages = max(1, -(-total // page_size))
    if not pids:
        return InboxPage([], min(max(flt.page, 1), pages), pages, total, counts)
    rows = session.exec(
        _filtered(select(Alert, Patient).join(Patient, Patient.id == Alert.patient_id), staff, flt).where(
            Alert.patient_id.in_(pids)
        )
    ).all()
    latest = (
        select(TreatmentPlan.patient_id, sa.func.max(TreatmentPlan.version).label("v"))
        .where(TreatmentPlan.patient_id.in_(pids))
        .group_by(TreatmentPlan.patient_id)
        .subquery()
    )
    plans = {
        plan.patient_id: plan
        for plan in session.exec(
            select(TreatmentPlan).join(
                latest, sa.and_(latest.c.patient_id == TreatmentPlan.patient_id, latest.c.v == TreatmentPlan.version)
            )
        ).all()
    }
    alert_ids = [alert.id for alert, _ in rows]
    names = staff_names(session, staff.clinic_id)
    events: dict[int, list[EventView]] = {i: [] for i in alert_ids}
    for e in session.exec(
        select(AlertEvent)
        .where(AlertEvent.alert_id.in_(alert_ids))
        .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
    ).all():
        events[e.alert_id].append(event_view(e, names))
    patients = {patient.id: patient for _, patient in rows}
    days = recent_days_for(session, [patients[pid] for pid in pids if pid in patients], now)
    resume = {r.patient.id: r.finding for r in (ready or [])}
    grouped: dict[int, list[AlertView]] = {pid: [] for pid in pids}
    for alert, patient in rows:
        grouped[patient.id].append(
            card_view(alert, patient, plans[patient.id], events[alert.id], [], names, now, resume.get(patient.id))
        )
    groups = []
    for pid in pids:
        views = sorted(
            grouped[pid], key=lambda v: (-Tier(v.alert.tier).rank, -v.alert.opened_at.timestamp(), -v.alert.id)
        )
        if views:
            groups.append(PatientGroup(patients[pid], plans[pid], views, days[pid], resume.get(pid)))
    return InboxPage(groups, flt.page, pages, total, counts)


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
    """Held patients who meet the resume criterion of the rule that held them (R-RESUME), for the inbox's top.

    Three queries whatever the number of held patients (held patients, their plan versions, their entries)."""
    latest = (
        select(TreatmentPlan.patient_id, sa.func.max(TreatmentPlan.version).label("v"))
        .group_by(TreatmentPlan.patient_id)
        .subquery()
    )
    rows = session.exec(
        select(Patient, TreatmentPlan)
        .join(latest, latest.c.patient_id == Patient.id)
        .join(TreatmentPlan, sa.and_(TreatmentPlan.patient_id == Patient.id, TreatmentPlan.version == latest.c.v))
        .where(Patient.clinic_id == staff.clinic_id, TreatmentPlan.status == PlanStatus.HELD.value)
    ).all()
    if not rows:
        return []
    versions: dict[int, list[TreatmentPlan]] = {patient.id: [] for patient, _ in rows}
    for version in session.exec(
        select(TreatmentPlan)
        .where(TreatmentPlan.patient_id.in_(versions))
        .order_by(TreatmentPlan.patient_id, TreatmentPlan.version.desc())
    ).all():
        versions[version.patient_id].append(version)
    # R-RESUME reads entries and the plan, not R-PLAN-UNSEEN's inputs: leave those out (a query per notice).
    try:
        states = build_states(session, [patient for patient, _ in rows], now, versions, plan_unseen=False)
    except Exception:  # noqa: BLE001 - one patient the core refuses must not hide the others: one at a time
        states = {}
    ready = []
    for patient, plan in rows:
        if patient.id in states:
            try:
                findings = evaluate(states[patient.id], now)
            except Exception:  # noqa: BLE001 - as resume_finding_of: a state the core refuses shows no resume row
                findings = []
            finding = next((f for f in findings if f.rule == "R-RESUME"), None)
        else:
            finding = resume_finding_of(session, patient, plan, now)
        if finding is not None:
            ready.append(ResumeReady(patient, plan, finding, local_text(plan.created_at, patient.timezone)))
    return ready


def inbox_index(session: Session, staff: Staff) -> list[dict[str, Any]]:
    """The open alerts of the clinic as ids, tiers and change stamps only (no health data, so not audited):
    the live page compares it with what it shows and fetches only the cards that changed."""
    rows = session.exec(
        select(Alert.id, Alert.tier, Alert.status, Alert.updated_at, Alert.assigned_to_staff_id)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))
    ).all()
    return [{"id": i, "tier": t, "status": st, "updated": u.isoformat(), "assignee": a} for i, t, st, u, a in rows]
