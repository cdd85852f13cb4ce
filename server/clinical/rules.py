# Over 400 lines on purpose: every row of REFERENCE.md section 4 lives here side by side, in the order of the
# reference, so that a pharmacist signing off the rules reads one file (the advice words are in advice.py).
"""Escalation rules: from a patient's entries to findings for the care team (clinical reference sections 3 and 4).

`evaluate(state, now)` describes the patient as of `now`. It returns one finding per rule whose condition holds now;
a finding whose condition no longer holds is not returned (the alert it opened stays open until staff resolve it,
section 4d, so nothing is lost). What "now" means for each kind of entry:

* symptom answers (counts "in the last 24 hours", severity "today"): the latest answer to each question given in
  the 24 hours up to `now`; older answers are history (used for R-DIA-2R and R-FAT-2 only);
* weight: the most recent weight, whatever its age (section 4a: "from the most recent weight");
* labs: the most recent value of each kind, whatever its age;
* dose logs: R-WRONG-DAY and R-NO-AE look at logs from the last 7 days.

Entries stamped up to `FUTURE_TOLERANCE` after `now` still count (device clocks run fast; a fever must not be lost to
clock skew); later ones are ignored.

Within a graded group of rows about one condition (R-NV-12/R-NV-3, R-DIA-2/R-DIA-2R/R-DIA-3, R-WT-5/R-WT-10/R-WT-20,
R-PLT-75/R-PLT-75B/R-PLT-25, R-ANC-1/R-ANC-05) only the most severe row that applies is returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from server.clinical import advice as adv
from server.clinical.advice import Advice, advice
from server.clinical.errors import ClinicalValidationError
from server.clinical.grading import check_choice, check_grade, check_range
from server.clinical.red_flags import threshold
from server.clinical.regimens import PlanStatus, describe_resume, next_lower_level
from server.clinical.schedule import (
    FIRST_WEEKS_DAYS,
    WEEKDAYS,
    ScheduledEvent,
    ScheduleSetup,
    is_dose_day,
    next_dose,
    next_dose_counted_from,
    previous_doses,
    resolve_local,
)

RECENT_SYMPTOMS = timedelta(hours=24)  # clinical-reference: section 5 ("in the last 24 hours" / "today")
RECENT_DOSE_LOGS = timedelta(days=7)
FUTURE_TOLERANCE = timedelta(hours=1)
# clinical-reference: section 3 (a finding that changes the next dose -> urgent when the next dose is < 12 h away)
DOSE_CHANGE_URGENT_WITHIN = timedelta(hours=12)
DOSE_CHANGING_ACTIONS = frozenset({"interrupt", "reduce", "discontinue"})  # clinical-reference: section 3, v2


# --------------------------------------------------------------------------------------------------------------------
# Tiers, actions, families
# --------------------------------------------------------------------------------------------------------------------


class Tier(str, Enum):
    """Severity tiers of section 3. `rank` orders them: urgent is highest."""

    URGENT = "urgent"
    SAME_DAY = "same_day"
    ROUTINE = "routine"
    SELF_CARE = "self_care"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]

    @classmethod
    def highest(cls, tiers: Iterable[Tier]) -> Tier | None:
        return max(tiers, key=lambda t: t.rank, default=None)


_TIER_RANK = {Tier.URGENT: 3, Tier.SAME_DAY: 2, Tier.ROUTINE: 1, Tier.SELF_CARE: 0}


def tier_rank(tier: Tier) -> int:
    """Higher is more severe (urgent = 3 ... self_care = 0)."""
    return Tier(tier).rank


class Action(str, Enum):
    """Label actions of section 4."""

    CONTINUE_SUPPORTIVE = "continue_supportive"
    REDUCE = "reduce"
    INTERRUPT = "interrupt"
    DISCONTINUE = "discontinue"
    EVALUATE = "evaluate"


_ACTION_RANK = {
    Action.DISCONTINUE: 4,
    Action.INTERRUPT: 3,
    Action.REDUCE: 2,
    Action.EVALUATE: 1,
    Action.CONTINUE_SUPPORTIVE: 0,
}

# Families of section 4d, plus "eye": R-EYE is in none of the listed families and an eye finding must not be
# absorbed into an open neuro (confusion/fainting) alert.
# "checklist": the start-of-therapy checklist and "teach_back": the schedule teach-back (issue 14), never merged with a
# patient's adherence alert nor with each other.
FAMILIES = (
    "weight",
    "gi",
    "fatigue",
    "fever",
    "bleeding",
    "neuro",
    "labs",
    "adherence",
    "eye",
    "checklist",
    "teach_back",
)


@dataclass(frozen=True)
class Rule:
    """One row of section 4: who it belongs to, what the label says, and when a hold may end."""

    id: str
    family: str
    action: Action
    tier: Tier  # the row's usual tier; some rows have a lower or higher variant
    condition: str
    resume_criterion: str = ""


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # 4a. Patient-reported
        Rule(
            "R-NV-12",
            "gi",
            Action.CONTINUE_SUPPORTIVE,
            Tier.ROUTINE,
            "nausea grade 1-2, or vomiting 1-5 episodes in 24 h",
        ),
        Rule(
            "R-NV-3",
            "gi",
            Action.INTERRUPT,
            Tier.URGENT,
            "nausea grade 3, or 6 or more vomiting episodes in 24 h",
            "nausea grade 2 or less and vomiting 5 or fewer in 24 h",
        ),
        Rule(
            "R-DIA-2",
            "gi",
            Action.CONTINUE_SUPPORTIVE,
            Tier.ROUTINE,
            "diarrhea 4-6 stools/day above usual, first episode",
        ),
        Rule(
            "R-DIA-2R",
            "gi",
            Action.REDUCE,
            Tier.SAME_DAY,
            "diarrhea 4-6 stools/day above usual again after an earlier episode resolved",
        ),
        Rule(
            "R-DIA-3",
            "gi",
            Action.INTERRUPT,
            Tier.URGENT,
            "diarrhea 7 or more stools/day above usual",
            "diarrhea grade 2 or less (6 or fewer stools/day above usual)",
        ),
        Rule("R-WT-5", "weight", Action.EVALUATE, Tier.ROUTINE, "weight 5% to less than 10% below baseline"),
        Rule(
            "R-WT-10",
            "weight",
            Action.INTERRUPT,
            Tier.SAME_DAY,
            "weight 10% to less than 20% below baseline",
            "weight back above 90% of baseline",
        ),
        Rule(
            "R-WT-20",
            "weight",
            Action.INTERRUPT,
            Tier.URGENT,
            "weight 20% or more below baseline",
            "weight back above 90% of baseline",
        ),
        # Family "weight": its resume criterion is the weight one (clinical-reference: R-ANX-3 "as R-WT-10").
        Rule(
            "R-ANX-3",
            "weight",
            Action.INTERRUPT,
            Tier.SAME_DAY,
            "appetite grade 3 (barely eating, losing weight)",
            "weight back above 90% of baseline (and appetite grade 2 or less)",
        ),
        Rule(
            "R-FAT-2",
            "fatigue",
            Action.INTERRUPT,
            Tier.SAME_DAY,
            "fatigue grade 2 reported on entries spanning more than 7 days",
            "fatigue grade 1 or less",
        ),
        Rule("R-FAT-3", "fatigue", Action.INTERRUPT, Tier.SAME_DAY, "fatigue grade 3", "fatigue grade 1 or less"),
        Rule(
            "R-FEVER",
            "fever",
            Action.EVALUATE,
            Tier.URGENT,
            "highest temperature in the last 24 h 38.0 °C (100.4 °F) or more, or chills/shaking",
        ),
        Rule(
            "R-BLEED",
            "bleeding",
            Action.EVALUATE,
            Tier.URGENT,
            "bleeding that won't stop, blood in urine, stool or vomit (urgent); "
            "bruising or nosebleed that stopped (same_day)",
        ),
        Rule(
            "R-NEURO",
            "neuro",
            Action.EVALUATE,
            Tier.URGENT,
            "confusion or fainting (urgent); dizziness alone (same_day)",
        ),
        Rule("R-EYE", "eye", Action.EVALUATE, Tier.ROUTINE, "new blurred or double vision"),
        # 4b. Laboratory values
        Rule("R-NA", "labs", Action.INTERRUPT, Tier.SAME_DAY, "sodium 130 mmol/L or less", "sodium above 130 mmol/L"),
        Rule(
            "R-PLT-75", "labs", Action.REDUCE, Tier.SAME_DAY, "platelets 25 to less than 75 x10^9/L, no bleeding (MM)"
        ),
        Rule(
            "R-PLT-75B",
            "labs",
            Action.INTERRUPT,
            Tier.URGENT,
            "platelets 25 to less than 75 x10^9/L with bleeding (MM)",
            "bleeding resolved",
        ),
        Rule(
            "R-PLT-25",
            "labs",
            Action.INTERRUPT,
            Tier.URGENT,
            "platelets less than 25 x10^9/L (MM)",
            "platelets 50 x10^9/L or more",
        ),
        Rule(
            "R-ANC-1",
            "labs",
            Action.REDUCE,
            Tier.SAME_DAY,
            "ANC 0.5 to 1.0 x10^9/L without fever in the 24 h before or after the sample (MM)",
        ),
        Rule(
            "R-ANC-05",
            "labs",
            Action.INTERRUPT,
            Tier.URGENT,
            "ANC less than 0.5 x10^9/L, or ANC 1.0 or less with a temperature "
            "of 38.0 °C or more in the 24 h before or after the sample (MM)",
            "ANC 1.0 x10^9/L or more",
        ),
        Rule("R-HGB-8", "labs", Action.REDUCE, Tier.SAME_DAY, "hemoglobin less than 8.0 g/dL (MM)"),
        Rule(
            "R-LAB-DLBCL",
            "labs",
            Action.EVALUATE,
            Tier.SAME_DAY,
            "platelets, ANC or hemoglobin below the MM thresholds (DLBCL)",
        ),
        # 4c. Adherence and monitoring (product rules; no label action, so staff evaluate)
        Rule(
            "R-WRONG-DAY",
            "adherence",
            Action.EVALUATE,
            Tier.SAME_DAY,
            "dose logged on a day with no scheduled dose, or a second dose on one day",
        ),
        Rule(
            "R-MISS-2", "adherence", Action.EVALUATE, Tier.ROUTINE, "two scheduled doses in a row not logged as taken"
        ),
        Rule(
            "R-NO-WT",
            "adherence",
            Action.EVALUATE,
            Tier.ROUTINE,
            "no weight for 7 days (first 8 weeks) or 14 days (after)",
        ),
        Rule(
            "R-NO-AE",
            "adherence",
            Action.EVALUATE,
            Tier.SELF_CARE,
            "dose taken with no antiemetic logged before it (routine when twice in a row)",
        ),
        Rule(
            "R-NO-DELIVERY",
            "adherence",
            Action.EVALUATE,
            Tier.ROUTINE,
            "no message delivered for 7 days, or opted out of SMS",
        ),
        Rule(
            "R-RESUME",
            "adherence",
            Action.EVALUATE,
            Tier.ROUTINE,
            "the resume criterion of the rule that caused the hold is met",
        ),
        Rule(
            "R-LADDER",
            "adherence",
            Action.DISCONTINUE,
            Tier.SAME_DAY,
            "a reduction is due at the last level of the ladder",
        ),
        Rule(
            "R-PLAN-UNSEEN",
            "adherence",
            Action.EVALUATE,
            Tier.SAME_DAY,
            "a change of dose, schedule or hold not acknowledged by the patient 12 hours before the next affected dose",
        ),
        # Program rule (issue 14 / PQI): evaluated by server/clinical/start_checklist.py, opened by the sweep.
        Rule(
            "R-CHECKLIST",
            "checklist",
            Action.EVALUATE,
            Tier.ROUTINE,
            "start-of-therapy checklist incomplete 24 hours before the first dose",
        ),
        # Program rule (issue 14 / PQI): opened by server/services/pqi/teach_back.py on a second wrong answer.
        Rule(
            "R-TEACH-BACK",
            "teach_back",
            Action.EVALUATE,
            Tier.ROUTINE,
            "patient unsure of schedule: a teach-back question answered wrong twice",
        ),
    )
}

MM_REGIMENS = frozenset({"Xd", "XVd"})


# --------------------------------------------------------------------------------------------------------------------
# Entries and state
# --------------------------------------------------------------------------------------------------------------------


def _check_at(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ClinicalValidationError("at", f"at must be a timezone-aware datetime (got {at!r})")


def _check_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ClinicalValidationError(name, f"{name} must be true or false (got {value!r})")


@dataclass(frozen=True)
class WeightEntry:
    at: datetime
    kg: float

    def __post_init__(self) -> None:
        _check_at(self.at)
        check_range("weight_kg", self.kg)


@dataclass(frozen=True)
class SymptomEntry:
    """One symptom report. Counts are for the last 24 hours; grades are for today (section 5). None = not asked."""

    at: datetime
    nausea: int | None = None  # 0-3
    vomiting_episodes: int | None = None
    loose_stools: int | None = None  # in the last 24 h (not "above usual")
    appetite: int | None = None  # 0-3
    fatigue: int | None = None  # 0-3
    temperature_c: float | None = None
    chills: bool | None = None
    bleeding: str | None = None  # none / minor / major
    neuro: str | None = None  # none / dizzy / major
    vision_change: bool | None = None

    def __post_init__(self) -> None:
        _check_at(self.at)
        for name in ("nausea", "appetite", "fatigue"):
            if getattr(self, name) is not None:
                check_grade(name, getattr(self, name))
        for name in ("vomiting_episodes", "loose_stools", "temperature_c"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name))
        _check_bool("chills", self.chills)
        _check_bool("vision_change", self.vision_change)
        if self.bleeding is not None:
            check_choice("bleeding", self.bleeding, ("none", "minor", "major"))
        if self.neuro is not None:
            check_choice("neuro", self.neuro, ("none", "dizzy", "major"))


@dataclass(frozen=True)
class LabEntry:
    at: datetime
    sodium_mmol_l: float | None = None
    platelets_10e9_l: float | None = None
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None

    def __post_init__(self) -> None:
        _check_at(self.at)
        for name in ("sodium_mmol_l", "platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name))


DOSE_STATUSES = ("taken", "missed", "vomited")


@dataclass(frozen=True)
class DoseEntry:
    """A selinexor dose log. `at` is when it was taken (or reported missed); `scheduled_for` the dose day it answers.

    "vomited" means the dose was taken and then vomited: it counts as taken, and is never repeated (P-VOMITED).
    `antiemetic_taken` None means nothing was logged, which R-NO-AE reads as "no antiemetic logged".
    """

    at: datetime
    status: str
    antiemetic_taken: bool | None = None
    scheduled_for: date | None = None

    def __post_init__(self) -> None:
        _check_at(self.at)
        check_choice("status", self.status, DOSE_STATUSES)
        _check_bool("antiemetic_taken", self.antiemetic_taken)

    @property
    def was_swallowed(self) -> bool:
        return self.status in ("taken", "vomited")


Entry = WeightEntry | SymptomEntry | LabEntry | DoseEntry


@dataclass(frozen=True)
class PatientState:
    """Everything the rules read about one patient.

    hold_rule: the rule id that put the patient on hold (for R-RESUME), or None.
    held_at: when the hold started; evidence for R-RESUME must be recorded after it (None: any recent evidence).
    plan_since: when the current plan version took effect; dose logs before it are not checked against the current
      pattern (a Day 3 dose last week was right before a change to once weekly).
    unacknowledged_plan_change_at: when the latest plan change notice the patient has not acknowledged was sent
      (None: none pending); next_affected_dose_at: the next dose that change affects (R-PLAN-UNSEEN).
    """

    setup: ScheduleSetup
    baseline_weight_kg: float
    usual_stools_per_day: int = 1
    entries: tuple[Entry, ...] = ()
    hold_rule: str | None = None
    last_delivered_at: datetime | None = None
    sms_opted_out: bool = False
    enrolled_at: datetime | None = None
    held_at: datetime | None = None
    plan_since: datetime | None = None
    unacknowledged_plan_change_at: datetime | None = None
    next_affected_dose_at: datetime | None = None

    def __post_init__(self) -> None:
        check_range("weight_kg", self.baseline_weight_kg)
        usual = self.usual_stools_per_day
        if isinstance(usual, bool) or not isinstance(usual, int) or not 0 <= usual <= 50:
            raise ClinicalValidationError(
                "usual_stools_per_day", f"usual_stools_per_day must be a whole number between 0 and 50 (got {usual!r})"
            )
        object.__setattr__(self, "entries", tuple(self.entries))
        for name in ("unacknowledged_plan_change_at", "next_affected_dose_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise ClinicalValidationError(name, f"{name} must be a timezone-aware datetime (got {value!r})")
        if self.hold_rule is not None and self.hold_rule not in RULES:
            raise ClinicalValidationError(
                "hold_rule", f"hold_rule must be a rule id such as R-WT-10 (got {self.hold_rule!r})"
            )


@dataclass(frozen=True)
class Finding:
    rule: str
    family: str
    tier: Tier
    action: Action
    facts: str  # for staff, in English
    advice: tuple[Advice, ...]  # for the patient: the rule's own advice, without the tier words (advice.tier_advice)
    resume_level: int | None
    resume_dose: str | None  # e.g. "60 mg once weekly", or "discontinue" at the end of the ladder


# --------------------------------------------------------------------------------------------------------------------
# Patient-facing advice per rule (section 4), as catalog message ids (server/clinical/advice.py). The tier words of
# section 3 are added per entry by advice.tier_advice, which knows whether the clinic is open.
# --------------------------------------------------------------------------------------------------------------------

_FLUIDS = (advice(adv.FLUIDS),)  # clinical-reference: P-FLUIDS

SELF_CARE_ADVICE: dict[str, tuple[Advice, ...]] = {
    # clinical-reference: R-NV-12, P-ANTIEMETIC, P-FLUIDS
    "R-NV-12": (advice(adv.ANTIEMETICS_AS_PRESCRIBED), advice(adv.FLUIDS)),
    "R-NV-3": _FLUIDS,
    # clinical-reference: R-DIA-2 (loperamide, fluids)
    "R-DIA-2": (advice(adv.LOPERAMIDE),),
    "R-DIA-2R": (advice(adv.LOPERAMIDE),),
    "R-DIA-3": (advice(adv.KEEP_UP_FLUIDS),),
    # clinical-reference: R-WT-5 (nutrition: supplements, dietitian)
    "R-WT-5": (advice(adv.FLUIDS), advice(adv.NUTRITION)),
    "R-WT-10": _FLUIDS,
    "R-WT-20": _FLUIDS,
    "R-ANX-3": _FLUIDS,
    "R-FEVER": (advice(adv.FEVER_SIGN),),  # clinical-reference: R-FEVER
    "R-EYE": (advice(adv.EYE_EXAM),),  # clinical-reference: R-EYE (eye exam)
}


def _next_dose_or_hold(ctx: _Context) -> Advice:
    """R-WRONG-DAY's sentence: the next dose day, or the hold / discontinue sentence when there is no next dose."""
    if ctx.next_dose is not None:
        return advice(adv.NOT_EVERY_DAY, next_dose=ctx.next_dose.local)  # clinical-reference: R-WRONG-DAY
    return adv.next_dose_advice(None, ctx.setup.plan.status is PlanStatus.HELD)


