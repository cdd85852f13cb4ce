# Over 400 lines on purpose: the whole of flow 1 (one transaction from the entry to its alerts) in one place.
"""Flow 1 of the architecture: a patient's entry, from any door (web form, JSON API, offline replay, SMS, staff).

validate -> store under the client's idempotency key (a replay returns the stored entry) -> build the patient's
state -> clinical.rules.evaluate(state, now) -> upsert alerts (one open per family) and outbox pages -> commit ->
publish inbox events -> return the advice the patient should see. One transaction: an entry never exists without
its evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from ..clinical import advice as clinical_advice
from ..clinical.errors import ClinicalValidationError
from ..clinical.grading import (
    KG_PER_LB,
    PLAUSIBLE_RANGES,
    check_choice,
    check_grade,
    check_range,
    lb_to_kg,
    weight_needs_confirmation,
)
from ..clinical.regimens import PlanStatus
from ..clinical.rules import Action, Finding, Tier, evaluate
from ..clinical.schedule import dose_on_local_date, next_dose, next_dose_counted_from
from ..context import AppContext
from ..db import session_scope
from ..errors import Conflict, FieldError, NotFound
from ..i18n import render_advice
from ..models import AntiemeticEvent, Clinic, DoseEvent, LabResult, Patient, SymptomReport, TreatmentPlan, WeightEntry
from .alerts import (
    ALERT_TIERS,
    AlertChange,
    most_severe_per_family,
    open_alerts_by_family,
    publish_alert_changes,
    upsert_alert,
)
from .care_team_contact import care_team_contact
from .patient_state import (
    build_state,
    get_patient_clinic_and_plans,
    get_patient_with_clinic,
    plan_versions,
    schedule_setup,
)

# clinical-reference / issue: entries older than 7 days are refused; a few minutes ahead is device clock skew.
MAX_ENTRY_AGE = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)
CORRECTION_WINDOW = timedelta(hours=24)
# The tables of the patient's own entries, by the kind the routes and the API name them.
ENTRY_MODELS = {"dose": DoseEvent, "antiemetic": AntiemeticEvent, "symptoms": SymptomReport, "weight": WeightEntry}

# Which rules an entry of each kind may open a new alert for. A rule of another kind (the latest weight is still
# low when a symptom check-in arrives) only updates an alert that is already open: after staff resolve an alert,
# "the next matching entry" opens a new one (clinical-reference §4d), not any entry.
RULES_OPENED_BY = {
    "weight": {"R-WT-5", "R-WT-10", "R-WT-20", "R-RESUME", "R-LADDER"},
    "symptoms": {
        "R-NV-12",
        "R-NV-3",
        "R-DIA-2",
        "R-DIA-2R",
        "R-DIA-3",
        "R-ANX-3",
        "R-FAT-2",
        "R-FAT-3",
        "R-FEVER",
        "R-BLEED",
        "R-NEURO",
        "R-EYE",
        "R-PLT-75B",
        "R-ANC-05",
        "R-RESUME",
        "R-LADDER",
    },
    "lab": {
        "R-NA",
        "R-PLT-75",
        "R-PLT-75B",
        "R-PLT-25",
        "R-ANC-1",
        "R-ANC-05",
        "R-HGB-8",
        "R-LAB-DLBCL",
        "R-RESUME",
        "R-LADDER",
    },
    "dose": {"R-WRONG-DAY", "R-NO-AE"},
    "antiemetic": set(),
}


class ConfirmationRequired(FieldError):
    """A weight more than 5% away from the previous one: ask the patient to confirm before storing it."""


class NotMissedYet(FieldError):
    """A dose reported "missed" before its scheduled time (clinical-reference: P-MISSED): nothing is stored."""

    def __init__(self, dose_local: datetime):
        clock = dose_local.strftime("%I:%M %p").lstrip("0")
        super().__init__("status", f"Your dose is at {clock}: it is not missed yet.")
        self.dose_local = dose_local


@dataclass(frozen=True)
class Advice:
    """What the patient sees after an entry."""

    tier: str | None  # the most severe tier among this entry's findings (None: nothing of concern)
    call_now: bool  # urgent: the full-width "Call your care team now" banner
    items: tuple[clinical_advice.Advice, ...] = ()  # catalog message ids: render with server.i18n.render_advice
    findings: tuple[Finding, ...] = ()
    clinic_open: bool = True  # False: a same-day finding waits for the next business morning (section 3)

    @property
    def messages(self) -> tuple[str, ...]:
        """The advice in English, as one string per sentence (logs, tests, staff tools)."""
        return tuple(render_advice(self.items, "en"))


@dataclass(frozen=True)
class EntryResult:
    kind: str
    entry: Any  # the stored row (detached)
    replayed: bool
    advice: Advice
    alert_changes: tuple[AlertChange, ...] = field(default=())


@dataclass(frozen=True)
class SymptomAnswers:
    """Answers to the questions of clinical-reference §5; None means not asked or not answered."""

    nausea: int | None = None
    vomiting_episodes: int | None = None
    loose_stools: int | None = None
    appetite: int | None = None
    fatigue: int | None = None
    temperature_c: float | None = None
    chills: bool | None = None
    bleeding: str | None = None
    neuro: str | None = None
    vision_change: bool | None = None
    note: str | None = None  # free text for the care team, shown on the staff timeline; never graded

    def validated(self) -> SymptomAnswers:
        for name in ("nausea", "appetite", "fatigue"):
            if getattr(self, name) is not None:
                _clinical(check_grade, name, getattr(self, name))
        for name in ("vomiting_episodes", "loose_stools", "temperature_c"):
            if getattr(self, name) is not None:
                _clinical(check_range, name, getattr(self, name))
        if self.bleeding is not None:
            _clinical(check_choice, "bleeding", self.bleeding, ("none", "minor", "major"))
        if self.neuro is not None:
            _clinical(check_choice, "neuro", self.neuro, ("none", "dizzy", "major"))
        if all(getattr(self, n) is None for n in self.__dataclass_fields__):
            raise FieldError("nausea", "Answer at least one question.")
        return self


@dataclass(frozen=True)
class LabValues:
    sodium_mmol_l: float | None = None
    platelets_10e9_l: float | None = None
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None

    def validated(self) -> LabValues:
        for name in self.__dataclass_fields__:
            if getattr(self, name) is not None:
                _clinical(check_range, name, getattr(self, name))
        if all(getattr(self, n) is None for n in self.__dataclass_fields__):
            raise FieldError("sodium_mmol_l", "Enter at least one lab value.")
        return self


# An anti-nausea log this long before a dose counts as "taken before it" (clinical-reference: P-ANTIEMETIC, R-NO-AE).
ANTIEMETIC_BEFORE_DOSE = timedelta(hours=3)


def antiemetic_logged_before(session: Session, patient_id: int, at: datetime) -> bool:
    """Whether the patient logged their anti-nausea medicine in the 3 hours up to a dose taken at `at`."""
    return (
        session.exec(
            select(AntiemeticEvent.id).where(
                AntiemeticEvent.patient_id == patient_id,
                AntiemeticEvent.superseded_at.is_(None),
                AntiemeticEvent.at <= at,
                AntiemeticEvent.at >= at - ANTIEMETIC_BEFORE_DOSE,
            )
        ).first()
        is not None
    )


def _clinical(check, name: str, *args):
    try:
        return check(name, *args)
    except ClinicalValidationError as exc:
        raise FieldError(exc.field, exc.message) from None


def _check_time(name: str, at: datetime, now: datetime) -> datetime:
    if at.tzinfo is None:
        raise FieldError(name, "Give the time with its time zone.")
    if at > now + CLOCK_SKEW:
        raise FieldError(name, "The time is in the future.")
    if at < now - MAX_ENTRY_AGE:
        raise FieldError(name, "The time is more than 7 days ago; tell your care team instead.")
    return at


def _check_dose_day(day: date, today: date) -> date:
    """The dose day a missed dose answers: not ahead of the patient's today, and within the entries' 7 days."""
    if day > today:
        raise FieldError("scheduled_for", "The time is in the future.")
    if day < today - MAX_ENTRY_AGE:
        raise FieldError("scheduled_for", "The time is more than 7 days ago; tell your care team instead.")
    return day


def plausible_weight_range(unit: str) -> tuple[int, int]:
    """The plausible weights of clinical-reference §5 in kg or lb, rounded for the patient to read."""
    low, high = PLAUSIBLE_RANGES["weight_kg"]
    if unit == "lb":
        return round(low / lb_to_kg(1)), round(high / lb_to_kg(1))
    return round(low), round(high)


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not 8 <= len(key) <= 64:
        raise FieldError("idempotency_key", "Must be 8 to 64 characters (a client-generated unique id).")
    return key


# --------------------------------------------------------------------------------------------------------------------
# Public entry points: one per kind of entry. Each owns its transaction.
# --------------------------------------------------------------------------------------------------------------------


def record_dose(
    ctx: AppContext,
    patient_id: int,
    *,
    key: str,
    status: str,
    at: datetime,
    antiemetic_taken: bool | None = None,
    scheduled_for: date | None = None,
    source: str = "app",
    corrects_id: int | None = None,
) -> EntryResult:
    """Log a selinexor dose as taken, missed or vomited (for the dose day it answers)."""
    now = ctx.clock.now()
    _clinical(check_choice, "status", status, ("taken", "missed", "vomited"))
    _check_time("at", at, now)
    if antiemetic_taken is not None and not isinstance(antiemetic_taken, bool):
        raise FieldError("antiemetic_taken", "Must be true or false.")
    content = {"status": status, "at": at, "antiemetic_taken": antiemetic_taken}

    def complete(session: Session) -> None:
        if antiemetic_taken is None and status != "missed":
            # An anti-nausea log shortly before the dose answers R-NO-AE's question, whichever door the dose came
            # through (app, offline replay, SMS "T"); the patient is not asked again.
            content["antiemetic_taken"] = antiemetic_logged_before(session, patient_id, at) or None

    def build(patient: Patient, session: Session, plan: TreatmentPlan) -> DoseEvent:
        setup = schedule_setup(patient, plan)
        if scheduled_for is None:
            day = at.astimezone(setup.zone).date()
        else:
            day = _check_dose_day(scheduled_for, today=now.astimezone(setup.zone).date())
        if status == "missed":
            # clinical-reference: P-MISSED ("Missed" cannot be logged before the dose's scheduled time)
            dose = dose_on_local_date(setup, day)
            if dose is not None and min(at, now) < dose.utc:
                raise NotMissedYet(dose.local)
        return DoseEvent(
            patient_id=patient.id,
            idempotency_key=key,
            scheduled_for=day,
            at=at,
            status=status,
            antiemetic_taken=content["antiemetic_taken"],
            source=source,
            corrects_id=corrects_id,
            recorded_at=now,
        )

    return _record(ctx, patient_id, "dose", DoseEvent, _check_key(key), content, build, corrects_id, complete)


def record_antiemetic(ctx: AppContext, patient_id: int, *, key: str, at: datetime, source: str = "app") -> EntryResult:
    """Log the anti-nausea medicine taken before a dose (P-ANTIEMETIC)."""
    now = ctx.clock.now()
    _check_time("at", at, now)
    return _record(
        ctx,
        patient_id,
        "antiemetic",
        AntiemeticEvent,
        _check_key(key),
        {"at": at},
        lambda p, s, _plan: AntiemeticEvent(
            patient_id=p.id, idempotency_key=key, at=at, source=source, recorded_at=now
        ),
        None,
        optimistic=True,
    )


def record_symptoms(
    ctx: AppContext,
    patient_id: int,
    *,
    key: str,
    at: datetime,
    answers: SymptomAnswers,
    source: str = "app",
    corrects_id: int | None = None,
) -> EntryResult:
    """Log a symptom check-in (clinical-reference §5)."""
    now = ctx.clock.now()
    _check_time("at", at, now)
    answers = answers.validated()
    content = {"at": at, **{n: getattr(answers, n) for n in answers.__dataclass_fields__}}
    return _record(
        ctx,
        patient_id,
        "symptoms",
        SymptomReport,
        _check_key(key),
        content,
        lambda p, s, _plan: SymptomReport(
            patient_id=p.id, idempotency_key=key, source=source, corrects_id=corrects_id, recorded_at=now, **content
        ),
        corrects_id,
        optimistic=corrects_id is None,
    )


def record_weight(
    ctx: AppContext,
    patient_id: int,
    *,
    key: str,
    at: datetime,
    value: float,
    unit: str,
    confirmed: bool = False,
    source: str = "app",
    corrects_id: int | None = None,
) -> EntryResult:
    """Log a body weight in kg or lb; a change of more than 5% from the previous weight needs `confirmed`."""
    now = ctx.clock.now()
    _check_time("at", at, now)
    if unit not in ("kg", "lb"):
        raise FieldError("unit", "Unit must be kg or lb.")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise FieldError("weight", "Enter your weight as a number.")
    # Unrounded: an exact 10.0% or 20.0% loss entered in pounds stays exact (clinical-reference: section 4a, v2).
    kg = lb_to_kg(float(value)) if unit == "lb" else float(value)
    low_kg, high_kg = PLAUSIBLE_RANGES["weight_kg"]
    if not low_kg <= kg <= high_kg:  # clinical-reference §5 plausible range, reported in the unit the patient used
        low, high = plausible_weight_range(unit)
        raise FieldError("weight", f"Weight must be between {low} and {high} {unit}.")
    content = {"at": at, "kg": kg}

    def build(patient: Patient, session: Session, _plan: TreatmentPlan) -> WeightEntry:
        previous = session.exec(
            select(WeightEntry)
            .where(
                WeightEntry.patient_id == patient.id,
                WeightEntry.superseded_at.is_(None),
                WeightEntry.id != (corrects_id or -1),
            )
            .order_by(WeightEntry.at.desc())
        ).first()
        if not confirmed and weight_needs_confirmation(
            previous.kg if previous else None, kg, patient.baseline_weight_kg
        ):
            if previous is not None:
                raise ConfirmationRequired(
                    "weight",
                    f"This is more than 5% away from your last weight ({previous.entered_value:g} "
                    f"{previous.entered_unit}). Please check and confirm it.",
                )
            # No weight yet: the baseline from enrollment is the one to compare with (issue 10 item 13).
            baseline = _in_unit(patient.baseline_weight_kg, patient.weight_unit)
            raise ConfirmationRequired(
                "weight",
                f"This is more than 5% away from your starting weight ({baseline:g} {patient.weight_unit}). "
                "Please check and confirm it.",
            )
        return WeightEntry(
            patient_id=patient.id,
            idempotency_key=key,
            at=at,
            kg=kg,
            entered_value=float(value),
            entered_unit=unit,
            source=source,
            corrects_id=corrects_id,
            recorded_at=now,
        )

    return _record(ctx, patient_id, "weight", WeightEntry, _check_key(key), content, build, corrects_id)


def _in_unit(kg: float, unit: str) -> float:
    """A kg value shown in the patient's unit, one decimal."""
    return round(kg / KG_PER_LB, 1) if unit == "lb" else round(kg, 1)


