# Over 400 lines on purpose: the items, their set-based loading and the ticks' checks are one concern (a tick is
# checked against the checklist exactly as the page draws it); split it if a second kind of checklist arrives.
"""The start-of-therapy checklist (issue 14 item 1, the NCODA PQI): what the pharmacist and nurse confirm before the
first selinexor dose, with who and when for every item.

Ticks are rows of `start_checklist_item` (history kept: a tick adds a row, an un-tick sets `undone_at`). The baseline
items (CBC, CMP, weight) tick themselves from the data:

* weight: the baseline weight recorded at enrollment (every patient has one);
* CBC: platelets, ANC and hemoglobin each recorded (one or more lab results), CMP: a sodium result, collected in the
  baseline window: from 14 days before the start date up to the first scheduled dose (P-MONITOR "at baseline"; the
  14 days are a product choice: a pre-treatment draw in the fortnight before the start counts).

Staff may also tick a baseline blood item by hand (a result from another lab, noted). The check of the dose and
schedule (server/clinical/start_checklist.py) must find no mismatch before that item can be ticked. An incomplete
checklist never holds back a reminder; from 24 hours before the first dose it opens R-CHECKLIST (the sweep).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from ...clinical.regimens import REGIMENS
from ...clinical.rules import Finding
from ...clinical.schedule import resolve_local
from ...clinical.start_checklist import (
    INDICATIONS,
    PlanToCheck,
    checklist_finding,
    dose_check,
    first_scheduled_dose,
    level_words,
    start_level_mismatch,
)
from ...context import AppContext
from ...db import session_scope
from ...errors import FieldError, Forbidden
from ...models import LabResult, Patient, Staff, StartChecklistItem, TreatmentPlan
from ..audit import audit
from ..clinic_scope import patient_for_staff
from ..labs import CBC_FIELDS
from .quality_data import day_number

# Who may tick: the clinical roles (the PQI's pharmacist and nurse, and physicians / nurse practitioners); an IT
# administrator changes no patient's care record.
CHECKLIST_ROLES = frozenset({"pharmacist", "nurse", "practitioner", "physician"})
BASELINE_WINDOW_BEFORE_START = timedelta(days=14)
CONTRACEPTION_CHOICES = {"discussed": "discussed", "not_relevant": "not relevant for this patient"}


@dataclass(frozen=True)
class ItemSpec:
    """One checklist item: its words for staff, its group, and whether the data can tick it."""

    key: str
    label: str
    group: str
    auto: bool = False
    dexamethasone_only: bool = False


# clinical-reference: P-ANTIEMETIC, P-TAKE, P-MONITOR, P-FLUIDS, P-PREGNANCY (the education items' content)
CHECKLIST_ITEMS: dict[str, ItemSpec] = {
    s.key: s
    for s in (
        ItemSpec("dose_schedule", "Dose and schedule confirmed for the indication", "Prescription"),
        ItemSpec("dexamethasone_received", "Dexamethasone received", "Prescription", dexamethasone_only=True),
        ItemSpec(
            "antiemetic_received", "Prophylactic anti-nausea medicine received (5-HT3 antagonist)", "Prescription"
        ),
        ItemSpec("baseline_cbc", "Baseline CBC recorded (platelets, ANC, hemoglobin)", "Baseline", auto=True),
        ItemSpec("baseline_cmp", "Baseline CMP recorded (sodium)", "Baseline", auto=True),
        ItemSpec("baseline_weight", "Baseline weight recorded", "Baseline", auto=True),
        ItemSpec("edu_sheet", "Oncology Chemotherapy Education sheet given", "Education"),
        ItemSpec("edu_starter_kit", "Starter kit offered", "Education"),
        ItemSpec("edu_schedule", "Dosing schedule explained, with dexamethasone and anti-nausea medicine", "Education"),
        ItemSpec("edu_swallow_whole", "Swallow tablets whole, with water, same time each dose day", "Education"),
        ItemSpec("edu_monitoring", "Blood tests and weight monitoring explained", "Education"),
        ItemSpec("edu_fluids", "Fluids and calories explained", "Education"),
        ItemSpec("edu_contraception", "Contraception (where relevant)", "Education"),
    )
}


@dataclass(frozen=True)
class ItemState:
    """One item as the checklist shows it: done or not, by whom and when, and the evidence for a baseline item."""

    spec: ItemSpec
    done_at: datetime | None = None
    done_by: str = ""
    detail: str | None = None
    note: str | None = None
    evidence: str = ""  # a baseline item ticked from the data: what was found, with its date
    tick_id: int | None = None  # the row a staff tick made (None: not ticked, or ticked by the data)
    label: str = ""

    @property
    def done(self) -> bool:
        return self.done_at is not None


@dataclass
class Checklist:
    """A patient's checklist: the items that apply to their regimen, the dose check, the first dose."""

    patient_id: int
    regimen: str
    items: list[ItemState]
    first_dose_at: datetime | None
    plan_check: PlanToCheck  # the plan the dose item checks: the start (see start_plan_for_check)
    dose_problems: list[str] = field(default_factory=list)
    antiemetic_name: str = ""
    dexamethasone_words: str = ""
    checked_version: int = 1  # the plan version plan_check is read from
    current_plan_words: str | None = None  # the current plan, in words, when it is not the one checked
    start_words: str = ""  # the regimen's starting level in the table's own words ("100 mg once weekly")

    @property
    def start_level_only(self) -> bool:
        """Whether the only mismatch is the start level (a lower start a prescriber may have chosen on purpose)."""
        return self.dose_problems == [start_level_mismatch(self.plan_check)]

    @property
    def done_count(self) -> int:
        return sum(i.done for i in self.items)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def complete(self) -> bool:
        return self.done_count == self.total

    @property
    def completed_at(self) -> datetime | None:
        """When the last item was ticked (None while incomplete)."""
        return max(i.done_at for i in self.items if i.done_at) if self.complete else None

    @property
    def items_left(self) -> list[str]:
        return [i.label for i in self.items if not i.done]

    @property
    def summary(self) -> str:
        """'Complete' or 'Checklist 7/10', as the roster shows it."""
        return "Complete" if self.complete else f"Checklist {self.done_count}/{self.total}"


