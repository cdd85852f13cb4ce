# Over 400 lines on purpose: one read model per patient page, kept together because Today, History and the API share
# them and their local-day helpers and entry lookups (the wait for the care team and the report statuses live in
# report_status.py, the plan-change notice in plan_notices.py).
"""Read models for the patient app: what to take today, the adherence calendar, the weight chart, the symptom timeline.

Nothing here writes. Times come out in the patient's own time zone; words are chosen by the templates (in the
patient's language), so these are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..clinical.advice import CareTeamContact
from ..clinical.grading import QUESTIONS
from ..clinical.regimens import PlanStatus
from ..clinical.rules import FEVER_C
from ..clinical.schedule import (
    EventKind,
    ScheduledEvent,
    ScheduleSetup,
    dexamethasone_weekdays,
    dose_on_local_date,
    events_on_local_date,
    is_dose_day,
    next_dose,
    resolve_local,
)
from ..errors import NotFound
from ..i18n import locale_for
from ..models import (
    AntiemeticEvent,
    Clinic,
    DoseEvent,
    Patient,
    PlanChangeNotice,
    SymptomReport,
    TreatmentPlan,
    WeightEntry,
)
from ..settings import Settings
from .care_team_contact import care_team_contact
from .entries import CORRECTION_WINDOW, ENTRY_MODELS
from .patient_state import current_plan, schedule_setup
from .plan_notices import pending_notice
from .report_status import SENT, ReportStatus, WaitForTeam, report_statuses, wait_for_team

LB_PER_KG = 1 / 0.45359237
WEEK_STRIP_DAYS = 7
CALENDAR_WEEKS = 5  # this week and the four before it
WEIGHT_WINDOW = timedelta(weeks=12)
SYMPTOM_WINDOW = timedelta(days=14)
# clinical-reference: R-WT-10 and R-WT-20 (the chart's guide lines), as fractions of the baseline
WEIGHT_GUIDES = ((0.0, "baseline"), (0.10, "minus10"), (0.20, "minus20"))


def kg_in(unit: str, kg: float) -> float:
    """A weight in the patient's unit, rounded for display (stored weights are kg)."""
    return round(kg * LB_PER_KG, 1) if unit == "lb" else round(kg, 1)


def local_day_bounds(day: date, zone) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at the start and end of `day` (DST-safe)."""
    start = resolve_local(day, time(0, 0), zone).astimezone(UTC)
    end = resolve_local(day + timedelta(days=1), time(0, 0), zone).astimezone(UTC)
    return start, end


# --------------------------------------------------------------------------------------------------------------------
# Today
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TodayItem:
    """One thing to do today, in time order."""

    kind: str  # antiemetic | selinexor | dexamethasone | weight | blood_test | bortezomib
    at: datetime  # local
    dose_mg: int | None = None
    tablets: int | None = None


@dataclass(frozen=True)
class WeekDay:
    day: date
    is_today: bool
    dose: ScheduledEvent | None  # None: no selinexor that day
    held: bool  # a dose day of the pattern while selinexor is on hold
    wait: bool = False  # a dose day while the patient waits for the care team (report_status.py)


@dataclass(frozen=True)
class RecentEntry:
    """An entry the patient made in the last 24 hours (correctable while `correctable`)."""

    kind: str
    id: int
    at: datetime  # local
    row: Any
    correctable: bool


@dataclass(frozen=True)
class TodayView:
    patient: Patient
    plan: TreatmentPlan
    setup: ScheduleSetup
    now_local: datetime
    today: date
    status: str  # active | held | discontinued
    dose: ScheduledEvent | None  # today's selinexor dose
    day_number: int | None
    items: list[TodayItem]
    dose_log: DoseEvent | None  # the latest log answering today's dose day
    antiemetic_log: AntiemeticEvent | None  # the latest anti-nausea medicine logged today
    weight_today: WeightEntry | None
    last_weight: WeightEntry | None
    next_dose: ScheduledEvent | None  # the first dose after today
    week: list[WeekDay]
    recent: list[RecentEntry]
    # While set, no next dose is offered: "Wait for your care team before your next selinexor dose" (section 3).
    wait: WaitForTeam | None = None
    notice: PlanChangeNotice | None = None  # the latest plan change the patient has not confirmed yet

    @property
    def dexamethasone_during_hold(self) -> str:
        """'continue' or 'hold' while selinexor is held on a plan with dexamethasone, '' otherwise.

        clinical-reference: section 1 (the patient is told the staff choice in words)
        """
        if self.setup.plan.status is not PlanStatus.HELD or not dexamethasone_weekdays(self.setup):
            return ""
        return self.setup.plan.dexamethasone_on_hold.value

    @property
    def dexamethasone_weekdays(self) -> tuple[int, ...]:
        """The weekdays (Monday = 0) of the plan's dexamethasone days."""
        return dexamethasone_weekdays(self.setup)

    @property
    def dexamethasone_today(self) -> bool:
        return any(item.kind == "dexamethasone" for item in self.items)

    @property
    def weight_due(self) -> bool:
        return self.weight_today is None and any(item.kind == "weight" for item in self.items)