def record_lab(
    ctx: AppContext,
    patient_id: int,
    *,
    key: str,
    collected_at: datetime,
    values: LabValues,
    staff_id: int | None,
    source: str = "staff",
    replaces_id: int | None = None,
) -> EntryResult:
    """Store lab results (entered by staff or imported); they feed the rules like any entry. `replaces_id` names an
    earlier result that this one amends (the lab system's amended result): it is superseded in the same transaction."""
    now = ctx.clock.now()
    if collected_at > now + CLOCK_SKEW:
        raise FieldError("collected_at", "The collection date is in the future.")
    values = values.validated()
    content = {"collected_at": collected_at, **{n: getattr(values, n) for n in values.__dataclass_fields__}}

    def build(patient: Patient, session: Session, _plan: TreatmentPlan) -> LabResult:
        if replaces_id is not None:
            # Not _supersede: a laboratory amends results after the patients' 24-hour correction window.
            earlier = session.get(LabResult, replaces_id)
            if earlier is None or earlier.patient_id != patient.id:
                raise FieldError("replaces_id", "No such lab result to amend.")
            earlier.superseded_at = now
            session.add(earlier)
        return LabResult(
            patient_id=patient.id,
            idempotency_key=key,
            source=source,
            entered_by_staff_id=staff_id,
            recorded_at=now,
            **content,
        )

    return _record(ctx, patient_id, "lab", LabResult, _check_key(key), content, build, None)