# --------------------------------------------------------------------------------------------------------------------
# Helpers over entries
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    state: PatientState
    now: datetime
    weights: tuple[WeightEntry, ...]
    symptoms: tuple[SymptomEntry, ...]
    labs: tuple[LabEntry, ...]
    doses: tuple[DoseEntry, ...]
    next_dose: ScheduledEvent | None = field(default=None)

    @property
    def setup(self) -> ScheduleSetup:
        return self.state.setup

    @property
    def is_mm(self) -> bool:
        return self.setup.plan.regimen in MM_REGIMENS

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.setup.zone)

    def when(self, instant: datetime) -> str:
        """A short local time for facts, e.g. 'Mon 2 Mar 08:00'."""
        loc = self.local(instant)
        return f"{loc.strftime('%a')} {loc.day} {loc.strftime('%b')} {loc.strftime('%H:%M')}"

    def recent_symptom(self, name: str, since: datetime | None = None) -> tuple[Any, datetime] | None:
        """The latest answer to one question in the last 24 hours (and after `since`, when given)."""
        start = self.now - RECENT_SYMPTOMS
        if since is not None:
            start = max(start, since)
        for entry in reversed(self.symptoms):  # newest first: once one is before `start`, so are all the rest
            if entry.at < start:
                return None
            value = getattr(entry, name)
            if value is not None:
                return value, entry.at
        return None

    def history(self, name: str) -> list[tuple[Any, datetime]]:
        """Every answer to one question, oldest first."""
        return [(getattr(e, name), e.at) for e in self.symptoms if getattr(e, name) is not None]

    def latest_lab(self, name: str, since: datetime | None = None) -> tuple[float, datetime] | None:
        for entry in reversed(self.labs):
            value = getattr(entry, name)
            if value is not None and (since is None or entry.at >= since):
                return value, entry.at
        return None

    def latest_weight(self, since: datetime | None = None) -> WeightEntry | None:
        for entry in reversed(self.weights):
            if since is None or entry.at >= since:
                return entry
        return None

    def highest_temperature(self, start: datetime, end: datetime) -> tuple[float, datetime] | None:
        """The highest temperature reported with start <= at <= end (the earliest of equal ones), else None."""
        highest: tuple[float, datetime] | None = None
        for entry in self.symptoms:
            value = entry.temperature_c
            if value is not None and start <= entry.at <= end and (highest is None or value > highest[0]):
                highest = (value, entry.at)
        return highest

    def fever_c(self) -> tuple[float, datetime] | None:
        """The highest temperature of the last 24 hours when it is 38.0 °C or more, else None.

        clinical-reference: R-FEVER ("highest temperature reported in the last 24 h"): a fever brought down by
        paracetamol is still a fever.
        """
        temp = self.highest_temperature(self.now - RECENT_SYMPTOMS, self.now + FUTURE_TOLERANCE)
        if temp is not None and temp[0] >= FEVER_C:
            return temp
        return None


