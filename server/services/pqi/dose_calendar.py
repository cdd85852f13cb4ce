"""Which days a patient was scheduled to take selinexor, from their plan versions (clinical/schedule.py).

A dose day belongs to the plan version in force at its dose time: a hold made at 07:00 holds that day's 08:00 dose
(held doses are not scheduled, so never missed: clinical-reference R-MISS-2), one made at 10:00 does not. Days are
stepped by week per weekday, not scanned one by one, so a year of a clinic's calendars stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ...clinical.regimens import REGIMENS, PlanStatus
from ...clinical.schedule import resolve_local

ACTIVE = PlanStatus.ACTIVE.value  # read once (an enum's value is slow)
# (regimen, dose level) of the levels taken on Days 1 and 3 (clinical-reference: section 1, the levels); the others
# are once weekly, on Day 1.
TWICE_WEEKLY = frozenset(
    (name, level.level) for name, regimen in REGIMENS.items() for level in regimen.levels if level.twice_weekly
)


def scheduled_dose_days(patient: Any, plans: Sequence[Any], first: date, last: date) -> list[date]:
    """The patient's scheduled selinexor dose days in [first, last] (local dates), oldest version of `plans` first.

    `patient` and `plans` are the stored rows (models, or the quality report's plain rows of the same columns)."""
    days: list[date] = []
    if last < first:
        return days
    for index, plan in enumerate(plans):
        if plan.status != ACTIVE:
            continue
        zone = ZoneInfo(patient.timezone)
        since: datetime | None = plan.created_at if index > 0 else None
        until: datetime | None = plans[index + 1].created_at if index + 1 < len(plans) else None
        since_day = since.astimezone(zone).date() if since else None
        until_day = until.astimezone(zone).date() if until else None
        low = max(first, plan.start_date, since_day or first)  # on or after the start date: every step is a dose day
        high = min(last, until_day or last)
        weekdays = {plan.day1_weekday}
        if (plan.regimen, plan.dose_level) in TWICE_WEEKLY:
            weekdays.add(plan.day3_weekday)
        for weekday in weekdays:
            steps = range((low + timedelta(days=(weekday - low.weekday()) % 7)).toordinal(), high.toordinal() + 1, 7)
            found = list(map(date.fromordinal, steps))
            # Only the version's first and last local dates can be edge days: there the dose time decides.
            if found and found[-1] == until_day and not _in_force(plan.dose_time, found[-1], zone, since, until):
                found.pop()
            if found and found[0] == since_day and not _in_force(plan.dose_time, found[0], zone, since, until):
                found.pop(0)
            days += found
    days.sort()
    return days


def _in_force(dose_time, day: date, zone, since: datetime | None, until: datetime | None) -> bool:
    """Whether the dose of `day` (the local date of `since` or `until`) falls in [since, until)."""
    instant = resolve_local(day, dose_time, zone).astimezone(UTC)
    return (since is None or instant >= since) and (until is None or instant < until)