# --------------------------------------------------------------------------------------------------------------------
# The shared path
# --------------------------------------------------------------------------------------------------------------------


def _same_content(row: SQLModel, content: dict) -> bool:
    for name, value in content.items():
        stored = getattr(row, name)
        if isinstance(value, float) or isinstance(stored, float):
            if stored is None or value is None or abs(float(stored) - float(value)) > 1e-6:
                return False
        elif stored != value:
            return False
    return True


# Per entry table, built once: the look-up of an idempotency key runs on every entry.
_BY_KEY = {
    model: select(model).where(model.idempotency_key == sa.bindparam("key"))
    for model in (*ENTRY_MODELS.values(), LabResult)
}


def _existing(session: Session, model, patient_id: int, key: str, content: dict):
    row = session.exec(_BY_KEY[model], params={"key": key}).first()
    if row is None:
        return None
    # The same key for another patient, or other content: a client bug or a guess; never overwrite, never reveal.
    if row.patient_id != patient_id or not _same_content(row, content):
        raise Conflict("This idempotency key was already used for a different entry.", field="idempotency_key")
    return row


def _record(
    ctx: AppContext,
    patient_id: int,
    kind: str,
    model,
    key: str,
    content: dict,
    build,
    corrects_id: int | None,
    complete=None,
    *,
    optimistic: bool = False,
) -> EntryResult:
    """The shared path, in one transaction that loads each thing once: the patient with their clinic and plan
    versions, the rules' inputs and the open alerts (a handful of statements whatever the patient's history).
    `complete(session)` fills in content read from the database before the idempotency check compares it.

    `optimistic`: storing this entry has no precondition a replay could fail (nothing is checked or changed before
    its INSERT: no correction, a `build` that cannot refuse), so the idempotency key is not looked up first; the
    unique key refuses a repeat, and the IntegrityError path answers it as a replay or a conflict, as the look-up
    would have."""
    now = ctx.clock.now()
    try:
        with session_scope(ctx.engine) as session:
            if complete is not None:
                complete(session)
            patient, clinic, plans = get_patient_clinic_and_plans(session, patient_id)
            # An optimistic kind skips the look-up: a repeated key fails the INSERT and is answered below.
            existing = None if optimistic and plans else _existing(session, model, patient_id, key, content)
            if not plans:
                raise NotFound("This patient has no treatment plan.")
            if existing is not None:
                return EntryResult(
                    kind, existing, True, _advice_for(ctx, session, patient, clinic, plans, kind, existing, now)
                )
            if corrects_id is not None:  # first: whose entry it corrects decides before anything else is said
                _supersede(session, model, patient_id, corrects_id, now)
            row = build(patient, session, plans[0])
            _insert(session, row)
            # R-PLAN-UNSEEN is the sweep's (time-triggered): the entry path saves its query (patient_state.build_states)
            findings = evaluate(build_state(session, patient, now, plans, plan_unseen=False), now)
            changes = _upsert_alerts(session, patient, kind, findings, now, ctx.settings.escalation_after)
            result = EntryResult(
                kind, row, False, _advice(ctx, kind, row, findings, patient, clinic, plans, now), tuple(changes)
            )
    except IntegrityError:
        # The same key arrived twice at once (an offline replay racing the original): the loser replays.
        with session_scope(ctx.engine) as session:
            patient, clinic = get_patient_with_clinic(session, patient_id)
            existing = _existing(session, model, patient_id, key, content)
            if existing is None:
                raise
            plans = plan_versions(session, patient_id)
            return EntryResult(
                kind, existing, True, _advice_for(ctx, session, patient, clinic, plans, kind, existing, now)
            )
    publish_alert_changes(ctx, result.alert_changes)
    return result


