"""Which days a patient was scheduled to take selinexor, from their plan versions (clinical/schedule.py).

A dose day belongs to the plan version in force at its dose time: a hold made at 07:00 holds that day's 08:00 dose
(held doses are not scheduled, so never missed: clinical-reference R-MISS-2), one made at 10:00 does not. Days are
stepped by week per weekday, not scanned one by one, so a year of a clinic's calendars stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from ...clinical.regimens import PlanStatus
from ...clinical.schedule import is_dose_day, resolve_local
from ...models import Patient, TreatmentPlan
from ..patient_state import schedule_setup


def scheduled_dose_days(patient: Patient, plans: Sequence[TreatmentPlan], first: date, last: date) -> list[date]:
    """The patient's scheduled selinexor dose days in [first, last] (local dates), oldest version of `plans` first."""
    days: list[date] = []
    if last < first:
        return days
    for index, plan in enumerate(plans):
        if plan.status != PlanStatus.ACTIVE.value:
            continue
        setup = schedule_setup(patient, plan)
        zone = setup.zone
        since: datetime | None = plan.created_at if index > 0 else None
        until: datetime | None = plans[index + 1].created_at if index + 1 < len(plans) else None
        low = max(first, plan.start_date, since.astimezone(zone).date() if since else first)
        high = min(last, until.astimezone(zone).date() if until else last)
        weekdays = {setup.day1_weekday}
        if setup.plan.dose_level.twice_weekly:
            weekdays.add(setup.day3_weekday)
        for weekday in weekdays:
            day = low + timedelta(days=(weekday - low.weekday()) % 7)
            while day <= high:
                if is_dose_day(setup, day) and _in_force(setup.dose_time, day, zone, since, until):
                    days.append(day)
                day += timedelta(days=7)
    return sorted(days)


def _in_force(dose_time, day: date, zone, since: datetime | None, until: datetime | None) -> bool:
    """Whether the dose of `day` falls in [since, until): only the edge days need the instant."""
    if (since is None or day > since.astimezone(zone).date()) and (
        until is None or day < until.astimezone(zone).date()
    ):
        return True
    instant = resolve_local(day, dose_time, zone).astimezone(UTC)
    return (since is None or instant >= since) and (until is None or instant < until)
