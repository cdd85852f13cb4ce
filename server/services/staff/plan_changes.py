"""Plan decisions from the staff pages: the plan form as a typed model, applied to the patient's plan from their
page, or from an alert (which then records the action and stops its paging)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator
from sqlmodel import Session, select

from ...clinical import regimens
from ...clinical.errors import ClinicalValidationError
from ...clinical.regimens import REGIMENS, Plan, PlanStatus
from ...clinical.rules import RULES, Tier
from ...context import AppContext
from ...errors import DomainError
from ...forms import BlankToNone, FormModel, LocalTime, Text, plain
from ...models import Alert, Patient, Staff, TreatmentPlan
from ..clinic_scope import OPEN_STATUSES, alert_for_staff, patient_for_staff
from ..patient_state import current_plan
from ..plans import OPERATIONS, ScheduleChange, change_plan
from .alert_actions import act_on_alert
from .wording import change_words, lower_level_words

REASON_MAX = 500
SCHEDULE_FIELDS = (
    "day1_weekday",
    "day3_weekday",
    "dose_time",
    "antiemetic_name",
    "antiemetic_offset_min",
    "dexamethasone_instruction",
)
Operation = Literal["hold", "resume", "reduce", "discontinue", "change_schedule"]
assert set(Operation.__args__) == set(OPERATIONS)  # one list of operations


def _reason(text: str) -> str:
    """Every plan version says why."""
    if not text:
        raise plain("Say why (it is kept with the plan version and shown in the timeline).")
    if len(text) > REASON_MAX:
        raise plain(f"Keep the reason under {REASON_MAX} characters.")
    return text


def _known_rule(rule: str | None) -> str | None:
    """A hold names a rule of the reference (R-RESUME reads it), or none."""
    if rule is not None and rule not in RULES:
        raise plain("Choose one of the patient's alerts, or none.")
    return rule


Weekday = Annotated[int, Field(ge=0, le=6)]


class PlanChange(FormModel):
    """A plan decision as sent by the plan form (the patient's page, or an alert card)."""

    messages: ClassVar[dict[str, str]] = {
        "operation": f"Choose one of: {', '.join(OPERATIONS)}.",
        "reason": "Say why (it is kept with the plan version and shown in the timeline).",
        "level": "Choose the level to resume at.",
        "day1_weekday": "Choose a weekday.",
        "day3_weekday": "Choose a weekday.",
        "dose_time": "Dose time must be a local time like 08:00.",
        "antiemetic_name": "Keep the antiemetic under 100 characters.",
        "antiemetic_offset_min": "Minutes before the dose must be a whole number.",
        "dexamethasone_instruction": "Keep the instruction under 300 characters.",
        "dexamethasone_on_hold": "Choose: continue dexamethasone as prescribed, or hold it too.",
    }

    operation: Operation
    reason: Annotated[Text, AfterValidator(_reason)]
    level: BlankToNone[int] = None  # resume only
    hold_rule: Annotated[BlankToNone[Text], AfterValidator(_known_rule)] = None
    # change_schedule only:
    day1_weekday: BlankToNone[Weekday] = None
    day3_weekday: BlankToNone[Weekday] = None
    dose_time: BlankToNone[LocalTime] = None
    antiemetic_name: BlankToNone[Annotated[Text, Field(max_length=100)]] = None
    antiemetic_offset_min: BlankToNone[int] = None
    dexamethasone_instruction: BlankToNone[Annotated[Text, Field(max_length=300)]] = None
    # With a hold of Xd/XVd: continue | hold (clinical-reference: section 1; the plans service refuses a hold of
    # Xd/XVd without the choice, in words). Ignored for the other operations.
    dexamethasone_on_hold: BlankToNone[Literal["continue", "hold"]] = None
    back: str = ""
    confirmed: bool = False  # the person saw the change's confirmation (dose up, off-label level, urgent open)

    @model_validator(mode="before")
    @classmethod
    def _only_what_the_operation_uses(cls, data: Any) -> Any:
        """The form always sends every box; those the chosen operation does not use are ignored, not checked."""
        if not isinstance(data, dict):
            return data
        operation = str(data.get("operation", "")).strip()
        unused = (
            (() if operation == "resume" else ("level",))
            + (() if operation == "change_schedule" else SCHEDULE_FIELDS)
            + (() if operation == "hold" else ("dexamethasone_on_hold",))
        )
        return {k: v for k, v in data.items() if k not in unused}

    @model_validator(mode="after")
    def _a_schedule_change_changes_something(self) -> PlanChange:
        """A schedule change with every box empty would make a version that changes nothing."""
        if self.operation == "change_schedule" and all(getattr(self, name) is None for name in SCHEDULE_FIELDS):
            raise plain("Change at least one of: weekdays, dose time, antiemetic.", field="day1_weekday")
        return self

    @property
    def schedule(self) -> ScheduleChange | None:
        """The schedule change (Day 3 follows Day 1 by two days unless given, reference §1); None if not one."""
        if self.operation != "change_schedule":
            return None
        day3 = self.day3_weekday
        if self.day1_weekday is not None and day3 is None:
            day3 = (self.day1_weekday + 2) % 7
        return ScheduleChange(
            day1_weekday=self.day1_weekday,
            day3_weekday=day3,
            dose_time=self.dose_time,
            antiemetic_name=self.antiemetic_name,
            antiemetic_offset_min=self.antiemetic_offset_min,
            dexamethasone_instruction=self.dexamethasone_instruction,
        )


# --------------------------------------------------------------------------- confirming a risky change


@dataclass
class ChangePreview:
    """What a plan change means for the patient, and why it must be confirmed (empty: it need not be)."""

    words: str
    reasons: list[str]


class ConfirmationNeeded(DomainError):
    """The change needs a second look before it is saved (issue 12 item 4)."""

    def __init__(self, preview: ChangePreview) -> None:
        super().__init__("; ".join(preview.reasons))
        self.preview = preview


def _new_plan(patient: Patient, old: TreatmentPlan, change: PlanChange) -> Plan | None:
    """The plan the change would make (None when the ladder refuses it: the save then says why)."""
    plan = Plan(
        regimen=old.regimen,
        level=old.dose_level,
        status=PlanStatus(old.status),
        tablet_strength_mg=patient.tablet_strength_mg,
    )
    try:
        if change.operation == "hold":
            # The preview is about selinexor's doses; a missing dexamethasone choice is refused by the save itself.
            return regimens.hold(plan, change.dexamethasone_on_hold or "continue")
        if change.operation == "resume":
            return regimens.resume(plan, change.level)
        if change.operation == "reduce":
            return regimens.reduce(plan)
        if change.operation == "discontinue":
            return regimens.discontinue(plan)
    except ClinicalValidationError:
        return None
    return plan


def preview_change(
    session: Session, patient: Patient, change: PlanChange, *, from_alert: Alert | None = None
) -> ChangePreview:
    """The change per dose and per week, and the reasons to confirm it: the dose goes up, the level is not the one
    the label suggests, or an urgent alert of the patient is still unacknowledged."""
    old = current_plan(session, patient.id)
    new = _new_plan(patient, old, change)
    if new is None:
        return ChangePreview("", [])
    reasons = []
    old_mg = REGIMENS[old.regimen].levels[old.dose_level].weekly_dose_mg
    if new.status is PlanStatus.ACTIVE and new.dose_level.weekly_dose_mg > old_mg:
        reasons.append(f"The dose goes up: {old_mg} → {new.dose_level.weekly_dose_mg} mg a week.")
    open_alerts = session.exec(
        select(Alert).where(Alert.patient_id == patient.id, Alert.status.in_(OPEN_STATUSES))
    ).all()
    if change.operation == "resume":
        suggested = _suggested_level(patient, old, from_alert, open_alerts)
        if suggested is not None and change.level != suggested:
            reasons.append(f"Level {change.level} is not the label's suggestion (level {suggested}).")
    urgent = [
        a
        for a in open_alerts
        if a.status == "open" and a.tier == Tier.URGENT.value and (from_alert is None or a.id != from_alert.id)
    ]
    if urgent:
        rules = ", ".join(sorted({a.rule for a in urgent}))
        reasons.append(f"An urgent alert for this patient is not acknowledged yet ({rules}).")
    return ChangePreview(change_words(patient, old, new), reasons)


def _suggested_level(
    patient: Patient, old: TreatmentPlan, from_alert: Alert | None, open_alerts: list[Alert]
) -> int | None:
    """The level the label suggests: the alert's resume level, else the patient's open alerts' (most severe)."""
    candidates = [from_alert] if from_alert is not None else sorted(open_alerts, key=lambda a: -Tier(a.tier).rank)
    for alert in candidates:
        if alert.resume_level is not None:
            return alert.resume_level
        if alert.action in ("reduce", "interrupt") and from_alert is not None:
            lower, _ = lower_level_words(patient, old)
            return lower
    return None


def ensure_confirmed(
    ctx: AppContext, staff: Staff, patient_id: int, change: PlanChange, *, alert_id: int | None = None
) -> None:
    """ConfirmationNeeded when the change is risky and the person has not confirmed it yet."""
    if change.confirmed or change.operation == "change_schedule":
        return
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
        alert = None
        if alert_id is not None:
            alert, _ = alert_for_staff(session, alert_id, staff.clinic_id)
        preview = preview_change(session, patient, change, from_alert=alert)
    if preview.reasons:
        raise ConfirmationNeeded(preview)


def change_patient_plan(
    ctx: AppContext, staff: Staff, patient_id: int, change: PlanChange, *, ip: str | None
) -> TreatmentPlan:
    """A plan decision from the patient's page (the patient must belong to the staff member's clinic); a risky one
    is confirmed first."""
    with Session(ctx.engine) as session:
        patient_for_staff(session, patient_id, staff.clinic_id)
    ensure_confirmed(ctx, staff, patient_id, change)
    return change_plan(
        ctx,
        patient_id,
        staff_id=staff.id,
        operation=change.operation,
        reason=change.reason,
        level=change.level,
        hold_rule=change.hold_rule if change.operation == "hold" else None,
        schedule=change.schedule,
        dexamethasone_on_hold=change.dexamethasone_on_hold,
        ip=ip,
    )


def act_on_alert_with(
    ctx: AppContext, staff: Staff, alert_id: int, change: PlanChange, *, ip: str | None
) -> TreatmentPlan:
    """A plan decision from an alert card (the hold remembers the alert's rule); a risky one is confirmed first."""
    with Session(ctx.engine) as session:
        alert, _ = alert_for_staff(session, alert_id, staff.clinic_id)
    ensure_confirmed(ctx, staff, alert.patient_id, change, alert_id=alert_id)
    return act_on_alert(
        ctx,
        staff,
        alert_id,
        operation=change.operation,
        reason=change.reason,
        level=change.level,
        schedule=change.schedule,
        dexamethasone_on_hold=change.dexamethasone_on_hold,
        ip=ip,
    )