def _context(state: PatientState, now: datetime) -> _Context:
    horizon = now + FUTURE_TOLERANCE
    # One pass over the entries, sorted by time (stable: entries at the same time keep their given order).
    by_kind: dict[type, list[Any]] = {WeightEntry: [], SymptomEntry: [], LabEntry: [], DoseEntry: []}
    for entry in sorted(state.entries, key=_entry_time):
        if entry.at <= horizon:
            by_kind[type(entry)].append(entry)
    doses = tuple(by_kind[DoseEntry])
    return _Context(
        state=state,
        now=now,
        weights=tuple(by_kind[WeightEntry]),
        symptoms=tuple(by_kind[SymptomEntry]),
        labs=tuple(by_kind[LabEntry]),
        doses=doses,
        next_dose=next_unlogged_dose(state.setup, doses, now),
    )


def _entry_time(entry: Entry) -> datetime:
    return entry.at


def next_unlogged_dose(setup: ScheduleSetup, doses: Iterable[DoseEntry], now: datetime) -> ScheduledEvent | None:
    """The next scheduled dose at or after `now` whose dose day has no dose log yet (taken, missed or vomited).

    clinical-reference: section 3 v2 ("next scheduled dose" counts from the doses already logged: a dose already
    taken today is not next), the same reading as `next_dose_counted_from` for the patient's screens.
    """
    zone = setup.zone
    logged = {e.scheduled_for or e.at.astimezone(zone).date() for e in doses}
    dose = next_dose(setup, now)
    for _ in range(16):
        if dose is None or dose.local.date() not in logged:
            return dose
        dose = next_dose(setup, next_dose_counted_from(setup, dose.local.date(), now))
    return dose


