# Over 400 lines on purpose: the rules' inputs for one patient (an entry) and for many (the sweep, the inbox's resume
# panel) are read by one set-based query and turned into clinical entries in one place, so both paths agree.
"""From database rows to the clinical core's plain data: the current plan, its schedule, the patient's state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from ..clinical.regimens import Plan, PlanStatus
from ..clinical.rules import DoseEntry, LabEntry, PatientState, SymptomEntry, WeightEntry
from ..clinical.schedule import ScheduleSetup, next_dose
from ..db import in_list
from ..errors import NotFound
from ..models import (
    Clinic,
    DoseEvent,
    LabResult,
    OutboundMessage,
    Patient,
    PlanChangeNotice,
    SymptomReport,
    TreatmentPlan,
)
from ..models import WeightEntry as WeightRow

# How far back the rules need to look: symptoms for repeated diarrhea and fatigue spanning >7 days, doses for
# adherence; weights and labs use the latest value whatever its age, so they load a longer window.
SYMPTOM_HISTORY = timedelta(days=42)
DOSE_HISTORY = timedelta(days=21)
MEASURE_HISTORY = timedelta(days=365)


def get_patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    return patient


# Statements run on every entry, built once (with bound parameters) rather than per call: building a SELECT and its
# cache key costs more CPU than the round trip it makes on a local database.
_PATIENT_WITH_CLINIC = (
    select(Patient, Clinic).join(Clinic, Clinic.id == Patient.clinic_id).where(Patient.id == sa.bindparam("patient_id"))
)
_PLAN_VERSIONS = (
    select(TreatmentPlan)
    .where(TreatmentPlan.patient_id == sa.bindparam("patient_id"))
    .order_by(TreatmentPlan.version.desc())
)


_PATIENT_CLINIC_PLANS = (
    select(Patient, Clinic, TreatmentPlan)
    .join(Clinic, Clinic.id == Patient.clinic_id)
    .outerjoin(TreatmentPlan, TreatmentPlan.patient_id == Patient.id)
    .where(Patient.id == sa.bindparam("patient_id"))
    .order_by(TreatmentPlan.version.desc())
)


def get_patient_clinic_and_plans(session: Session, patient_id: int) -> tuple[Patient, Clinic, list[TreatmentPlan]]:
    """The patient, their clinic and every plan version newest first (possibly none), in one query."""
    rows = session.exec(_PATIENT_CLINIC_PLANS, params={"patient_id": patient_id}).all()
    if not rows:
        raise NotFound("No such patient.")
    return rows[0][0], rows[0][1], [row[2] for row in rows if row[2] is not None]


def get_patient_with_clinic(session: Session, patient_id: int) -> tuple[Patient, Clinic]:
    """The patient and their clinic, in one query."""
    row = session.exec(_PATIENT_WITH_CLINIC, params={"patient_id": patient_id}).first()
    if row is None:
        raise NotFound("No such patient.")
    return row[0], row[1]


def current_plan(session: Session, patient_id: int) -> TreatmentPlan:
    """The highest plan version: plans are versions, never updated in place."""
    plan = session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version.desc())
    ).first()
    if plan is None:
        raise NotFound("This patient has no treatment plan.")
    return plan


def schedule_setup(patient: Patient, plan: TreatmentPlan) -> ScheduleSetup:
    """The clinical schedule for a plan version in the patient's own time zone."""
    return ScheduleSetup(
        plan=Plan(
            regimen=plan.regimen,
            level=plan.dose_level,
            status=PlanStatus(plan.status),
            tablet_strength_mg=patient.tablet_strength_mg,
            dexamethasone_on_hold=plan.dexamethasone_on_hold,
        ),
        start_date=plan.start_date,
        day1_weekday=plan.day1_weekday,
        day3_weekday=plan.day3_weekday,
        dose_time=plan.dose_time,
        timezone=patient.timezone,
        antiemetic_offset_min=plan.antiemetic_offset_min,
    )


def plan_versions(session: Session, patient_id: int) -> list[TreatmentPlan]:
    """Every plan version of a patient, newest first (one query: the current plan, the hold's start, enrolment)."""
    versions = list(session.exec(_PLAN_VERSIONS, params={"patient_id": patient_id}).all())
    if not versions:
        raise NotFound("This patient has no treatment plan.")
    return versions


def _held_at(versions: Sequence[TreatmentPlan]) -> datetime | None:
    """When the current hold began: the first version of the unbroken run of held versions ending at the newest."""
    if versions[0].status != PlanStatus.HELD.value:
        return None
    held_at = versions[0].created_at
    for version in versions:
        if version.status != PlanStatus.HELD.value:
            break
        held_at = version.created_at
    return held_at