def has_dexamethasone(regimen: str) -> bool:
    """Xd and XVd come with dexamethasone; DLBCL has no partner drug."""
    # clinical-reference: section 1 (Xd and XVd with dexamethasone; DLBCL no partner drug)
    return regimen in REGIMENS and REGIMENS[regimen].dexamethasone_days != "none"


def applies(spec: ItemSpec, regimen: str) -> bool:
    """Dexamethasone items only for regimens with dexamethasone (Xd, XVd; not DLBCL)."""
    return not spec.dexamethasone_only or has_dexamethasone(regimen)


def item_label(spec: ItemSpec, regimen: str) -> str:
    """The item's words for this regimen (the schedule item names dexamethasone only where there is some)."""
    if spec.key == "edu_schedule" and not has_dexamethasone(regimen):
        return "Dosing schedule explained, with anti-nausea medicine"
    return spec.label


def plan_to_check(patient: Any, plan: Any) -> PlanToCheck:
    """The stored plan as the dose check reads it."""
    return PlanToCheck(
        regimen=plan.regimen,
        level=plan.dose_level,
        day1_weekday=plan.day1_weekday,
        day3_weekday=plan.day3_weekday,
        tablet_strength_mg=patient.tablet_strength_mg,
    )


def first_dose_of(patient: Any, plan: Any) -> datetime | None:
    """The first scheduled selinexor dose of the current plan (its start date, weekdays, time and level pattern)."""
    return first_scheduled_dose(plan_to_check(patient, plan), plan.start_date, plan.dose_time, patient.timezone)


def baseline_window(patient: Any, plan: Any) -> tuple[datetime, datetime]:
    """Labs collected in [start date - 14 days, first dose] count as baseline (the whole start day when no dose)."""
    zone = ZoneInfo(patient.timezone)
    start = resolve_local(plan.start_date - BASELINE_WINDOW_BEFORE_START, time(0, 0), zone)
    end = first_dose_of(patient, plan) or resolve_local(plan.start_date + timedelta(days=1), time(0, 0), zone)
    return start, end


@dataclass(frozen=True)
class LabSeen:
    """A lab result as the baseline items read it."""

    collected_at: datetime
    recorded_at: datetime | None
    fields: frozenset[str]