def _pct_below(baseline: float, value: float) -> float:
    # Rounded so that 63.0 kg against 70.0 kg is exactly 10%, not 9.999999%.
    return round((baseline - value) / baseline * 100, 6)


def _pct_text(pct: float) -> str:
    """One decimal, or two where one would round onto a threshold the value has not reached."""
    text = f"{pct:.1f}"
    if float(text) in (5.0, 10.0, 20.0) and pct != float(text):
        text = f"{pct:.2f}"
    return f"{text}%"


def _num(value: float) -> str:
    return f"{value:g}"


def _finding(
    ctx: _Context, rule_id: str, facts: str, *, tier: Tier | None = None, self_care: tuple[Advice, ...] | None = None
) -> Finding:
    """Build a finding for a rule: tier rules of section 3, the resume dose for reduce/interrupt, the advice."""
    rule = RULES[rule_id]
    tier = tier or rule.tier
    # clinical-reference: section 3 v2 (the 12-hour rule: interrupt, reduce, discontinue and R-LADDER become urgent
    # when the next scheduled dose, counted from the doses already logged, is less than 12 hours away)
    if (
        rule.action.value in DOSE_CHANGING_ACTIONS
        and ctx.next_dose is not None
        and ctx.next_dose.utc - ctx.now < DOSE_CHANGE_URGENT_WITHIN
    ):
        tier = Tier.URGENT
        facts += f"; next dose due {ctx.when(ctx.next_dose.utc)}, less than 12 hours away"
    resume_level, resume_dose = None, None
    if rule.action in (Action.REDUCE, Action.INTERRUPT):
        resume_level, resume_dose = describe_resume(ctx.setup.plan)
    told = SELF_CARE_ADVICE.get(rule_id, ()) if self_care is None else self_care
    return Finding(
        rule=rule_id,
        family=rule.family,
        tier=tier,
        action=rule.action,
        facts=facts,
        advice=told,
        resume_level=resume_level,
        resume_dose=resume_dose,
    )


# --------------------------------------------------------------------------------------------------------------------
# 4a. Patient-reported rules
# --------------------------------------------------------------------------------------------------------------------

# The urgent thresholds come from the one table the phone also gets (server/clinical/red_flags.py, flow 7).
FEVER_C: float = threshold("R-FEVER", "temperature_c")  # clinical-reference: R-FEVER (38.0 °C / 100.4 °F)
CHILLS_URGENT: bool = threshold("R-FEVER", "chills")  # clinical-reference: R-FEVER (chills/shaking)
NAUSEA_URGENT_GRADE: int = threshold("R-NV-3", "nausea")  # clinical-reference: R-NV-3 (grade 3)
VOMITING_INTERRUPT: int = threshold("R-NV-3", "vomiting_episodes")  # clinical-reference: R-NV-3 (6 or more in 24 h)
DIARRHEA_GRADE_2 = 4  # clinical-reference: R-DIA-2 (4-6 above usual)
DIARRHEA_GRADE_3: int = threshold("R-DIA-3", "stools_above_usual")  # clinical-reference: R-DIA-3 (7 or more)
WEIGHT_LOSS_EVALUATE_PCT = 5.0  # clinical-reference: R-WT-5
WEIGHT_LOSS_INTERRUPT_PCT = 10.0  # clinical-reference: R-WT-10
WEIGHT_LOSS_URGENT_PCT: float = threshold("R-WT-20", "weight_loss_pct")  # clinical-reference: R-WT-20
BLEEDING_URGENT: str = threshold("R-BLEED", "bleeding")  # clinical-reference: R-BLEED (major)
NEURO_URGENT: str = threshold("R-NEURO", "neuro")  # clinical-reference: R-NEURO (confusion or fainting)
FATIGUE_PERSISTENT = timedelta(days=7)  # clinical-reference: R-FAT-2 ("spanning more than 7 days")


