"""The start-of-therapy checklist's clinical checks (issue 14 item 1, the NCODA PQI): is the patient's plan the one the
regimen table starts with, and when does an incomplete checklist need a person (R-CHECKLIST).

Pure: plain values in, plain words out. The checklist's storage, ticks and the baseline data live in
server/services/pqi/checklist.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.clinical.regimens import REGIMENS, DoseLevel
from server.clinical.rules import RULES, Finding, Tier
from server.clinical.schedule import WEEKDAYS, resolve_local

# clinical-reference: section 1, the Indication column of the regimen table: which indication each regimen is for.
# Xd: RRMM; XVd: MM; DLBCL: R/R DLBCL. Relapsed/refractory MM is MM, so the XVd row covers it too.
# NEEDS CLINICAL SIGN-OFF: the reference names the indications, not how a prescription's indication maps to them.
INDICATIONS: dict[str, str] = {
    "rrmm": "relapsed/refractory multiple myeloma (RRMM)",
    # NEEDS CLINICAL SIGN-OFF: the US label's XVd indication is MM after at least one prior therapy; the reference
    # row says MM, so the label here is the reference's own word (no wording beyond it).
    "mm": "multiple myeloma (MM)",
    "rr_dlbcl": "relapsed/refractory diffuse large B-cell lymphoma (R/R DLBCL)",
}
REGIMENS_FOR_INDICATION: dict[str, frozenset[str]] = {
    "rrmm": frozenset({"Xd", "XVd"}),  # clinical-reference: section 1, rows Xd (RRMM) and XVd (MM)
    "mm": frozenset({"XVd"}),  # clinical-reference: section 1, row XVd (MM)
    "rr_dlbcl": frozenset({"DLBCL"}),  # clinical-reference: section 1, row DLBCL (R/R DLBCL)
}
REGIMEN_INDICATION_WORDS = {"Xd": "RRMM", "XVd": "MM", "DLBCL": "R/R DLBCL"}  # clinical-reference: section 1

START_LEVEL = 0  # clinical-reference: section 1 ("Start (level 0)")

# clinical-reference: R-CHECKLIST (incomplete 24 hours before the first scheduled dose: routine)
CHECKLIST_ALERT_BEFORE = timedelta(hours=24)
# Product choice: the alert may still open up to a day after the first dose, so a sweep delayed by a worker restart
# still reaches a person; patients who started before the checklist existed never get one.
CHECKLIST_ALERT_UNTIL_AFTER = timedelta(hours=24)


def level_words(level: DoseLevel) -> str:
    """'80 mg Days 1 & 3' or '100 mg once weekly', the regimen table's own words."""
    return f"{level.dose_mg} mg {'Days 1 & 3' if level.twice_weekly else 'once weekly'}"


@dataclass(frozen=True)
class PlanToCheck:
    """The stored plan's values, as stored (nothing here is assumed valid)."""

    regimen: str
    level: int
    day1_weekday: int
    day3_weekday: int
    tablet_strength_mg: int


def start_level_mismatch(plan: PlanToCheck) -> str | None:
    """The one mismatch a prescriber may choose on purpose (a lower start on the ladder), in words; None otherwise.

    None too when the regimen or level is not in the table (dose_check words those).
    """
    regimen = REGIMENS.get(plan.regimen)
    if regimen is None or not 0 <= plan.level <= regimen.last_level or plan.level == START_LEVEL:
        return None
    # clinical-reference: section 1 ("Start (level 0)")
    return (
        f"Start level is {plan.level} ({level_words(regimen.levels[plan.level])}); the {plan.regimen} label starts at "
        f"level {START_LEVEL}: {level_words(regimen.levels[START_LEVEL])}."
    )


