"""Staff actions on the treatment plan (flow 5): each creates a new plan version with who, when and why,
replans the patient's reminders in the same transaction, writes an audit row, and tells the patient (a plan-change
notice with its message, services/plan_notices.py).

The product suggests, staff decide (clinical-reference §1): these functions apply a decision; the ladder itself
(what "reduce one level" means, when the ladder ends) comes from server.clinical.regimens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from ..clinical import regimens
from ..clinical.errors import ClinicalValidationError
from ..clinical.regimens import Plan, PlanStatus
from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError
from ..models import Staff, TreatmentPlan
from .audit import audit
from .outbox.planning import PlanningOptions, replan_patient
from .patient_state import current_plan, get_patient
from .plan_notices import record_notice
from .plan_permissions import ensure_may, operation_kind
from .pqi.teach_back_sms import cancel_stale_questions

OPERATIONS = ("hold", "resume", "reduce", "discontinue", "change_schedule")


@dataclass(frozen=True)
class ScheduleChange:
    day1_weekday: int | None = None
    day3_weekday: int | None = None
    dose_time: time | None = None
    antiemetic_name: str | None = None
    antiemetic_offset_min: int | None = None
    dexamethasone_instruction: str | None = None


def change_plan(
    ctx: AppContext,
    patient_id: int,
    *,
    staff_id: int,
    operation: str,
    reason: str,
    level: int | None = None,
    hold_rule: str | None = None,
    schedule: ScheduleChange | None = None,
    dexamethasone_on_hold: str | None = None,
    ip: str | None = None,
) -> TreatmentPlan:
    """Apply one staff decision to the current plan; returns the new version.

    Holding a plan with dexamethasone needs `dexamethasone_on_hold` (continue / hold): clinical-reference section 1,
    a selinexor hold never silently stops the partner drugs.
    """
    now = ctx.clock.now()
    if operation not in OPERATIONS:
        raise FieldError("operation", f"Must be one of: {', '.join(OPERATIONS)}.")
    reason = (reason or "").strip()
    if not reason:
        raise FieldError("reason", "Say why (it is kept with the plan version).")
    with session_scope(ctx.engine) as session:
        patient = get_patient(session, patient_id)
        old = current_plan(session, patient_id)
        # Only the roles PLAN_CHANGE_ROLES allows change a plan (issue 12 item 4); staff_id None: the system itself.
        if staff_id is not None:
            staff = session.get(Staff, staff_id)
            ensure_may(ctx.settings, staff.role if staff else None, operation_kind(operation, old.status))
        plan = Plan(
            regimen=old.regimen,
            level=old.dose_level,
            status=PlanStatus(old.status),
            tablet_strength_mg=patient.tablet_strength_mg,
            dexamethasone_on_hold=old.dexamethasone_on_hold,
        )
        try:
            if operation == "hold":
                plan = regimens.hold(plan, dexamethasone_on_hold or None)
            elif operation == "resume":
                plan = regimens.resume(plan, level)
            elif operation == "reduce":
                plan = regimens.reduce(plan)
            elif operation == "discontinue":
                plan = regimens.discontinue(plan)
        except ClinicalValidationError as exc:
            raise FieldError(exc.field if exc.field != "plan" else "operation", exc.message) from None
        # The rule that caused a hold stays with every version while the plan stays held (R-RESUME reads it).
        if plan.status is not PlanStatus.HELD:
            hold_rule = None
        elif operation != "hold":
            hold_rule = old.hold_rule
        new = _next_version(old, plan, staff_id=staff_id, reason=reason, now=now, hold_rule=hold_rule)
        if schedule is not None:
            _apply_schedule(new, schedule)
        session.add(new)
        session.flush()
        replan_patient(session, patient, now, PlanningOptions.from_settings(ctx.settings))
        record_notice(session, patient, old, new, operation, now)
        # A teach-back question about the old version that has not gone out would teach the old schedule.
        cancel_stale_questions(session, patient_id, new.id, now)
        audit(
            session,
            staff_id=staff_id,
            action=f"plan.{operation}",
            patient_id=patient_id,
            now=now,
            ip=ip,
            detail=f"v{old.version} {old.regimen} L{old.dose_level} {old.status} -> v{new.version} "
            f"L{new.dose_level} {new.status}{_dexamethasone_words(new)}: {reason}",
        )
        return new


def _dexamethasone_words(plan: TreatmentPlan) -> str:
    """' (dexamethasone: continue)' for a held plan with dexamethasone, '' otherwise (audit detail)."""
    if plan.status != PlanStatus.HELD.value or regimens.REGIMENS[plan.regimen].dexamethasone_days == "none":
        return ""
    return f" (dexamethasone: {plan.dexamethasone_on_hold})"


def _next_version(
    old: TreatmentPlan, plan: Plan, *, staff_id: int, reason: str, now: datetime, hold_rule: str | None
) -> TreatmentPlan:
    return TreatmentPlan(
        patient_id=old.patient_id,
        version=old.version + 1,
        regimen=plan.regimen,
        dose_level=plan.level,
        status=plan.status.value,
        start_date=old.start_date,
        day1_weekday=old.day1_weekday,
        day3_weekday=old.day3_weekday,
        dose_time=old.dose_time,
        antiemetic_name=old.antiemetic_name,
        antiemetic_offset_min=old.antiemetic_offset_min,
        dexamethasone_instruction=old.dexamethasone_instruction,
        hold_rule=hold_rule,
        dexamethasone_on_hold=plan.dexamethasone_on_hold.value,
        reason=reason,
        changed_by_staff_id=staff_id,
        created_at=now,
    )


def _apply_schedule(new: TreatmentPlan, change: ScheduleChange) -> None:
    for name in change.__dataclass_fields__:
        value = getattr(change, name)
        if value is not None:
            setattr(new, name, value)
    if (new.day3_weekday - new.day1_weekday) % 7 != 2:
        raise FieldError("day3_weekday", "Day 3 must be two days after Day 1 (for example Monday and Wednesday).")
    if not 0 <= new.antiemetic_offset_min <= 180:
        raise FieldError("antiemetic_offset_min", "Must be between 0 and 180 minutes before the dose.")