def _nausea_vomiting(ctx: _Context) -> list[Finding]:
    nausea = ctx.recent_symptom("nausea")
    vomiting = ctx.recent_symptom("vomiting_episodes")
    n = nausea[0] if nausea else None
    v = vomiting[0] if vomiting else None
    facts = []
    if nausea:
        facts.append(f"nausea grade {n} ({ctx.when(nausea[1])})")
    if vomiting:
        facts.append(f"{v} vomiting episodes in 24 h ({ctx.when(vomiting[1])})")
    text = ", ".join(facts)
    # clinical-reference: R-NV-3
    if (n is not None and n >= NAUSEA_URGENT_GRADE) or (v is not None and v >= VOMITING_INTERRUPT):
        return [_finding(ctx, "R-NV-3", text)]
    # clinical-reference: R-NV-12 (grade 1 nausea alone: self_care)
    if n in (1, 2) or (v is not None and 1 <= v <= 5):
        tier = Tier.SELF_CARE if n == 1 and not v else Tier.ROUTINE
        return [_finding(ctx, "R-NV-12", text, tier=tier)]
    return []


def _stools_above(ctx: _Context, loose_stools: int) -> int:
    return max(0, loose_stools - ctx.state.usual_stools_per_day)


def _diarrhea(ctx: _Context) -> list[Finding]:
    current = ctx.recent_symptom("loose_stools")
    if current is None:
        return []
    above = _stools_above(ctx, current[0])
    usual = ctx.state.usual_stools_per_day
    facts = f"{current[0]} loose stools in 24 h, {above} above the usual {usual} ({ctx.when(current[1])})"
    # clinical-reference: R-DIA-3
    if above >= DIARRHEA_GRADE_3:
        return [_finding(ctx, "R-DIA-3", facts)]
    if above < DIARRHEA_GRADE_2:
        return []
    # Grade 2 now. Walk back over the current episode (consecutive reports at grade 2 or worse); any grade 2-or-worse
    # report before it belongs to an earlier episode that resolved (a report below 4 above usual came in between).
    # Conservative reading: an earlier grade-3 episode counts as an earlier episode too.
    history = ctx.history("loose_stools")
    i = len(history) - 1
    while i >= 0 and _stools_above(ctx, history[i][0]) >= DIARRHEA_GRADE_2:
        i -= 1
    earlier = [(s, at) for s, at in history[: i + 1] if _stools_above(ctx, s) >= DIARRHEA_GRADE_2]
    if earlier:
        s, at = earlier[-1]
        resolved_at = history[i][1]
        facts += (
            f"; an earlier episode ({_stools_above(ctx, s)} above usual, {ctx.when(at)}) had resolved "
            f"({ctx.when(resolved_at)})"
        )
        return [_finding(ctx, "R-DIA-2R", facts)]  # clinical-reference: R-DIA-2R
    return [_finding(ctx, "R-DIA-2", facts + "; first episode")]  # clinical-reference: R-DIA-2


def _weight(ctx: _Context) -> list[Finding]:
    latest = ctx.latest_weight()
    if latest is None:
        return []
    baseline = ctx.state.baseline_weight_kg
    pct = _pct_below(baseline, latest.kg)
    facts = (
        f"{latest.kg:.1f} kg is {_pct_text(pct)} below the baseline of {baseline:.1f} kg "
        f"(weighed {ctx.when(latest.at)})"
    )
    # clinical-reference: R-WT-20, R-WT-10, R-WT-5
    if pct >= WEIGHT_LOSS_URGENT_PCT:
        return [_finding(ctx, "R-WT-20", facts)]
    if pct >= WEIGHT_LOSS_INTERRUPT_PCT:
        return [_finding(ctx, "R-WT-10", facts)]
    if pct >= WEIGHT_LOSS_EVALUATE_PCT:
        return [_finding(ctx, "R-WT-5", facts)]
    return []


def _appetite(ctx: _Context) -> list[Finding]:
    appetite = ctx.recent_symptom("appetite")
    if appetite is None or appetite[0] != 3:
        return []
    # clinical-reference: R-ANX-3
    return [_finding(ctx, "R-ANX-3", f"appetite grade 3: barely eating, losing weight ({ctx.when(appetite[1])})")]


def _fatigue(ctx: _Context) -> list[Finding]:
    current = ctx.recent_symptom("fatigue")
    if current is None:
        return []
    grade, at = current
    if grade == 3:
        # clinical-reference: R-FAT-3
        return [_finding(ctx, "R-FAT-3", f"fatigue grade 3: hard to wash or dress ({ctx.when(at)})")]
    if grade == 2:
        # clinical-reference: R-FAT-2. The run of consecutive reports at grade 2 or worse, back from the latest;
        # "spanning more than 7 days" = first to latest of that run strictly longer than 7 days.
        history = ctx.history("fatigue")
        i = len(history) - 1
        while i > 0 and history[i - 1][0] >= 2:
            i -= 1
        first_at = history[i][1]
        span = at - first_at
        if span > FATIGUE_PERSISTENT:
            days = span.total_seconds() / 86400
            return [
                _finding(
                    ctx,
                    "R-FAT-2",
                    f"fatigue grade 2 or worse on every report from {ctx.when(first_at)} "
                    f"to {ctx.when(at)} ({days:.1f} days)",
                )
            ]
    return []


def _fever(ctx: _Context) -> list[Finding]:
    temp = ctx.fever_c()
    chills = ctx.recent_symptom("chills")
    facts = []
    if temp is not None:
        facts.append(f"temperature {temp[0]:.1f} °C ({temp[0] * 9 / 5 + 32:.1f} °F) ({ctx.when(temp[1])})")
    if chills is not None and chills[0] is CHILLS_URGENT:
        facts.append(f"chills or shaking ({ctx.when(chills[1])})")
    if not facts:
        return []
    # clinical-reference: R-FEVER (possible neutropenic fever or infection)
    return [_finding(ctx, "R-FEVER", ", ".join(facts) + "; possible neutropenic fever or infection")]


def _bleeding(ctx: _Context) -> list[Finding]:
    bleeding = ctx.recent_symptom("bleeding")
    if bleeding is None or bleeding[0] == "none":
        return []
    # clinical-reference: R-BLEED (major: urgent; bruising or nosebleed that stopped: same_day)
    if bleeding[0] == BLEEDING_URGENT:
        return [
            _finding(
                ctx,
                "R-BLEED",
                f"bleeding that won't stop, or blood in urine, stool or vomit ({ctx.when(bleeding[1])}); "
                "check platelets",
            )
        ]
    return [
        _finding(
            ctx,
            "R-BLEED",
            f"new bruising or nosebleed that stopped ({ctx.when(bleeding[1])}); check platelets",
            tier=Tier.SAME_DAY,
        )
    ]