_ITEM_KINDS = {
    EventKind.ANTIEMETIC: "antiemetic",
    EventKind.SELINEXOR_DOSE: "selinexor",
    EventKind.DEXAMETHASONE: "dexamethasone",
    EventKind.WEIGHT_PROMPT: "weight",
    EventKind.BLOOD_TEST: "blood_test",
    EventKind.BORTEZOMIB_CLINIC: "bortezomib",
}


def today_view(engine: Engine, patient: Patient, now: datetime, settings: Settings | None = None) -> TodayView:
    """What to take today and when, what was already logged, and the next dose day (unmistakably), or the wait for
    the care team; and a plan change to confirm. `settings` gives the clinic's hours for the wait state's words."""
    with Session(engine, expire_on_commit=False) as session:
        plan = current_plan(session, patient.id)
        setup = schedule_setup(patient, plan)
        zone = setup.zone
        now_local = now.astimezone(zone)
        today = now_local.date()
        start, end = local_day_bounds(today, zone)
        events = [e for e in events_on_local_date(setup, today) if e.kind in _ITEM_KINDS]
        items = [TodayItem(_ITEM_KINDS[e.kind], e.local, e.dose_mg, e.tablets) for e in events]
        dose = dose_on_local_date(setup, today)
        dose_log = session.exec(
            select(DoseEvent)
            .where(
                DoseEvent.patient_id == patient.id, DoseEvent.scheduled_for == today, DoseEvent.superseded_at.is_(None)
            )
            .order_by(DoseEvent.recorded_at.desc())
        ).first()
        antiemetic_log = session.exec(
            select(AntiemeticEvent)
            .where(
                AntiemeticEvent.patient_id == patient.id,
                AntiemeticEvent.at >= start,
                AntiemeticEvent.at < end,
                AntiemeticEvent.superseded_at.is_(None),
            )
            .order_by(AntiemeticEvent.at.desc())
        ).first()
        weights = session.exec(
            select(WeightEntry)
            .where(WeightEntry.patient_id == patient.id, WeightEntry.superseded_at.is_(None))
            .order_by(WeightEntry.at.desc())
            .limit(1)
        ).all()
        last_weight = weights[0] if weights else None
        weight_today = last_weight if last_weight and start <= last_weight.at < end else None
        recent = _recent_entries(session, patient.id, now, zone)
        contact = (
            care_team_contact(settings, session.get(Clinic, patient.clinic_id), now)
            if settings is not None
            else CareTeamContact()
        )
        wait = wait_for_team(session, patient.id, contact)
        notice = pending_notice(session, patient.id)
    week = []
    for offset in range(WEEK_STRIP_DAYS):
        day = today + timedelta(days=offset)
        week.append(
            WeekDay(
                day=day,
                is_today=offset == 0,
                dose=dose_on_local_date(setup, day),
                held=setup.plan.status is PlanStatus.HELD and is_dose_day(setup, day),
                wait=wait is not None and is_dose_day(setup, day),
            )
        )
    return TodayView(
        patient=patient,
        plan=plan,
        setup=setup,
        now_local=now_local,
        today=today,
        status=plan.status,
        dose=dose,
        day_number=(1 if today.weekday() == setup.day1_weekday else 3) if dose else None,
        items=items,
        dose_log=dose_log,
        antiemetic_log=antiemetic_log,
        weight_today=weight_today,
        last_weight=last_weight,
        next_dose=next_dose(setup, end),
        week=week,
        recent=recent,
        wait=wait,
        notice=notice,
    )