# Per entry table, built once: the entry's own INSERT ... RETURNING id (see _insert).
_INSERTS = {
    model: (
        sa.insert(model.__table__).returning(model.__table__.c.id),
        tuple(column.key for column in model.__table__.columns if column.key != "id"),
    )
    for model in (*ENTRY_MODELS.values(), LabResult)
}


def _insert(session: Session, row: SQLModel) -> None:
    """Store a new entry row with one Core INSERT ... RETURNING id (the same statement the ORM's flush sends, without
    the unit of work's bookkeeping). The row stays outside the session: nothing in this transaction changes it
    again, and the caller hands it back as the stored entry."""
    if session.dirty or session.new:
        session.flush()  # a superseded or amended row is updated first, as the ORM's flush would have ordered it
    insert, columns = _INSERTS[type(row)]
    row.id = session.connection().execute(insert, {name: getattr(row, name) for name in columns}).scalar_one()


def _supersede(session: Session, model, patient_id: int, original_id: int, now: datetime) -> None:
    original = session.get(model, original_id)
    if original is None or original.patient_id != patient_id:
        raise NotFound("No such entry.")  # another patient's entry is not even said to exist
    if original.superseded_at is not None:
        raise FieldError("corrects_id", "That entry was already corrected; correct the latest version.")
    if now - original.recorded_at > CORRECTION_WINDOW:
        raise FieldError("corrects_id", "Entries can be corrected for 24 hours; tell your care team instead.")
    original.superseded_at = now
    session.add(original)