def _neuro(ctx: _Context) -> list[Finding]:
    neuro = ctx.recent_symptom("neuro")
    if neuro is None or neuro[0] == "none":
        return []
    # clinical-reference: R-NEURO (confusion or fainting: urgent; dizziness alone: same_day; check sodium)
    if neuro[0] == NEURO_URGENT:
        return [_finding(ctx, "R-NEURO", f"confusion or fainting ({ctx.when(neuro[1])}); check sodium")]
    return [_finding(ctx, "R-NEURO", f"dizziness ({ctx.when(neuro[1])}); check sodium", tier=Tier.SAME_DAY)]


def _eye(ctx: _Context) -> list[Finding]:
    vision = ctx.recent_symptom("vision_change")
    if vision is None or vision[0] is not True:
        return []
    # clinical-reference: R-EYE (eye exam; cataract)
    return [_finding(ctx, "R-EYE", f"new blurred or double vision ({ctx.when(vision[1])}); eye exam (cataract)")]


# --------------------------------------------------------------------------------------------------------------------
# 4b. Laboratory rules
# --------------------------------------------------------------------------------------------------------------------

SODIUM_INTERRUPT = 130.0  # clinical-reference: R-NA (130 mmol/L or less)
PLATELETS_REDUCE = 75.0  # clinical-reference: R-PLT-75 (25 to <75)
PLATELETS_INTERRUPT = 25.0  # clinical-reference: R-PLT-25 (<25)
PLATELETS_RESUME = 50.0  # clinical-reference: R-PLT-25 resume (>= 50)
ANC_REDUCE = 1.0  # clinical-reference: R-ANC-1 (0.5 to 1.0)
ANC_INTERRUPT = 0.5  # clinical-reference: R-ANC-05 (<0.5)
FEBRILE_NEUTROPENIA_WINDOW = timedelta(hours=24)  # clinical-reference: R-ANC-05 ("24 h before or after the sample")
HEMOGLOBIN_REDUCE = 8.0  # clinical-reference: R-HGB-8 (<8.0)


def _labs(ctx: _Context) -> list[Finding]:
    findings: list[Finding] = []
    sodium = ctx.latest_lab("sodium_mmol_l")
    if sodium is not None and sodium[0] <= SODIUM_INTERRUPT:
        # clinical-reference: R-NA (all regimens; fluids, salt tablets)
        findings.append(
            _finding(
                ctx,
                "R-NA",
                f"sodium {_num(sodium[0])} mmol/L ({ctx.when(sodium[1])}), "
                f"at or below {_num(SODIUM_INTERRUPT)}; fluids, salt tablets",
            )
        )

    platelets = ctx.latest_lab("platelets_10e9_l")
    anc = ctx.latest_lab("anc_10e9_l")
    hemoglobin = ctx.latest_lab("hemoglobin_g_dl")

    if not ctx.is_mm:
        # clinical-reference: R-LAB-DLBCL (the DLBCL table differs and is not encoded)
        low = []
        if platelets is not None and platelets[0] < PLATELETS_REDUCE:
            low.append(f"platelets {_num(platelets[0])} x10^9/L ({ctx.when(platelets[1])})")
        if anc is not None and anc[0] <= ANC_REDUCE:
            low.append(f"ANC {_num(anc[0])} x10^9/L ({ctx.when(anc[1])})")
        if hemoglobin is not None and hemoglobin[0] < HEMOGLOBIN_REDUCE:
            low.append(f"hemoglobin {_num(hemoglobin[0])} g/dL ({ctx.when(hemoglobin[1])})")
        if low:
            findings.append(
                _finding(
                    ctx,
                    "R-LAB-DLBCL",
                    ", ".join(low) + " in a DLBCL patient: below the MM thresholds; "
                    "the DLBCL table is not encoded, staff review",
                )
            )
        return findings

    if platelets is not None and platelets[0] < PLATELETS_REDUCE:
        value, at = platelets
        text = f"platelets {_num(value)} x10^9/L ({ctx.when(at)})"
        bleeding = ctx.recent_symptom("bleeding")
        if value < PLATELETS_INTERRUPT:
            findings.append(
                _finding(ctx, "R-PLT-25", text + f", below {_num(PLATELETS_INTERRUPT)}")
            )  # clinical-reference: R-PLT-25
        elif bleeding is not None and bleeding[0] in ("minor", "major"):
            # clinical-reference: R-PLT-75B. Any reported bleeding counts (conservative: minor bleeding too).
            findings.append(
                _finding(
                    ctx,
                    "R-PLT-75B",
                    text + f", 25 to below 75, with {bleeding[0]} bleeding reported ({ctx.when(bleeding[1])})",
                )
            )
        else:
            findings.append(
                _finding(ctx, "R-PLT-75", text + ", 25 to below 75, no bleeding reported")
            )  # clinical-reference: R-PLT-75

    if anc is not None:
        value, at = anc
        text = f"ANC {_num(value)} x10^9/L ({ctx.when(at)})"
        # clinical-reference: R-ANC-05 ("a temperature >=38.0 °C reported in the 24 h before or after the sample"):
        # the highest temperature in that window, whichever was entered first (the lab or the temperature).
        window = ctx.highest_temperature(at - FEBRILE_NEUTROPENIA_WINDOW, at + FEBRILE_NEUTROPENIA_WINDOW)
        fever = window if window is not None and window[0] >= FEVER_C else None
        if value < ANC_INTERRUPT:
            findings.append(_finding(ctx, "R-ANC-05", text + f", below {_num(ANC_INTERRUPT)}"))
        elif value <= ANC_REDUCE and fever is not None:
            # clinical-reference: R-ANC-05 ("any ANC <=1.0 with a temperature >=38.0 °C": febrile neutropenia)
            findings.append(
                _finding(
                    ctx,
                    "R-ANC-05",
                    text + f", 1.0 or below, with fever {fever[0]:.1f} °C ({ctx.when(fever[1])}): febrile neutropenia",
                )
            )
        elif value <= ANC_REDUCE:
            # clinical-reference: R-ANC-1 (label, from secondary copies): "0.5 to 1.0" read as inclusive of 1.0.
            temps = (
                f"highest temperature in that window {window[0]:.1f} °C ({ctx.when(window[1])})"
                if window is not None
                else "no temperature reported in that window"
            )
            findings.append(
                _finding(
                    ctx,
                    "R-ANC-1",
                    text + ", 0.5 to 1.0, no temperature of 38.0 °C or more in the "
                    f"24 h before or after the sample ({temps})",
                )
            )

    if hemoglobin is not None and hemoglobin[0] < HEMOGLOBIN_REDUCE:
        # clinical-reference: R-HGB-8 (label, from secondary copies; transfuse per guidelines)
        findings.append(
            _finding(
                ctx,
                "R-HGB-8",
                f"hemoglobin {_num(hemoglobin[0])} g/dL ({ctx.when(hemoglobin[1])}), "
                f"below {_num(HEMOGLOBIN_REDUCE)}; transfuse per guidelines",
            )
        )
    return findings


# --------------------------------------------------------------------------------------------------------------------
# 4c. Adherence and monitoring rules (product rules, not label)
# --------------------------------------------------------------------------------------------------------------------