def _recent_entries(session: Session, patient_id: int, now: datetime, zone) -> list[RecentEntry]:
    since = now - CORRECTION_WINDOW
    entries: list[RecentEntry] = []
    for kind, model in ENTRY_MODELS.items():
        rows = session.exec(
            select(model).where(
                model.patient_id == patient_id, model.recorded_at >= since, model.superseded_at.is_(None)
            )
        ).all()
        for row in rows:
            # Anti-nausea logs have no correction path in the entries service; the others can be corrected for 24 h.
            correctable = kind != "antiemetic" and now - row.recorded_at <= CORRECTION_WINDOW
            entries.append(RecentEntry(kind, row.id, row.at.astimezone(zone), row, correctable))
    return sorted(entries, key=lambda e: e.at, reverse=True)


# --------------------------------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarDay:
    day: date
    status: str  # taken | vomited | missed | not_recorded | held | upcoming | today | none | before
    extra: bool = False  # a dose logged on a day that was not a dose day
    is_today: bool = False


@dataclass(frozen=True)
class WeightPoint:
    at: datetime  # local
    kg: float
    value: float  # in the patient's unit
    pct_below: float  # below the baseline, in percent (negative: above)
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Guide:
    name: str  # baseline | minus10 | minus20
    value: float  # in the patient's unit
    y: float


@dataclass(frozen=True)
class WeightChart:
    """Geometry of the server-rendered SVG (viewBox units) plus the numbers for its text alternative."""

    unit: str
    baseline: float  # in the patient's unit
    points: list[WeightPoint]
    guides: list[Guide]
    width: int = 340
    height: int = 220
    left: int = 8
    right: int = 332
    top: int = 14
    bottom: int = 190
    first_day: date | None = None
    last_day: date | None = None

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def latest(self) -> WeightPoint | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class SymptomLine:
    at: datetime  # local
    answers: list[tuple[str, Any]]  # (question, stored value) in §5 order, answered questions only
    fever: bool
    status: ReportStatus = SENT  # sent | seen by the team | acted on (report_status.py)


@dataclass(frozen=True)
class HistoryView:
    today: date
    weeks: list[list[CalendarDay]]
    chart: WeightChart
    symptoms: list[SymptomLine]
    counts: dict[str, int] = field(default_factory=dict)