def _day(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y")


def _baseline_blood(spec: ItemSpec, patient: Any, plan: Any, labs: Sequence[LabSeen]) -> tuple[datetime, str] | None:
    """(when it was complete, the evidence in words) for the CBC or CMP item, from results in the window."""
    start, end = baseline_window(patient, plan)
    wanted = CBC_FIELDS if spec.key == "baseline_cbc" else ("sodium_mmol_l",)
    firsts: list[LabSeen] = []
    for name in wanted:
        found = [lab for lab in labs if name in lab.fields and start <= lab.collected_at <= end]
        if not found:
            return None
        firsts.append(min(found, key=lambda lab: lab.recorded_at or lab.collected_at))
    done_at = max(lab.recorded_at or lab.collected_at for lab in firsts)
    days = sorted({_day(lab.collected_at, patient.timezone) for lab in firsts})
    what = "CBC" if spec.key == "baseline_cbc" else "sodium (CMP)"
    return done_at, f"{what} collected {', '.join(days)}"


def plan_words(plan: Any) -> str:
    """'version 2: Xd level 1 (100 mg once weekly), active', for staff."""
    regimen = REGIMENS.get(plan.regimen)
    level = (
        f" ({level_words(regimen.levels[plan.dose_level])})"
        if regimen is not None and 0 <= plan.dose_level <= regimen.last_level
        else ""
    )
    return f"version {plan.version}: {plan.regimen} level {plan.dose_level}{level}, {plan.status}"


def start_plan_for_check(patient: Any, start_plan: Any, plan: Any) -> Any:
    """The plan the dose-and-schedule item checks: the start (plan version 1, the enrollment plan), so a later
    reduction never makes the item impossible to tick; or the current plan when the start did not match the regimen
    table and the current plan does (the prescription corrected to the table's start)."""
    if start_plan is None or start_plan.id == plan.id or not dose_check(plan_to_check(patient, start_plan)):
        return start_plan if start_plan is not None else plan
    return plan if not dose_check(plan_to_check(patient, plan)) else start_plan


def build_checklist(
    patient: Any,
    plan: Any,
    ticks: Sequence[Any],
    labs: Sequence[LabSeen],
    names: dict[int, str] | None = None,
    start_plan: Any | None = None,
) -> Checklist:
    """A patient's checklist from their current plan, their standing ticks (undone_at NULL) and their lab results.

    `start_plan`: plan version 1, for the dose-and-schedule check (None: the current plan is version 1).
    """
    names = names or {}
    by_item = {t.item: t for t in sorted(ticks, key=lambda t: t.done_at)}  # the newest standing tick wins
    items: list[ItemState] = []
    for spec in CHECKLIST_ITEMS.values():
        if not applies(spec, plan.regimen):
            continue
        tick = by_item.get(spec.key)
        state: ItemState | None = None
        if spec.key == "baseline_weight":
            # clinical-reference: P-MONITOR (baseline weight, recorded at enrollment)
            state = ItemState(
                spec,
                done_at=patient.created_at,
                done_by=names.get(patient.enrolled_by_staff_id or 0, "enrollment"),
                evidence=f"{patient.baseline_weight_kg:.1f} kg at enrollment ({_day(patient.created_at, patient.timezone)})",
            )
        elif spec.key in ("baseline_cbc", "baseline_cmp"):
            # clinical-reference: P-MONITOR (CBC with differential, chemistry including sodium, at baseline)
            found = _baseline_blood(spec, patient, plan, labs)
            if found is not None:
                state = ItemState(spec, done_at=found[0], done_by="lab results", evidence=found[1])
        if state is None and tick is not None:
            state = ItemState(
                spec,
                done_at=tick.done_at,
                done_by=names.get(tick.done_by_staff_id, "staff"),
                detail=tick.detail,
                note=tick.note,
                tick_id=tick.id,
            )
        items.append(replace(state or ItemState(spec), label=item_label(spec, plan.regimen)))
    regimen = REGIMENS.get(plan.regimen)
    checked = start_plan_for_check(patient, start_plan, plan)
    check = plan_to_check(patient, checked)
    checked_regimen = REGIMENS.get(checked.regimen)
    return Checklist(
        patient_id=patient.id,
        regimen=checked.regimen,
        items=items,
        first_dose_at=first_dose_of(patient, plan),
        plan_check=check,
        dose_problems=dose_check(check),
        antiemetic_name=plan.antiemetic_name,
        dexamethasone_words=plan.dexamethasone_instruction or (regimen.dexamethasone if regimen else ""),
        checked_version=checked.version,
        current_plan_words=None if checked.id == plan.id else plan_words(plan),
        start_words=level_words(checked_regimen.levels[0]) if checked_regimen else "",
    )


# --------------------------------------------------------------------------- set-based loading


def standing_ticks(session: Session, patient_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The ticks not undone, per patient (one query)."""
    c = StartChecklistItem.__table__
    ticks: dict[int, list[Any]] = defaultdict(list)
    for row in session.connection().execute(
        sa.select(c).where(c.c.patient_id.in_(list(patient_ids)), c.c.undone_at.is_(None)).order_by(c.c.id)
    ):
        ticks[row.patient_id].append(row)
    return ticks


def baseline_labs(
    session: Session, patient_ids: Sequence[int], since: datetime, *, near_start: bool = False
) -> dict[int, list[LabSeen]]:
    """Lab results collected since `since`, per patient (one query; amended results are left out). `near_start`:
    only those within a few days of the start date of the patient's latest plan version (a superset of its baseline
    window, which ends at the first dose, within a week of the start)."""
    lab = LabResult.__table__
    fields = ("sodium_mmol_l", *CBC_FIELDS)
    query = sa.select(lab.c.patient_id, lab.c.collected_at, lab.c.recorded_at, *(lab.c[n] for n in fields)).where(
        lab.c.patient_id.in_(list(patient_ids)), lab.c.superseded_at.is_(None), lab.c.collected_at >= since
    )
    if near_start:
        plan = TreatmentPlan.__table__.c
        dialect = session.get_bind().dialect.name
        start = (
            sa.select(plan.start_date)
            .where(plan.patient_id == lab.c.patient_id)
            .order_by(plan.version.desc())
            .limit(1)
            .scalar_subquery()
        )
        collected = day_number(lab.c.collected_at, dialect)
        started = day_number(start, dialect)
        window_days = BASELINE_WINDOW_BEFORE_START.days
        query = query.where(collected.between(started - window_days - 1, started + 8))
    labs: dict[int, list[LabSeen]] = defaultdict(list)
    for row in session.connection().execute(query):
        present = frozenset(n for n in fields if getattr(row, n) is not None)
        labs[row.patient_id].append(LabSeen(row.collected_at, row.recorded_at, present))
    return labs


def checklists_for(
    session: Session,
    chosen: Sequence[tuple[Any, Any]],
    names: dict[int, str] | None = None,
    starts: dict[int, Any] | None = None,
) -> dict[int, Checklist]:
    """The checklists of (patient, current plan) pairs: two queries whatever their number (roster, report), and a
    third for the start plans (version 1) when a current plan is a later version and `starts` does not give them."""
    if not chosen:
        return {}
    ids = [patient.id for patient, _ in chosen]
    ticks = standing_ticks(session, ids)
    since = min(baseline_window(patient, plan)[0] for patient, plan in chosen)
    labs = baseline_labs(session, ids, since, near_start=True)
    if starts is None:
        starts = start_plans(session, [patient.id for patient, plan in chosen if plan.version != 1])
    return {
        patient.id: build_checklist(patient, plan, ticks[patient.id], labs[patient.id], names, starts.get(patient.id))
        for patient, plan in chosen
    }


def completed_at_of(
    session: Session, chosen: Sequence[tuple[Any, Any]], starts: dict[int, Any] | None = None
) -> dict[int, datetime | None]:
    """When each (patient, current plan)'s checklist was completed, None while incomplete (the quality report;
    `starts`: each patient's plan version 1, when the caller has it).

    Only a patient with a standing tick on every item that needs one can be complete: the others are not built.
    """
    if not chosen:
        return {}
    ticks = standing_ticks(session, [patient.id for patient, _ in chosen])
    needing = {
        regimen: {k for k, spec in CHECKLIST_ITEMS.items() if not spec.auto and applies(spec, regimen)}
        for regimen in {plan.regimen for _, plan in chosen}
    }
    candidates = [
        (patient, plan) for patient, plan in chosen if needing[plan.regimen] <= {t.item for t in ticks[patient.id]}
    ]
    found: dict[int, datetime | None] = {patient.id: None for patient, _ in chosen}
    if candidates:
        ids = [patient.id for patient, _ in candidates]
        since = min(baseline_window(patient, plan)[0] for patient, plan in candidates)
        labs = baseline_labs(session, ids, since, near_start=True)
        for patient, plan in candidates:
            start = (starts or {}).get(patient.id)
            found[patient.id] = build_checklist(
                patient, plan, ticks[patient.id], labs[patient.id], None, start
            ).completed_at
    return found


def start_plans(session: Session, patient_ids: Sequence[int]) -> dict[int, Any]:
    """Plan version 1 (the enrollment plan) of these patients (one query; none when no patient is given)."""
    if not patient_ids:
        return {}
    t = TreatmentPlan.__table__
    rows = session.connection().execute(sa.select(t).where(t.c.patient_id.in_(list(patient_ids)), t.c.version == 1))
    return {row.patient_id: row for row in rows}


def _current_plans(session: Session, patient_ids: Sequence[int]) -> tuple[list[tuple[Any, Any]], dict[int, Any]]:
    """(patient, current plan) pairs and each patient's plan version 1, from one read of the plans."""
    p, t = Patient.__table__, TreatmentPlan.__table__
    conn = session.connection()
    patients = {row.id: row for row in conn.execute(sa.select(p).where(p.c.id.in_(list(patient_ids))))}
    plans: dict[int, Any] = {}
    starts: dict[int, Any] = {}
    for plan in conn.execute(sa.select(t).where(t.c.patient_id.in_(list(patient_ids))).order_by(t.c.version)):
        plans[plan.patient_id] = plan
        if plan.version == 1:
            starts[plan.patient_id] = plan
    chosen = [(patients[pid], plans[pid]) for pid in patient_ids if pid in patients and pid in plans]
    return chosen, starts


def checklist_completed_at(session: Session, patient_ids: Sequence[int]) -> dict[int, datetime | None]:
    """When each patient's checklist was completed (the last required item ticked), None while incomplete."""
    ids = list(dict.fromkeys(patient_ids))
    chosen, starts = _current_plans(session, ids)
    checklists = checklists_for(session, chosen, starts=starts)
    return {pid: (checklists[pid].completed_at if pid in checklists else None) for pid in ids}


def patient_checklist(session: Session, patient: Patient, plan: TreatmentPlan) -> Checklist:
    """One patient's checklist for their page, with the names of who ticked."""
    assert patient.id is not None  # a stored patient
    ticks = standing_ticks(session, [patient.id])[patient.id]
    ids = {t.done_by_staff_id for t in ticks} | {patient.enrolled_by_staff_id or 0}
    s = Staff.__table__
    names = {r.id: r.name for r in session.connection().execute(sa.select(s.c.id, s.c.name).where(s.c.id.in_(ids)))}
    return checklists_for(session, [(patient, plan)], names)[patient.id]


def checklist_findings(
    session: Session, chosen: Sequence[tuple[Any, Any]], labs: dict[int, list[LabSeen]], now: datetime
) -> dict[int, Finding]:
    """R-CHECKLIST findings for the sweep: patients whose checklist is incomplete 24 h (or less) before the first dose.

    `labs`: the lab results the sweep already read. One query (the ticks), run for every batch so a sweep costs the
    same statements whatever the patients' start dates.
    """
    ticks = standing_ticks(session, [patient.id for patient, _ in chosen])
    findings: dict[int, Finding] = {}
    for patient, plan in chosen:
        first = first_dose_of(patient, plan)
        if first is None or plan.status != "active":
            continue
        checklist = build_checklist(patient, plan, ticks[patient.id], labs.get(patient.id, []))
        words = first.astimezone(ZoneInfo(patient.timezone)).strftime("%a %d %b %H:%M")
        finding = checklist_finding(checklist.items_left, first, words, now)
        if finding is not None:
            findings[patient.id] = finding
    return findings


# --------------------------------------------------------------------------- ticks


def ensure_may_tick(role: str | None) -> None:
    """Forbidden unless the role is one of the clinical roles that keep the checklist."""
    if role not in CHECKLIST_ROLES:
        raise Forbidden(
            "The start-of-therapy checklist is kept by the care team (pharmacist, nurse, nurse practitioner, "
            "physician); an administrator account may not tick it."
        )


@dataclass(frozen=True)
class TickInput:
    """What a tick form sends (already typed by the route's form model)."""

    indication: str | None = None
    detail: str | None = None
    note: str | None = None
    prescriber_confirmed: bool = False  # dose item: the prescriber chose this (lower) start level on purpose


PRESCRIBER_CONFIRMED = "Prescriber confirmed the start level: "


def _detail_for(item: str, checklist: Checklist, given: TickInput) -> tuple[str | None, str | None]:
    """The item's (detail, note), checked: the dose check must find no mismatch (but a start level the prescriber
    confirmed, with a note, which then opens the note), the 5-HT3 antagonist must be named."""
    if item == "dose_schedule":
        if given.indication not in INDICATIONS:
            raise FieldError("indication", "Choose the indication on the prescription.")
        problems = dose_check(checklist.plan_check, given.indication)
        start_level = start_level_mismatch(checklist.plan_check)
        others = [p for p in problems if p != start_level]
        if others or (problems and not given.prescriber_confirmed):
            raise FieldError(
                "dose_schedule",
                "The plan does not match the regimen table, so this item cannot be ticked yet: "
                + " ".join(problems)
                + " Correct the plan (or ask the prescriber), then tick it."
                + (
                    " If the prescriber chose this start level on purpose, tick “Prescriber confirmed this start "
                    "level” and write who confirmed it in the note."
                    if not others
                    else ""
                ),
            )
        if problems:  # only the start level, confirmed: the mismatch stays on record in the note
            if not given.note:
                raise FieldError("note", "Write who confirmed the start level, and when, in the note.")
            return given.indication, f"{PRESCRIBER_CONFIRMED}{start_level} {given.note}"[:500]
        return given.indication, given.note
    if item == "antiemetic_received" and not given.detail:
        # clinical-reference: P-ANTIEMETIC (a 5-HT3 antagonist, e.g. ondansetron)
        raise FieldError("detail", "Name the 5-HT3 antagonist received (for example ondansetron).")
    if item == "edu_contraception" and given.detail not in CONTRACEPTION_CHOICES:
        # clinical-reference: P-PREGNANCY
        raise FieldError("detail", "Choose whether contraception was discussed or is not relevant for this patient.")
    return given.detail, given.note


def _load_for_change(session: Session, staff: Staff, patient_id: int, item: str) -> tuple[Patient, Checklist]:
    ensure_may_tick(staff.role)
    patient = patient_for_staff(session, patient_id, staff.clinic_id)
    if item not in CHECKLIST_ITEMS:
        raise FieldError("item", "There is no such checklist item.")
    plan = (
        session.connection()
        .execute(
            sa.select(TreatmentPlan.__table__)
            .where(TreatmentPlan.__table__.c.patient_id == patient_id)
            .order_by(TreatmentPlan.__table__.c.version.desc())
            .limit(1)
        )
        .first()
    )
    if plan is None:
        raise FieldError("item", "This patient has no treatment plan yet.")
    checklist = checklists_for(session, [(patient, plan)])[patient.id]
    if not applies(CHECKLIST_ITEMS[item], plan.regimen):
        raise FieldError("item", f"This item does not apply to the {plan.regimen} regimen.")
    return patient, checklist


def tick_item(ctx: AppContext, staff: Staff, patient_id: int, item: str, given: TickInput, *, ip: str | None) -> None:
    """Tick one item for the patient (who and when recorded, audited); a dose-check mismatch refuses the tick."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        patient, checklist = _load_for_change(session, staff, patient_id, item)
        state = next(i for i in checklist.items if i.spec.key == item)
        if state.done and state.tick_id is None:
            raise FieldError("item", "This item is already ticked from the patient's data.")
        detail, note = _detail_for(item, checklist, given)
        if state.tick_id is not None:  # ticked again (a correction): the old tick stays in the history
            old = session.get(StartChecklistItem, state.tick_id)
            if old is not None:
                old.undone_at, old.undone_by_staff_id = now, staff.id
                session.add(old)
        session.add(
            StartChecklistItem(
                patient_id=patient.id,
                item=item,
                done_at=now,
                done_by_staff_id=staff.id,
                note=note,
                detail=detail,
            )
        )
        audit(
            session,
            staff_id=staff.id,
            action="checklist.tick",
            now=now,
            patient_id=patient.id,
            detail=f"{item}" + (f": {detail}" if detail else "") + (f" (note: {note})" if note else ""),
            ip=ip,
        )


def untick_item(ctx: AppContext, staff: Staff, patient_id: int, item: str, *, ip: str | None) -> None:
    """Un-tick one item (the tick stays in the history with when and by whom it was undone; audited)."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        patient, checklist = _load_for_change(session, staff, patient_id, item)
        state = next(i for i in checklist.items if i.spec.key == item)
        if state.tick_id is None:
            raise FieldError(
                "item",
                "This item was ticked from the patient's data and cannot be un-ticked here."
                if state.done
                else "This item is not ticked.",
            )
        tick = session.get(StartChecklistItem, state.tick_id)
        assert tick is not None
        tick.undone_at, tick.undone_by_staff_id = now, staff.id
        session.add(tick)
        audit(session, staff_id=staff.id, action="checklist.untick", now=now, patient_id=patient.id, detail=item, ip=ip)