def dose_check(plan: PlanToCheck, indication: str | None = None) -> list[str]:
    """Every way the plan differs from the regimen table's start, in words (empty: the plan matches).

    `indication` (a key of INDICATIONS, as the pharmacist reads it on the prescription) is checked against the
    regimen when given.
    """
    regimen = REGIMENS.get(plan.regimen)
    if regimen is None:
        return [f"Regimen {plan.regimen!r} is not in the regimen table (Xd, XVd, DLBCL)."]
    problems: list[str] = []
    if indication is not None:
        allowed = REGIMENS_FOR_INDICATION.get(indication)
        if allowed is None:
            problems.append("Choose the indication on the prescription.")
        elif plan.regimen not in allowed:
            # clinical-reference: section 1 (regimen <-> indication)
            problems.append(
                f"The indication is {INDICATIONS[indication]}; the {plan.regimen} row of the regimen table is for "
                f"{REGIMEN_INDICATION_WORDS[plan.regimen]}."
            )
    start = regimen.levels[START_LEVEL]
    if not 0 <= plan.level <= regimen.last_level:
        problems.append(
            f"Level {plan.level} is not on the {plan.regimen} ladder (levels 0 to {regimen.last_level}); the "
            f"{plan.regimen} label starts at level {START_LEVEL}: {level_words(start)}."
        )
        current = None
    else:
        current = regimen.levels[plan.level]
        if (mismatch := start_level_mismatch(plan)) is not None:
            problems.append(mismatch)
    day1, day3 = plan.day1_weekday, plan.day3_weekday
    if not (0 <= day1 <= 6 and 0 <= day3 <= 6):
        problems.append("Day 1 and Day 3 must be weekdays (Monday to Sunday).")
    elif day3 != (day1 + 2) % 7:
        # clinical-reference: section 1 ("Days 1 and 3 are two weekdays two days apart")
        problems.append(
            f"Day 3 ({WEEKDAYS[day3].capitalize()}) is not two days after Day 1 ({WEEKDAYS[day1].capitalize()}): "
            f"Days 1 & 3 are two weekdays two days apart ({WEEKDAYS[day1].capitalize()} and "
            f"{WEEKDAYS[(day1 + 2) % 7].capitalize()})."
        )
    strength = plan.tablet_strength_mg
    for level in (current,) if current is not None else ():
        # clinical-reference: section 1 ("refuse a level whose dose is not a whole number of that patient's tablets")
        if strength <= 0 or level.dose_mg % strength:
            problems.append(
                f"{level.dose_mg} mg is not a whole number of {strength} mg tablets (tablets are never divided): "
                "check the tablet strength dispensed."
            )
    return problems


def first_scheduled_dose(plan: PlanToCheck, start_date: date, dose_time: time, timezone: str) -> datetime | None:
    """The first selinexor dose on or after the start date (UTC), by the plan's weekdays and level pattern.

    Read from the stored values directly (a plan the dose check refuses still has a first dose day); None when the
    regimen or level is unknown.
    """
    regimen = REGIMENS.get(plan.regimen)
    if regimen is None or not 0 <= plan.level <= regimen.last_level:
        return None
    twice = regimen.levels[plan.level].twice_weekly  # clinical-reference: section 1 (the level sets the pattern)
    for offset in range(7):
        day = start_date + timedelta(days=offset)
        if day.weekday() == plan.day1_weekday or (twice and day.weekday() == plan.day3_weekday):
            return resolve_local(day, dose_time, ZoneInfo(timezone)).astimezone(UTC)
    return None


def checklist_finding(
    items_left: Sequence[str], first_dose_utc: datetime, first_dose_words: str, now: datetime
) -> Finding | None:
    """R-CHECKLIST's finding when the checklist is incomplete from 24 h before the first dose; None otherwise."""
    if not items_left:
        return None
    if not first_dose_utc - CHECKLIST_ALERT_BEFORE <= now < first_dose_utc + CHECKLIST_ALERT_UNTIL_AFTER:
        return None
    rule = RULES["R-CHECKLIST"]  # clinical-reference: R-CHECKLIST (routine; staff complete the checklist)
    count = len(items_left)
    facts = (
        f"Start-of-therapy checklist incomplete: {count} item{'s' if count != 1 else ''} left "
        f"({', '.join(items_left)}); first dose {first_dose_words}"
    )
    return Finding(
        rule=rule.id,
        family=rule.family,
        tier=Tier.ROUTINE,
        action=rule.action,
        facts=facts[:2000],
        advice=(),
        resume_level=None,
        resume_dose=None,
    )
