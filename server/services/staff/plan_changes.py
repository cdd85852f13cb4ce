"""Plan decisions from the staff pages: the plan form as a typed model, applied to the patient's plan from their
page, or from an alert (which then records the action and stops its paging)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator
from sqlmodel import Session

from ...clinical.rules import RULES
from ...context import AppContext
from ...forms import BlankToNone, FormModel, LocalTime, Text, plain
from ...models import Staff, TreatmentPlan
from ..plans import OPERATIONS, ScheduleChange, change_plan
from .alert_actions import act_on_alert
from .clinic_scope import patient_for_staff

REASON_MAX = 500
SCHEDULE_FIELDS = ("day1_weekday", "day3_weekday", "dose_time", "antiemetic_name", "antiemetic_offset_min",
                   "dexamethasone_instruction")
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

    @model_validator(mode="before")
    @classmethod
    def _only_what_the_operation_uses(cls, data: Any) -> Any:
        """The form always sends every box; those the chosen operation does not use are ignored, not checked."""
        if not isinstance(data, dict):
            return data
        operation = str(data.get("operation", "")).strip()
        unused = (() if operation == "resume" else ("level",)) + \
                 (() if operation == "change_schedule" else SCHEDULE_FIELDS) + \
                 (() if operation == "hold" else ("dexamethasone_on_hold",))
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
        return ScheduleChange(day1_weekday=self.day1_weekday, day3_weekday=day3, dose_time=self.dose_time,
                              antiemetic_name=self.antiemetic_name, antiemetic_offset_min=self.antiemetic_offset_min,
                              dexamethasone_instruction=self.dexamethasone_instruction)


def change_patient_plan(ctx: AppContext, staff: Staff, patient_id: int, change: PlanChange, *,
                        ip: str | None) -> TreatmentPlan:
    """A plan decision from the patient's page (the patient must belong to the staff member's clinic)."""
    with Session(ctx.engine) as session:
        patient_for_staff(session, patient_id, staff.clinic_id)
    return change_plan(ctx, patient_id, staff_id=staff.id, operation=change.operation, reason=change.reason,
                       level=change.level, hold_rule=change.hold_rule if change.operation == "hold" else None,
                       schedule=change.schedule, dexamethasone_on_hold=change.dexamethasone_on_hold, ip=ip)


def act_on_alert_with(ctx: AppContext, staff: Staff, alert_id: int, change: PlanChange, *,
                      ip: str | None) -> TreatmentPlan:
    """A plan decision from an alert card (the hold remembers the alert's rule)."""
    return act_on_alert(ctx, staff, alert_id, operation=change.operation, reason=change.reason, level=change.level,
                        schedule=change.schedule, dexamethasone_on_hold=change.dexamethasone_on_hold, ip=ip)

