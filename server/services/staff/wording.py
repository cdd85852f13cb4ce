"""Every word the care team's pages show that the code composes: tiers, label actions, outcomes, doses, times,
ages, lab and symptom summaries. Templates get these through `server.routes.staff.common.render`; the staff
service modules use them to build their views. (Patient-facing words live in the Babel catalogs, not here.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ...clinical.regimens import REGIMENS, Plan, PlanStatus, describe_resume
from ...clinical.schedule import WEEKDAYS, next_dose
from ...i18n import format_clock
from ...models import LabResult, Patient, SymptomReport, TreatmentPlan
from ..patient_state import schedule_setup

# clinical-reference §4: the label actions in words, for the care team.
ACTION_WORDS = {
    "continue_supportive": "Continue the same dose and add supportive care",
    "reduce": "Reduce selinexor one level down the ladder",
    "interrupt": "Interrupt: hold selinexor until recovery, then resume one level lower",
    "discontinue": "Permanently discontinue selinexor",
    "evaluate": "No dose action from the label: review and decide",
}
TIER_WORDS = {"urgent": "Urgent", "same_day": "Same day", "routine": "Routine", "self_care": "Self-care"}
# The outcomes offered when resolving an alert (free text may follow).
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
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ladder(regimen: str) -> list[tuple[int, str]]:
    """The regimen's dose levels in words, for "resume at" choices."""
    return [(lv.level, lv.describe()) for lv in REGIMENS[regimen].levels]


def plan_of(patient: Patient, plan: TreatmentPlan) -> Plan:
    """The stored plan version as the clinical core's Plan."""
    return Plan(
        regimen=plan.regimen,
        level=plan.dose_level,
        status=PlanStatus(plan.status),
        tablet_strength_mg=patient.tablet_strength_mg,
    )


def dose_words(patient: Patient, plan: TreatmentPlan) -> str:
    """E.g. 'Xd level 0: 80 mg on Days 1 and 3 (160 mg a week), Mon and Wed 08:00 (active)'."""
    level = REGIMENS[plan.regimen].levels[plan.dose_level]
    days = WEEKDAYS[plan.day1_weekday].capitalize()
    if level.twice_weekly:
        days += f" and {WEEKDAYS[plan.day3_weekday].capitalize()}"
    return f"{plan.regimen} level {plan.dose_level}: {level.describe()}, {days} {plan.dose_time.strftime('%H:%M')}"


def patient_dose_words(patient: Patient, plan: TreatmentPlan) -> str:
    """For the patient's printed sheet: tablets, days and time, without ladder jargon; the time as the patient's app
    writes it in their locale ('9:00 AM' in US English)."""
    current = plan_of(patient, plan)
    days = DAY_NAMES[plan.day1_weekday]
    if current.dose_level.twice_weekly:
        days += f" and {DAY_NAMES[plan.day3_weekday]}"
    return (
        f"{current.tablets} tablets of {patient.tablet_strength_mg} mg ({current.dose_mg} mg) every {days} "
        f"at {format_clock(plan.dose_time, patient.language)}"
    )


def lower_level_words(patient: Patient, plan: TreatmentPlan) -> tuple[int | None, str]:
    """One level lower, or (None, 'discontinue') at the end of the ladder."""
    return describe_resume(plan_of(patient, plan))


def local_text(instant: datetime | None, zone_name: str, *, with_day: bool = True) -> str:
    """An instant in the patient's zone, e.g. 'Mon 2 Mar 08:00' (or only '08:00')."""
    if instant is None:
        return ""
    local = instant.astimezone(ZoneInfo(zone_name))
    if with_day:
        return f"{local.strftime('%a')} {local.day} {local.strftime('%b')} {local.strftime('%H:%M')}"
    return local.strftime("%H:%M")


def next_dose_words(patient: Patient, plan: TreatmentPlan, now: datetime) -> str:
    """When the next dose is due, in the patient's zone and from now, or why there is none."""
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


def age_words(delta: timedelta) -> str:
    """How long ago, e.g. '12 min', '3 h 05 min', '4 days'."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def lab_words(lab: LabResult) -> str:
    """A lab result in one line, e.g. 'Na 128, PLT 140'."""
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


def symptom_words(s: SymptomReport, usual: int) -> str:
    """A symptom check-in in one line, for the timeline."""
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
    if s.note:
        parts.append(f"note: “{s.note}”")
    return ", ".join(parts) or "nothing reported"


def dexamethasone_on_hold_words(plan: TreatmentPlan) -> str:
    """'; dexamethasone continues' / '; dexamethasone held too' for a held Xd/XVd version (clinical-reference §1)."""
    if plan.status != "held" or plan.regimen not in ("Xd", "XVd"):
        return ""
    return "; dexamethasone held too" if plan.dexamethasone_on_hold == "hold" else "; dexamethasone continues"


SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def schedule_words(plan: TreatmentPlan) -> str:
    """The weekdays and time of a plan version: 'Mon & Wed 08:00' twice weekly, 'Tue 09:00' once weekly (a once-weekly
    plan has one dose day, whatever its stored Day 3 says)."""
    level = REGIMENS[plan.regimen].levels[plan.dose_level]
    days = SHORT_DAYS[plan.day1_weekday]
    if level.twice_weekly:
        days += f" & {SHORT_DAYS[plan.day3_weekday]}"
    return f"{days} {plan.dose_time.strftime('%H:%M')}"


def _per_dose(patient: Patient, plan: TreatmentPlan, regimen: str, level_index: int, status: str) -> tuple[str, int]:
    """What the patient takes per dose day, and the weekly mg (0 while held or stopped)."""
    if status != PlanStatus.ACTIVE.value:
        return ("no doses (on hold)" if status == PlanStatus.HELD.value else "no doses (discontinued)"), 0
    level = REGIMENS[regimen].levels[level_index]
    tablets = level.dose_mg // patient.tablet_strength_mg
    if level.twice_weekly:
        days = f"{SHORT_DAYS[plan.day1_weekday]} & {SHORT_DAYS[plan.day3_weekday]}"
    else:
        days = f"{DAY_NAMES[plan.day1_weekday]} only"
    return f"{tablets} tablets {days}", level.weekly_dose_mg


def change_words(patient: Patient, old: TreatmentPlan, new: Plan) -> str:
    """What a change means for the patient, per dose and per week, e.g.
    '4 tablets Mon & Wed → 5 tablets Monday only; weekly 160 → 100 mg' (issue 12 item 4)."""
    before, before_mg = _per_dose(patient, old, old.regimen, old.dose_level, old.status)
    after, after_mg = _per_dose(patient, old, new.regimen, new.level, new.status.value)
    return f"{before} → {after}; weekly {before_mg} → {after_mg} mg"


def level_choices(patient: Patient, regimen: str) -> list[tuple[int, str]]:
    """The levels of the patient's regimen that are whole tablets of the patient's strength, with mg and tablets."""
    choices = []
    for level in REGIMENS[regimen].levels:
        if level.dose_mg % patient.tablet_strength_mg:
            continue  # tablets are never divided (clinical-reference §1): not a dose this patient can take
        tablets = level.dose_mg // patient.tablet_strength_mg
        choices.append(
            (level.level, f"{level.describe()}: {tablets} × {patient.tablet_strength_mg} mg tablets per dose")
        )
    return choices