def history_view(engine: Engine, patient: Patient, now: datetime, lang: str = "en") -> HistoryView:
    """The adherence calendar (5 weeks), the weight chart (12 weeks) and the symptom timeline (14 days)."""
    with Session(engine, expire_on_commit=False) as session:
        versions = session.exec(
            select(TreatmentPlan).where(TreatmentPlan.patient_id == patient.id).order_by(TreatmentPlan.version)
        ).all()
        if not versions:
            raise NotFound("This patient has no treatment plan.")
        zone = schedule_setup(patient, versions[-1]).zone
        today = now.astimezone(zone).date()
        first_weekday = locale_for(lang).first_week_day  # Sunday in the US, as on the patient's paper calendar
        grid_start = today - timedelta(days=(today.weekday() - first_weekday) % 7) - timedelta(weeks=CALENDAR_WEEKS - 1)
        start_utc, _ = local_day_bounds(grid_start, zone)
        doses = session.exec(
            select(DoseEvent).where(
                DoseEvent.patient_id == patient.id,
                DoseEvent.superseded_at.is_(None),
                DoseEvent.at >= start_utc - timedelta(days=1),
            )
        ).all()
        weights = session.exec(
            select(WeightEntry)
            .where(
                WeightEntry.patient_id == patient.id,
                WeightEntry.superseded_at.is_(None),
                WeightEntry.at >= now - WEIGHT_WINDOW,
            )
            .order_by(WeightEntry.at)
        ).all()
        symptoms = session.exec(
            select(SymptomReport)
            .where(
                SymptomReport.patient_id == patient.id,
                SymptomReport.superseded_at.is_(None),
                SymptomReport.at >= now - SYMPTOM_WINDOW,
            )
            .order_by(SymptomReport.at.desc())
        ).all()
        statuses = report_statuses(session, patient.id, [s.recorded_at for s in symptoms])
    weeks, counts = _calendar(patient, versions, doses, grid_start, today, zone)
    return HistoryView(
        today=today,
        weeks=weeks,
        chart=weight_chart(patient, weights, zone),
        symptoms=[_symptom_line(s, zone, statuses.get(s.recorded_at, SENT)) for s in symptoms],
        counts=counts,
    )


def _setup_on(patient: Patient, versions: list[TreatmentPlan], instant: datetime) -> ScheduleSetup:
    """The schedule of the plan version in effect at `instant` (the first version for days before it existed)."""
    chosen = versions[0]
    for version in versions:
        if version.created_at <= instant:
            chosen = version
    return schedule_setup(patient, chosen)


def _calendar(patient, versions, doses, grid_start: date, today: date, zone):
    by_day: dict[date, DoseEvent] = {}
    for dose in sorted(doses, key=lambda d: d.recorded_at):
        day = dose.scheduled_for or dose.at.astimezone(zone).date()
        by_day[day] = dose  # the latest log for a day wins (corrections are already filtered out)
    weeks: list[list[CalendarDay]] = []
    counts = {"taken": 0, "vomited": 0, "missed": 0, "not_recorded": 0, "held": 0}
    for week in range(CALENDAR_WEEKS):
        row = []
        for weekday in range(7):
            day = grid_start + timedelta(days=week * 7 + weekday)
            row.append(_calendar_day(patient, versions, by_day.get(day), day, today, zone))
            if row[-1].status in counts and day <= today:
                counts[row[-1].status] += 1
        weeks.append(row)
    return weeks, counts


def _calendar_day(patient, versions, log: DoseEvent | None, day: date, today: date, zone) -> CalendarDay:
    setup = _setup_on(patient, versions, resolve_local(day, time(23, 59), zone))
    scheduled = is_dose_day(setup, day)
    is_today = day == today
    if log is not None and day <= today:
        return CalendarDay(day, log.status, extra=not scheduled, is_today=is_today)
    if day < setup.start_date:
        return CalendarDay(day, "before", is_today=is_today)
    if not scheduled or setup.plan.status is PlanStatus.DISCONTINUED:
        return CalendarDay(day, "none", is_today=is_today)
    if setup.plan.status is PlanStatus.HELD:
        return CalendarDay(day, "held", is_today=is_today)
    if day > today:
        return CalendarDay(day, "upcoming")
    return CalendarDay(day, "today" if is_today else "not_recorded", is_today=is_today)