# The rules' inputs come back from one UNION ALL: one row per entry, a column per field of any kind (NULL where the
# kind has no such field), plus one row with the last delivery. Columns are typed on every branch so each engine
# hands back the same Python values the ORM would (aware datetimes, booleans).
_SYMPTOM_FIELDS = (
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
_LAB_FIELDS = ("sodium_mmol_l", "platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl")
_DOSE_FIELDS = ("status", "antiemetic_taken", "scheduled_for")
_COLUMNS: dict[str, sa.types.TypeEngine] = {
    "at": WeightRow.__table__.c.at.type,
    "kg": WeightRow.__table__.c.kg.type,
    **{name: SymptomReport.__table__.c[name].type for name in _SYMPTOM_FIELDS},
    **{name: LabResult.__table__.c[name].type for name in _LAB_FIELDS},
    **{name: DoseEvent.__table__.c[name].type for name in _DOSE_FIELDS},
}
_KINDS = ("weight", "symptoms", "lab", "dose", "delivered")  # the order entries had when loaded kind by kind


def _branch(
    kind: str, values: dict[str, Any], patient: Any, order: Any, table: Any, *where: Any, typed: bool = False
) -> sa.Select:
    columns = [
        sa.type_coerce(patient, sa.Integer).label("pid"),
        sa.type_coerce(sa.literal_column(str(_KINDS.index(kind))), sa.Integer).label("kind"),
        sa.type_coerce(order, sa.Integer).label("ord"),
    ]
    for name, type_ in _COLUMNS.items():
        value = values.get(name)
        # Only the first branch (`typed`) types every column in SQL (CAST): PostgreSQL resolves a UNION's column
        # types from left to right, so the other branches' bare NULLs take them, and the statement stays short
        # enough for psycopg to cache its parsing (4,096 characters). Handed back as the driver gives them
        # (NullType: no result processor): _entry converts only the rows it has not seen before (see _ENTRY_CACHE).
        if value is None:
            value = sa.cast(sa.null(), type_) if typed else sa.null()
        columns.append(sa.type_coerce(value, sa.types.NullType()).label(name))
    return sa.select(*columns).select_from(table).where(*where)


@lru_cache(maxsize=8)
def _inputs_query(dialect: str, one_patient: bool) -> sa.CompoundSelect:
    """Built once per dialect and shape: the patients and the windows' starts are bound parameters, so SQLAlchemy
    compiles it once. One patient (an entry) is `= :ids`: PostgreSQL then keeps one generic plan for the prepared
    statement after a few executions, where an array parameter made it plan every execution anew (custom plans,
    ~0.35 ms an entry). Many patients (the sweep) are one array parameter on PostgreSQL, so the SQL text never
    changes with their number."""
    w, s, lab, d, m = (
        WeightRow.__table__,
        SymptomReport.__table__,
        LabResult.__table__,
        DoseEvent.__table__,
        OutboundMessage.__table__,
    )

    def of_patients(column: Any) -> Any:
        return (
            column == sa.bindparam("ids", type_=sa.Integer)
            if one_patient
            else in_list(column, "ids", sa.Integer, dialect)
        )

    symptoms_since, doses_since, measures_since = (
        sa.bindparam(n, type_=_COLUMNS["at"]) for n in ("symptoms_since", "doses_since", "measures_since")
    )
    return sa.union_all(
        _branch(
            "weight",
            {"at": w.c.at, "kg": w.c.kg},
            w.c.patient_id,
            w.c.id,
            w,
            of_patients(w.c.patient_id),
            w.c.superseded_at.is_(None),
            w.c.at >= measures_since,
            typed=True,  # the first branch: it types the columns for all of them
        ),
        _branch(
            "symptoms",
            {"at": s.c.at, **{n: s.c[n] for n in _SYMPTOM_FIELDS}},
            s.c.patient_id,
            s.c.id,
            s,
            of_patients(s.c.patient_id),
            s.c.superseded_at.is_(None),
            s.c.at >= symptoms_since,
        ),
        _branch(
            "lab",
            {"at": lab.c.collected_at, **{n: lab.c[n] for n in _LAB_FIELDS}},
            lab.c.patient_id,
            lab.c.id,
            lab,
            of_patients(lab.c.patient_id),
            lab.c.superseded_at.is_(None),
            lab.c.collected_at >= measures_since,
        ),
        _branch(
            "dose",
            {"at": d.c.at, **{n: d.c[n] for n in _DOSE_FIELDS}},
            d.c.patient_id,
            d.c.id,
            d,
            of_patients(d.c.patient_id),
            d.c.superseded_at.is_(None),
            d.c.at >= doses_since,
        ),
        _branch(
            "delivered",
            {"at": sa.func.max(m.c.delivery_updated_at)},
            m.c.patient_id,
            sa.literal_column("0"),
            m,
            of_patients(m.c.patient_id),
            _delivered(m),
        ).group_by(m.c.patient_id),
    ).order_by(sa.text("pid"), sa.text("kind"), sa.text("ord"))


def _delivered(m: Any) -> Any:
    return sa.or_(m.c.delivery_status == "delivered", sa.and_(m.c.channel == "push", m.c.status == "sent"))


_AT = 3  # the query's columns: pid, kind, ord, then _COLUMNS in order
_DELIVERED = _KINDS.index("delivered")
_FIELDS = {  # per kind: (the clinical entry class, the positions of its fields among _COLUMNS)
    _KINDS.index(kind): (cls, tuple((name, list(_COLUMNS).index(name)) for name in ("at", *names)))
    for kind, cls, names in (
        ("weight", WeightEntry, ("kg",)),
        ("symptoms", SymptomEntry, _SYMPTOM_FIELDS),
        ("lab", LabEntry, _LAB_FIELDS),
        ("dose", DoseEntry, _DOSE_FIELDS),
    )
}

# The clinical entries already built, by kind and stored values. Building one validates its values (the clinical
# core's __post_init__), which was most of an entry POST's CPU: a patient's history is re-read on every entry and
# every sweep, and the same values always validate the same way (the checks are pure), so the entry is reused. Stored
# values never change in place (a correction is a new row), and the key is the values themselves, not a row id, so
# a reused entry is exactly the one the values would build. Bounded (~450 bytes an entry, so ~45 MB at most per
# process): cleared when full, as a cold cache is only slower.
# The key is the row as the driver returned it (the query has no result processors), so a row seen before costs one
# dict look-up: the driver-to-Python conversions (SQLite's text dates, the UTC zone) run only for a new row, and equal
# driver values always convert to equal Python values. Per dialect: the same text means other things on each engine.
_ENTRY_CACHE: dict[tuple, Any] = {}
_ENTRY_CACHE_SIZE = 100_000
_PROCESSORS: dict[tuple, tuple[Any, ...]] = {}


def _processors(dialect: sa.engine.Dialect, description: Sequence[Any]) -> tuple[Any, ...]:
    """The result processors a typed query would apply to _COLUMNS on this dialect (None: the value as it is), for
    the driver's column types in the cursor's `description` (PostgreSQL's depend on them)."""
    codes = tuple(column[1] for column in description[_AT:])
    found = _PROCESSORS.get((dialect.name, codes))
    if found is None:
        found = _PROCESSORS[(dialect.name, codes)] = tuple(
            type_.dialect_impl(dialect).result_processor(dialect, code)
            for type_, code in zip(_COLUMNS.values(), codes, strict=True)
        )
    return found


def _converted(processors: Sequence[Any], raw: Sequence[Any]) -> list[Any]:
    return [value if value is None or convert is None else convert(value) for convert, value in zip(processors, raw)]


def _entry(dialect: str, kind: int, raw: Sequence[Any], processors: Sequence[Any]) -> Any:
    """The clinical entry for one row of the inputs query (`raw`: its _COLUMNS as the driver returned them), built
    once per distinct values."""
    key = (dialect, kind, *raw)
    entry = _ENTRY_CACHE.get(key)
    if entry is None:
        values = _converted(processors, raw)
        cls, fields = _FIELDS[kind]
        entry = cls(**{name: values[index] for name, index in fields})
        if len(_ENTRY_CACHE) >= _ENTRY_CACHE_SIZE:
            _ENTRY_CACHE.clear()
        _ENTRY_CACHE[key] = entry
    return entry


def build_state(
    session: Session,
    patient: Patient,
    now: datetime,
    plans: Sequence[TreatmentPlan] | None = None,
    *,
    plan_unseen: bool = True,
) -> PatientState:
    """Everything the rules read about one patient, as of `now` (corrected entries count once, as corrected).

    Two queries: the plan versions (unless the caller loaded them already: `plans`, newest first) and every entry
    the rules look at with the last delivery, in one UNION ALL.
    """
    versions = list(plans) if plans is not None else plan_versions(session, patient.id)
    return build_states(session, [patient], now, {patient.id: versions}, plan_unseen=plan_unseen)[patient.id]


def build_states(
    session: Session,
    patients: Sequence[Patient],
    now: datetime,
    plans: dict[int, list[TreatmentPlan]],
    *,
    plan_unseen: bool = True,
) -> dict[int, PatientState]:
    """build_state for many patients at once (one query for all their entries); `plans`: versions newest first.

    `plan_unseen=False` leaves out R-PLAN-UNSEEN's inputs (one query fewer): that rule is time-triggered, so the sweep
    raises it; an entry's own evaluation need not (a finding it does not return never closes an open alert).
    """
    entries: dict[int, list] = {p.id: [] for p in patients}
    delivered_at: dict[int, datetime | None] = {}
    if patients:
        one_patient = len(entries) == 1
        params = {
            "ids": patients[0].id if one_patient else list(entries),
            "symptoms_since": now - SYMPTOM_HISTORY,
            "doses_since": now - DOSE_HISTORY,
            "measures_since": now - MEASURE_HISTORY,
        }
        connection = session.connection()
        dialect = connection.dialect
        result = connection.execute(_inputs_query(dialect.name, one_patient), params)
        processors = _processors(dialect, result.cursor.description)
        name, cache = dialect.name, _ENTRY_CACHE
        for pid, kind, _order, *raw in result.fetchall():
            if kind == _DELIVERED:
                delivered_at[pid] = _converted(processors, raw)[0]
            else:
                entry = cache.get((name, kind, *raw))  # inlined _entry's look-up: this loop runs per row
                entries[pid].append(entry if entry is not None else _entry(name, kind, raw, processors))
    pending = _pending_notices(session, list(entries)) if plan_unseen else {}
    return {
        p.id: _state(
            p,
            plans[p.id],
            entries[p.id],
            delivered_at.get(p.id),
            _plan_unseen_inputs(session, p, pending.get(p.id), now),
        )
        for p in patients
    }


def _pending_notices(session: Session, patient_ids: list[int]) -> dict[int, PlanChangeNotice]:
    """The latest unconfirmed plan-change notice of each patient (one query for all of them)."""
    if not patient_ids:
        return {}
    latest: dict[int, PlanChangeNotice] = {}
    for notice in session.exec(
        select(PlanChangeNotice)
        .where(
            PlanChangeNotice.patient_id.in_(patient_ids),
            PlanChangeNotice.acknowledged_at.is_(None),
            PlanChangeNotice.superseded_at.is_(None),
        )
        .order_by(PlanChangeNotice.created_at, PlanChangeNotice.id)
    ):
        latest[notice.patient_id] = notice  # ordered oldest first: the last one seen is the latest
    return latest


def _state(
    patient: Patient,
    versions: Sequence[TreatmentPlan],
    entries: list,
    delivered_at: datetime | None,
    plan_unseen: dict[str, datetime | None],
) -> PatientState:
    plan = versions[0]
    return PatientState(
        setup=schedule_setup(patient, plan),
        baseline_weight_kg=patient.baseline_weight_kg,
        usual_stools_per_day=patient.usual_stools_per_day,
        entries=tuple(entries),
        hold_rule=plan.hold_rule if plan.status == PlanStatus.HELD.value else None,
        last_delivered_at=delivered_at,
        sms_opted_out=patient.sms_opted_out,
        enrolled_at=versions[-1].created_at or patient.created_at,
        held_at=_held_at(versions),
        plan_since=plan.created_at,
        **plan_unseen,
    )


def _plan_unseen_inputs(
    session: Session, patient: Patient, notice: PlanChangeNotice | None, now: datetime
) -> dict[str, datetime | None]:
    """R-PLAN-UNSEEN's inputs: when the pending plan-change notice was made, and the next dose it affects."""
    if notice is None:
        return {}
    return {
        "unacknowledged_plan_change_at": notice.created_at,
        "next_affected_dose_at": next_affected_dose(session, patient, notice, now),
    }


def next_affected_dose(session: Session, patient: Patient, notice: PlanChangeNotice, now: datetime) -> datetime | None:
    """The next dose a change affects: the earlier of the next dose under the old plan and under the new one.

    A hold or a stop affects the dose the patient would otherwise have taken; a new pattern, the first dose of it.
    """
    candidates = []
    for plan_id in (notice.previous_plan_id, notice.plan_id):
        plan = session.get(TreatmentPlan, plan_id)
        if plan is not None and (dose := next_dose(schedule_setup(patient, plan), now)) is not None:
            candidates.append(dose.utc)
    return min(candidates) if candidates else None


def last_delivered_at(session: Session, patient_id: int) -> datetime | None:
    """When a message last reached the patient (a delivered SMS, or an accepted push)."""
    return session.exec(
        select(sa.func.max(OutboundMessage.delivery_updated_at)).where(
            OutboundMessage.patient_id == patient_id,
            _delivered(OutboundMessage.__table__),
        )
    ).first()