NO_WEIGHT_EARLY = timedelta(days=7)  # clinical-reference: R-NO-WT (first 8 weeks)
NO_WEIGHT_LATER = timedelta(days=14)  # clinical-reference: R-NO-WT (after)
NO_DELIVERY = timedelta(days=7)  # clinical-reference: R-NO-DELIVERY


def _treatment_start(ctx: _Context) -> datetime:
    return resolve_local(ctx.setup.start_date, datetime.min.time(), ctx.setup.zone)


def _dose_date(ctx: _Context, entry: DoseEntry) -> date:
    return ctx.local(entry.at).date()


def _weekday_names(ctx: _Context) -> str:
    setup = ctx.setup
    days = [setup.day1_weekday] + ([setup.day3_weekday] if setup.plan.dose_level.twice_weekly else [])
    return " and ".join(WEEKDAYS[d].capitalize() for d in days)


def _swallowed_doses(logs: list[DoseEntry]) -> int:
    """How many doses one local day's swallowed logs (in time order) stand for.

    A "vomited" log right after a "taken" log is that same dose reported again; any dose swallowed after a vomited
    one is a second dose (clinical-reference: P-VOMITED, R-WRONG-DAY "whatever door it came in by").
    """
    doses = 0
    open_taken = False
    for entry in logs:
        if entry.status == "vomited" and open_taken:
            open_taken = False
            continue
        doses += 1
        open_taken = entry.status == "taken"
    return doses


def _wrong_day(ctx: _Context) -> list[Finding]:
    setup = ctx.setup
    recent = [e for e in ctx.doses if e.was_swallowed and e.at >= ctx.now - RECENT_DOSE_LOGS]
    problems: list[str] = []
    by_day: dict[date, list[DoseEntry]] = {}
    for entry in recent:
        by_day.setdefault(_dose_date(ctx, entry), []).append(entry)
    for day, logs in sorted(by_day.items()):
        label = f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"
        doses = _swallowed_doses(logs)
        if doses >= 2:
            problems.append(f"{doses} doses logged on {label}")
        current_plan_logs = [e for e in logs if ctx.state.plan_since is None or e.at >= ctx.state.plan_since]
        if current_plan_logs:
            if setup.plan.status is not PlanStatus.ACTIVE:
                problems.append(f"a dose logged on {label} while selinexor is {setup.plan.status.value}")
            elif not is_dose_day(setup, day):
                problems.append(f"a dose logged on {label}, not a dose day (dose days: {_weekday_names(ctx)})")
    if not problems:
        return []
    # clinical-reference: R-WRONG-DAY
    return [_finding(ctx, "R-WRONG-DAY", "; ".join(problems), self_care=(_next_dose_or_hold(ctx),))]


def _dose_logged_taken(ctx: _Context, day: date) -> bool:
    for entry in ctx.doses:
        if not entry.was_swallowed:
            continue
        if (entry.scheduled_for or _dose_date(ctx, entry)) == day:
            return True
    return False


def _missed_two(ctx: _Context) -> list[Finding]:
    today = ctx.local(ctx.now).date()
    doses = previous_doses(ctx.setup, today, 2)  # only days that have ended; empty while held
    if len(doses) < 2:
        return []
    if ctx.state.plan_since is not None and any(d.utc < ctx.state.plan_since for d in doses):
        return []
    if any(_dose_logged_taken(ctx, d.local.date()) for d in doses):
        return []
    # clinical-reference: R-MISS-2
    days = " and ".join(f"{d.local.strftime('%A')} {d.local.day} {d.local.strftime('%B')}" for d in reversed(doses))
    told = adv.dose_advice(
        "missed", ctx.next_dose.local if ctx.next_dose else None, ctx.setup.plan.status is PlanStatus.HELD
    )
    return [_finding(ctx, "R-MISS-2", f"scheduled doses on {days} not logged as taken", self_care=told)]


def _no_weight(ctx: _Context) -> list[Finding]:
    today = ctx.local(ctx.now).date()
    if today < ctx.setup.start_date:
        return []
    first_weeks = (today - ctx.setup.start_date).days < FIRST_WEEKS_DAYS
    limit = NO_WEIGHT_EARLY if first_weeks else NO_WEIGHT_LATER
    latest = ctx.latest_weight()
    since = latest.at if latest else (ctx.state.enrolled_at or _treatment_start(ctx))
    if ctx.now - since < limit:
        return []
    # clinical-reference: R-NO-WT
    what = f"last weight {ctx.when(latest.at)}" if latest else f"no weight since enrollment ({ctx.when(since)})"
    return [
        _finding(
            ctx,
            "R-NO-WT",
            f"{what}: {(ctx.now - since).days} days without a weight "
            f"(limit {limit.days} days {'in the first 8 weeks' if first_weeks else 'after week 8'})",
            self_care=(advice(adv.PLEASE_WEIGH),),
        )
    ]


def _no_antiemetic(ctx: _Context) -> list[Finding]:
    taken = [e for e in ctx.doses if e.was_swallowed]
    if not taken or taken[-1].at < ctx.now - RECENT_DOSE_LOGS or taken[-1].antiemetic_taken is True:
        return []
    twice = len(taken) >= 2 and taken[-2].antiemetic_taken is not True
    # clinical-reference: R-NO-AE (self_care; routine when twice in a row), P-ANTIEMETIC
    facts = f"dose logged {ctx.when(taken[-1].at)} with no antiemetic logged before it"
    if twice:
        facts += f"; also the dose before ({ctx.when(taken[-2].at)})"
    told = (advice(adv.ANTIEMETIC_BEFORE, minutes=ctx.setup.antiemetic_offset_min),)
    return [_finding(ctx, "R-NO-AE", facts, tier=Tier.ROUTINE if twice else Tier.SELF_CARE, self_care=told)]


def _no_delivery(ctx: _Context) -> list[Finding]:
    state = ctx.state
    if state.sms_opted_out:
        return [_finding(ctx, "R-NO-DELIVERY", "the patient opted out of SMS", self_care=())]
    since = state.last_delivered_at or state.enrolled_at or _treatment_start(ctx)
    if ctx.now - since < NO_DELIVERY:
        return []
    what = (
        f"last message delivered {ctx.when(since)}"
        if state.last_delivered_at
        else f"no message delivered since {ctx.when(since)}"
    )
    # clinical-reference: R-NO-DELIVERY
    return [_finding(ctx, "R-NO-DELIVERY", f"{what} ({(ctx.now - since).days} days)", self_care=())]