def weight_chart(patient: Patient, weights: list[WeightEntry], zone) -> WeightChart:
    """Scale the weights, the baseline and the −10% / −20% lines into the chart's box."""
    unit = patient.weight_unit if patient.weight_unit in ("kg", "lb") else "kg"
    baseline_kg = patient.baseline_weight_kg
    chart = WeightChart(unit=unit, baseline=kg_in(unit, baseline_kg), points=[], guides=[])
    kgs = [w.kg for w in weights]
    low = min(kgs + [baseline_kg * 0.78])
    high = max(kgs + [baseline_kg * 1.02])

    def y(kg: float) -> float:
        return chart.bottom - (kg - low) / (high - low) * (chart.bottom - chart.top)

    guides = [
        Guide(name, kg_in(unit, baseline_kg * (1 - fraction)), y(baseline_kg * (1 - fraction)))
        for fraction, name in WEIGHT_GUIDES
    ]
    points: list[WeightPoint] = []
    if weights:
        first, last = weights[0].at, weights[-1].at
        span = (last - first).total_seconds() or 1.0
        for w in weights:
            x = (
                chart.left + ((w.at - first).total_seconds() / span) * (chart.right - chart.left)
                if len(weights) > 1
                else (chart.left + chart.right) / 2
            )
            pct = round((baseline_kg - w.kg) / baseline_kg * 100, 1)
            points.append(
                WeightPoint(at=w.at.astimezone(zone), kg=w.kg, value=kg_in(unit, w.kg), pct_below=pct, x=x, y=y(w.kg))
            )
    return WeightChart(
        unit=unit,
        baseline=chart.baseline,
        points=points,
        guides=guides,
        first_day=points[0].at.date() if points else None,
        last_day=points[-1].at.date() if points else None,
    )


SYMPTOM_FIELDS = (
    "nausea",
    "vomiting_episodes",
    "loose_stools",
    "appetite",
    "fatigue",
    "temperature_c",
    "chills",
    "bleeding",
    "neuro",
    "vision_change",
)


def _symptom_line(report: SymptomReport, zone, status: ReportStatus = SENT) -> SymptomLine:
    answers = [(name, getattr(report, name)) for name in SYMPTOM_FIELDS if getattr(report, name) is not None]
    fever = (report.temperature_c is not None and report.temperature_c >= FEVER_C) or report.chills is True
    return SymptomLine(at=report.at.astimezone(zone), answers=answers, fever=fever, status=status)


def choice_value(question: str, grade: Any) -> str | None:
    """The §5 choice value ('eating_less') for a stored grade (2) of nausea, appetite or fatigue."""
    for choice in QUESTIONS[question]:
        if choice.grade == grade:
            return choice.value
    return None


# --------------------------------------------------------------------------------------------------------------------
# Single entries (corrections, the JSON API) and small lookups
# --------------------------------------------------------------------------------------------------------------------


def get_own_entry(engine: Engine, patient_id: int, kind: str, entry_id: int):
    """One of this patient's entries; NotFound for another patient's (never reveal that it exists)."""
    model = ENTRY_MODELS.get(kind)
    if model is None:
        raise NotFound("No such kind of entry.")
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(model, entry_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound("No such entry.")
    return row


def entry_json(kind: str, row, unit: str = "kg") -> dict[str, Any]:
    """The public shape of an entry in the JSON API."""
    data: dict[str, Any] = {
        "kind": kind,
        "id": row.id,
        "idempotency_key": row.idempotency_key,
        "at": row.at.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
        "corrects_id": getattr(row, "corrects_id", None),
        "superseded_at": row.superseded_at.isoformat() if row.superseded_at else None,
    }
    if kind == "dose":
        data.update(
            status=row.status,
            scheduled_for=row.scheduled_for.isoformat() if row.scheduled_for else None,
            antiemetic_taken=row.antiemetic_taken,
        )
    elif kind == "weight":
        data.update(kg=row.kg, value=row.entered_value, unit=row.entered_unit)
    elif kind == "symptoms":
        data.update({name: getattr(row, name) for name in SYMPTOM_FIELDS})
    return data


def vapid_public_key(engine: Engine, now: datetime) -> str:
    """The installation's Web Push public key (base64url of the raw P-256 point), generated on first use."""
    from .push_keys import vapid_keys

    return vapid_keys(engine, now).public_key