def _upsert_alerts(
    session: Session, patient: Patient, kind: str, findings: list[Finding], now: datetime, repage_after: timedelta
) -> list[AlertChange]:
    changes: list[AlertChange] = []
    if not any(Tier(f.tier).value in ALERT_TIERS for f in findings):
        return changes  # self-care advice only: upsert_alert would change nothing, so the open alerts are not read
    open_alerts = open_alerts_by_family(session, patient.id)
    eligible = [f for f in findings if f.rule in RULES_OPENED_BY[kind] or f.family in open_alerts]
    for finding in most_severe_per_family(eligible):
        change = upsert_alert(session, patient, finding, now, repage_after, open_alerts=open_alerts)
        if change is not None:
            changes.append(change)
    return changes


def _relevant(kind: str, findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule in RULES_OPENED_BY[kind]]


def _advice(
    ctx: AppContext,
    kind: str,
    row,
    findings: list[Finding],
    patient: Patient,
    clinic: Clinic,
    plans: list[TreatmentPlan],
    now: datetime,
) -> Advice:
    relevant = _relevant(kind, findings)
    contact = care_team_contact(ctx.settings, clinic, now)
    worst = Tier.highest(f.tier for f in relevant)
    # clinical-reference §3: the next dose waits for the care team when a finding at that tier stops it.
    holds = any(
        f.action in (Action.INTERRUPT, Action.DISCONTINUE) and f.tier.rank >= Tier.SAME_DAY.rank for f in relevant
    )
    items = list(clinical_advice.tier_advice(worst.value if worst else None, holds, contact))
    if kind == "dose":
        setup = schedule_setup(patient, plans[0])
        upcoming = next_dose(setup, next_dose_counted_from(setup, row.scheduled_for, now))
        items += clinical_advice.dose_advice(
            row.status, upcoming.local if upcoming else None, setup.plan.status is PlanStatus.HELD
        )
    for finding in relevant:
        items += finding.advice
    return Advice(
        tier=worst.value if worst else None,
        call_now=worst is Tier.URGENT,
        items=clinical_advice.unique(items),
        findings=tuple(relevant),
        clinic_open=contact.clinic_open_now,
    )


def _advice_for(
    ctx: AppContext,
    session: Session,
    patient: Patient,
    clinic: Clinic,
    plans: list[TreatmentPlan],
    kind: str,
    row,
    now: datetime,
) -> Advice:
    """The advice for a replayed entry: the rules as they stand now (nothing is written)."""
    findings = evaluate(build_state(session, patient, now, plans, plan_unseen=False), now)
    return _advice(ctx, kind, row, findings, patient, clinic, plans, now)


def time_of_stored_entry(engine, patient_id: int, kind: str, key: str) -> datetime | None:
    """When the patient's entry stored under `key` happened (None if there is none): a retry that did not say when
    (the no-JavaScript form fills in "now") is the same entry, so it must be compared at the stored time."""
    model = ENTRY_MODELS.get(kind)
    if model is None:
        return None
    with Session(engine) as session:
        return session.exec(
            select(model.at).where(model.idempotency_key == (key or "").strip(), model.patient_id == patient_id)
        ).first()