def _resume(ctx: _Context) -> list[Finding]:
    """R-RESUME: a held patient now meets the resume criterion of the rule that caused the hold."""
    state = ctx.state
    rule_id = state.hold_rule
    if rule_id is None or state.setup.plan.status is not PlanStatus.HELD:
        return []
    since = state.held_at
    met: str | None = None
    baseline = state.baseline_weight_kg

    def recent(name: str) -> tuple[Any, datetime] | None:
        return ctx.recent_symptom(name, since)

    if rule_id == "R-NV-3":
        nausea, vomiting = recent("nausea"), recent("vomiting_episodes")
        # Conservative: both answers are needed; an unanswered question is not evidence of recovery.
        if nausea and vomiting and nausea[0] <= 2 and vomiting[0] <= 5:
            met = f"nausea grade {nausea[0]} and {vomiting[0]} vomiting episodes in 24 h ({ctx.when(nausea[1])})"
    elif rule_id == "R-DIA-3":
        stools = recent("loose_stools")
        if stools and _stools_above(ctx, stools[0]) < DIARRHEA_GRADE_3:
            met = f"{_stools_above(ctx, stools[0])} stools above usual in 24 h ({ctx.when(stools[1])})"
    elif rule_id in ("R-WT-10", "R-WT-20", "R-ANX-3"):
        weight = ctx.latest_weight(since)
        if weight and weight.kg > baseline * 0.9:
            met = f"{weight.kg:.1f} kg is above 90% of the baseline of {baseline:.1f} kg ({ctx.when(weight.at)})"
            if rule_id == "R-ANX-3":
                # Conservative: the appetite that caused the hold must have improved too.
                appetite = recent("appetite")
                met = met + f", appetite grade {appetite[0]}" if appetite and appetite[0] <= 2 else None
    elif rule_id in ("R-FAT-2", "R-FAT-3"):
        fatigue = recent("fatigue")
        if fatigue and fatigue[0] <= 1:
            met = f"fatigue grade {fatigue[0]} ({ctx.when(fatigue[1])})"
    elif rule_id == "R-NA":
        sodium = ctx.latest_lab("sodium_mmol_l", since)
        if sodium and sodium[0] > SODIUM_INTERRUPT:
            met = f"sodium {_num(sodium[0])} mmol/L ({ctx.when(sodium[1])})"
    elif rule_id == "R-PLT-75B":
        bleeding = recent("bleeding")
        if bleeding and bleeding[0] == "none":
            met = f"no bleeding reported ({ctx.when(bleeding[1])})"
    elif rule_id == "R-PLT-25":
        platelets = ctx.latest_lab("platelets_10e9_l", since)
        if platelets and platelets[0] >= PLATELETS_RESUME:
            met = f"platelets {_num(platelets[0])} x10^9/L ({ctx.when(platelets[1])})"
    elif rule_id == "R-ANC-05":
        anc = ctx.latest_lab("anc_10e9_l", since)
        if anc and anc[0] >= ANC_REDUCE:
            met = f"ANC {_num(anc[0])} x10^9/L ({ctx.when(anc[1])})"
    # Any other hold_rule has no resume criterion in the reference: the care team decides without a prompt.
    if met is None:
        return []
    level, dose = describe_resume(state.setup.plan)
    restart = (
        f"restart at level {level}: {dose}"
        if level is not None
        else "no lower level: label says permanently discontinue"
    )
    finding = _finding(
        ctx,
        "R-RESUME",
        f"resume criteria of {rule_id} met ({RULES[rule_id].resume_criterion}): {met}; {restart}",
        self_care=(advice(adv.RESTART_TOLD), advice(adv.NO_RESTART_YET)),
    )
    # clinical-reference: R-RESUME ("restart at <next lower level>"), in the family of the rule that caused the hold
    return [
        Finding(
            rule=finding.rule,
            family=RULES[rule_id].family,
            tier=finding.tier,
            action=finding.action,
            facts=finding.facts,
            advice=finding.advice,
            resume_level=level,
            resume_dose=dose,
        )
    ]


PLAN_UNSEEN_BEFORE = timedelta(hours=12)  # clinical-reference: R-PLAN-UNSEEN (12 hours before the next affected dose)


def _plan_unseen(ctx: _Context) -> list[Finding]:
    """R-PLAN-UNSEEN: a plan change the patient has not acknowledged, 12 h or less before the next affected dose."""
    state = ctx.state
    changed_at, dose_at = state.unacknowledged_plan_change_at, state.next_affected_dose_at
    if changed_at is None or dose_at is None or dose_at <= ctx.now or dose_at - ctx.now > PLAN_UNSEEN_BEFORE:
        return []
    # clinical-reference: R-PLAN-UNSEEN (same_day: staff call the patient)
    facts = (
        f"plan change notice of {ctx.when(changed_at)} not acknowledged by the patient; the next affected dose "
        f"is {ctx.when(dose_at)}, 12 hours or less away: call the patient"
    )
    return [_finding(ctx, "R-PLAN-UNSEEN", facts, self_care=())]


def _ladder(ctx: _Context, findings: list[Finding]) -> list[Finding]:
    """R-LADDER: a reduction (reduce, or interrupt-then-lower, or resume one level lower) is due at the last level."""
    plan = ctx.setup.plan
    if plan.status is PlanStatus.DISCONTINUED or next_lower_level(plan) is not None:
        return []
    due = [f for f in findings if f.action in (Action.REDUCE, Action.INTERRUPT) or f.rule == "R-RESUME"]
    if not due:
        return []
    due.sort(key=_severity_key)
    level = plan.dose_level
    facts = (
        f"a reduction is due ({', '.join(f.rule for f in due)}) at level {level.level}, the last level of the "
        f"{plan.regimen} ladder ({level.describe()}); label: permanently discontinue"
    )
    finding = _finding(ctx, "R-LADDER", facts)
    # clinical-reference: R-LADDER; kept in the family of the most severe finding that made the reduction due.
    return [
        Finding(
            rule="R-LADDER",
            family=due[0].family,
            tier=finding.tier,
            action=Action.DISCONTINUE,
            facts=facts,
            advice=finding.advice,
            resume_level=None,
            resume_dose="discontinue",
        )
    ]


# --------------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------------


def _severity_key(f: Finding) -> tuple[int, int, str]:
    return -f.tier.rank, -_ACTION_RANK[f.action], f.rule


def evaluate(state: PatientState, now: datetime) -> list[Finding]:
    """Every rule of section 4 whose condition holds at `now`, most severe first."""
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ClinicalValidationError("now", "now must be a timezone-aware datetime")
    now = now.astimezone(UTC)
    ctx = _context(state, now)
    findings: list[Finding] = []
    for check in (
        _nausea_vomiting,
        _diarrhea,
        _weight,
        _appetite,
        _fatigue,
        _fever,
        _bleeding,
        _neuro,
        _eye,
        _labs,
        _wrong_day,
        _resume,
    ):
        findings.extend(check(ctx))
    # Monitoring and messaging rules apply while the patient is on treatment (active or held), not after discontinuation.
    if state.setup.plan.status is not PlanStatus.DISCONTINUED:
        for check in (_missed_two, _no_weight, _no_antiemetic, _no_delivery, _plan_unseen):
            findings.extend(check(ctx))
    findings.extend(_ladder(ctx, findings))
    return sorted(findings, key=_severity_key)


def worst_tier(findings: Iterable[Finding]) -> Tier | None:
    """The most severe tier among findings, or None when there are none."""
    return Tier.highest(f.tier for f in findings)
