# Over 400 lines on purpose: every calendar fact lives here, so reminders, pages and previews agree.
"""Calendars of selinexor doses and everything around them, in the patient's own time zone.

Times of day are wall-clock times in the patient's IANA zone: an 08:00 dose stays 08:00 local across
daylight-saving changes. Two local times need a fixed reading, applied the same way every time
(see `resolve_local`):

* a time that does not exist (spring-forward gap, e.g. 02:30 on the night clocks jump 02:00 -> 03:00) is moved
  forward by the length of the gap (02:30 -> 03:30): the instant is the one the pre-transition offset gives (fold=0);
* a time that occurs twice (autumn fold, e.g. 01:30 on the night clocks go 02:00 -> 01:00) is the first occurrence (fold=0).

What the calendar holds for each local date on or after the start date (clinical reference sections 1 and 2):

* selinexor dose on the level's dose days (Days 1 and 3, or Day 1 only for once-weekly levels) at the dose time;
* antiemetic `antiemetic_offset_min` minutes (of elapsed time) before each dose (P-ANTIEMETIC);
* dexamethasone 20 mg: Xd with each selinexor dose; XVd on Day 1 (with the dose) and Day 2 (the next day, same time);
* bortezomib clinic day (XVd): Day 1 of the first four weeks of each 35-day cycle counted from the start date, at 09:00 local;
* weight prompt at the dose time: every dose day of the current level during the first 8 weeks, Day 1 after that (P-MONITOR);
* blood test at 09:00 local: baseline on the start date, weekly to day 56 (the first 8 weeks), then every 28 days; on a
  dose day it is due before that day's dose (P-MONITOR): at 09:00 or 2 hours before the dose, whichever is earlier.

Held plans have no selinexor or antiemetic events; monitoring (weight prompts, blood tests) and the bortezomib clinic
days go on, since selinexor being held does not hold bortezomib, and monitoring decides when to resume. Dexamethasone
goes on during a hold on its usual days when the care team chose "continue" (`Plan.dexamethasone_on_hold`), and stops
when they chose "hold" (clinical reference section 1: a hold never silently stops the partner drugs).
Discontinued plans have no events at all: what happens next is a new plan from the care team.
The whole calendar follows the plan's current level (the ladder changes the pattern, clinical reference section 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.clinical.errors import ClinicalValidationError
from server.clinical.regimens import DexamethasoneOnHold, Plan, PlanStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Clinic-type events (blood test, bortezomib clinic day) are date events shown at this local time.
CLINIC_EVENT_TIME = time(9, 0)

# clinical-reference: P-MONITOR ("weekly for the first 8 weeks, then at least monthly")
FIRST_WEEKS_DAYS = 56
MONTHLY_INTERVAL_DAYS = 28  # "monthly" read as every 4 weeks: never longer apart than a calendar month

# clinical-reference: P-MONITOR ("A blood test due on a dose day is due before that day's dose ... at least 2 hours")
BLOOD_TEST_BEFORE_DOSE = timedelta(hours=2)

# clinical-reference: section 1, row XVd ("Day 1 weekly x4 then 1 week off (35-day cycle)")
BORTEZOMIB_CYCLE_DAYS = 35
BORTEZOMIB_WEEKS_ON = 4

# Input sanity (not clinical): the care team sets the antiemetic timing per patient (P-ANTIEMETIC).
ANTIEMETIC_OFFSET_RANGE_MIN = (0, 240)


class EventKind(str, Enum):
    SELINEXOR_DOSE = "selinexor_dose"
    ANTIEMETIC = "antiemetic"
    DEXAMETHASONE = "dexamethasone"
    BORTEZOMIB_CLINIC = "bortezomib_clinic"
    WEIGHT_PROMPT = "weight_prompt"
    BLOOD_TEST = "blood_test"


# Order of events at the same instant: weigh and take the antiemetic before the tablets.
_KIND_ORDER = {
    EventKind.BLOOD_TEST: 0,
    EventKind.BORTEZOMIB_CLINIC: 1,
    EventKind.WEIGHT_PROMPT: 2,
    EventKind.ANTIEMETIC: 3,
    EventKind.DEXAMETHASONE: 4,
    EventKind.SELINEXOR_DOSE: 5,
}


def parse_weekday(name: str) -> int:
    """'mon' -> 0 ... 'sun' -> 6 (Python's date.weekday())."""
    key = name.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise ClinicalValidationError("weekday", f"weekday must be one of {', '.join(WEEKDAYS)} (got {name!r})")
    return WEEKDAYS.index(key)


def zone_for(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or a ClinicalValidationError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ClinicalValidationError("timezone", f"timezone must be an IANA time zone name (got {name!r})") from None


@dataclass(frozen=True)
class ScheduleSetup:
    """Everything needed to lay out a patient's calendar. Weekdays are date.weekday() numbers (Monday = 0)."""

    plan: Plan
    start_date: date
    day1_weekday: int
    day3_weekday: int
    dose_time: time
    timezone: str
    antiemetic_offset_min: int = 30  # clinical-reference: P-ANTIEMETIC ("about 30 minutes before")

    def __post_init__(self) -> None:
        for field in ("day1_weekday", "day3_weekday"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
                raise ClinicalValidationError(
                    field, f"{field} must be between 0 (Monday) and 6 (Sunday) (got {value!r})"
                )
        # clinical-reference: section 1 ("Days 1 and 3 are two weekdays two days apart")
        if self.day3_weekday != (self.day1_weekday + 2) % 7:
            raise ClinicalValidationError(
                "day3_weekday",
                f"Day 3 must be two days after Day 1 ({WEEKDAYS[(self.day1_weekday + 2) % 7]} for Day 1 on "
                f"{WEEKDAYS[self.day1_weekday]}, got {WEEKDAYS[self.day3_weekday]})",
            )
        if not isinstance(self.start_date, date) or isinstance(self.start_date, datetime):
            raise ClinicalValidationError("start_date", f"start_date must be a date (got {self.start_date!r})")
        if not isinstance(self.dose_time, time) or self.dose_time.tzinfo is not None:
            raise ClinicalValidationError("dose_time", "dose_time must be a local wall-clock time without a time zone")
        zone_for(self.timezone)
        low, high = ANTIEMETIC_OFFSET_RANGE_MIN
        offset = self.antiemetic_offset_min
        if isinstance(offset, bool) or not isinstance(offset, int) or not low <= offset <= high:
            raise ClinicalValidationError(
                "antiemetic_offset_min", f"antiemetic_offset_min must be between {low} and {high} (got {offset!r})"
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ScheduledEvent:
    kind: EventKind
    local: datetime  # aware, in the patient's zone
    utc: datetime  # aware, UTC
    dose_mg: int | None
    tablets: int | None
    note: str = ""


def resolve_local(d: date, t: time, zone: ZoneInfo) -> datetime:
    """The aware local datetime for wall time `t` on date `d`, with the documented DST readings.

    Nonexistent (spring gap): shifted forward by the gap, i.e. the wall time of the instant that fold=0 gives.
    Ambiguous (autumn fold): the first occurrence (fold=0).
    """
    naive = datetime.combine(d, t).replace(fold=0)
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    return instant.astimezone(zone)


def _event(
    kind: EventKind, local: datetime, dose_mg: int | None = None, tablets: int | None = None, note: str = ""
) -> ScheduledEvent:
    return ScheduledEvent(
        kind=kind, local=local, utc=local.astimezone(UTC), dose_mg=dose_mg, tablets=tablets, note=note
    )


def is_dose_day(setup: ScheduleSetup, d: date) -> bool:
    """Whether `d` is a selinexor dose day of the current level's pattern (whatever the plan's status)."""
    if d < setup.start_date:
        return False
    if d.weekday() == setup.day1_weekday:
        return True
    return setup.plan.dose_level.twice_weekly and d.weekday() == setup.day3_weekday


def day_number(setup: ScheduleSetup, d: date) -> int | None:
    """1 or 3 for a dose day of the current pattern, None otherwise."""
    if not is_dose_day(setup, d):
        return None
    return 1 if d.weekday() == setup.day1_weekday else 3


def _dose_event(setup: ScheduleSetup, d: date) -> ScheduledEvent:
    plan = setup.plan
    level = plan.dose_level
    local = resolve_local(d, setup.dose_time, setup.zone)
    note = f"Day {day_number(setup, d)}: {plan.tablets} x {plan.tablet_strength_mg} mg tablets ({level.describe()})"
    return _event(EventKind.SELINEXOR_DOSE, local, plan.dose_mg, plan.tablets, note)


def is_blood_test_day(setup: ScheduleSetup, d: date) -> bool:
    """Baseline on the start date, weekly to day 56, then every 28 days. clinical-reference: P-MONITOR"""
    n = (d - setup.start_date).days
    if n < 0:
        return False
    if n <= FIRST_WEEKS_DAYS:
        return n % 7 == 0
    return (n - FIRST_WEEKS_DAYS) % MONTHLY_INTERVAL_DAYS == 0


def blood_test_local(setup: ScheduleSetup, d: date) -> datetime:
    """When the blood test of local date `d` is due: 09:00, or on a dose day BLOOD_TEST_BEFORE_DOSE before the dose
    when that is earlier, so that a result can stop the dose. clinical-reference: P-MONITOR"""
    clinic_local = resolve_local(d, CLINIC_EVENT_TIME, setup.zone)
    dose = dose_on_local_date(setup, d)
    if dose is None:
        return clinic_local
    return min(clinic_local, (dose.utc - BLOOD_TEST_BEFORE_DOSE).astimezone(setup.zone))


def dose_after_blood_test(setup: ScheduleSetup, test: ScheduledEvent) -> ScheduledEvent | None:
    """The selinexor dose of the day a blood-test event belongs to, or None when that day has no dose."""
    for d in (test.local.date(), test.local.date() + timedelta(days=1)):
        if is_blood_test_day(setup, d) and blood_test_local(setup, d) == test.local:
            return dose_on_local_date(setup, d)
    return None


def is_weight_prompt_day(setup: ScheduleSetup, d: date) -> bool:
    """Dose days of the current pattern in the first 8 weeks, Day 1 after. clinical-reference: P-MONITOR"""
    if d < setup.start_date:
        return False
    if (d - setup.start_date).days < FIRST_WEEKS_DAYS:
        return is_dose_day(setup, d)
    return d.weekday() == setup.day1_weekday


def is_bortezomib_day(setup: ScheduleSetup, d: date) -> bool:
    """XVd only: Day 1 in weeks 1-4 of each 35-day cycle from the start date. clinical-reference: section 1, XVd"""
    if setup.plan.regimen_data.bortezomib == "" or d < setup.start_date or d.weekday() != setup.day1_weekday:
        return False
    day_in_cycle = (d - setup.start_date).days % BORTEZOMIB_CYCLE_DAYS
    return day_in_cycle // 7 < BORTEZOMIB_WEEKS_ON


def events_on_local_date(setup: ScheduleSetup, d: date) -> list[ScheduledEvent]:
    """All events belonging to local date `d` (an antiemetic may fall on the evening before)."""
    plan = setup.plan
    if plan.status is PlanStatus.DISCONTINUED or d < setup.start_date:
        return []
    regimen = plan.regimen_data
    events: list[ScheduledEvent] = []
    clinic_local = resolve_local(d, CLINIC_EVENT_TIME, setup.zone)
    dose_local = resolve_local(d, setup.dose_time, setup.zone)

    if is_blood_test_day(setup, d):
        kind_note = "baseline blood tests" if d == setup.start_date else "blood tests"
        when = " (before today's selinexor dose)" if dose_on_local_date(setup, d) is not None else ""
        events.append(
            _event(
                EventKind.BLOOD_TEST,
                blood_test_local(setup, d),
                note=f"{kind_note}: CBC with differential, chemistry including sodium{when}",
            )
        )
    if is_bortezomib_day(setup, d):
        events.append(_event(EventKind.BORTEZOMIB_CLINIC, clinic_local, note=regimen.bortezomib))
    if is_weight_prompt_day(setup, d):
        events.append(_event(EventKind.WEIGHT_PROMPT, dose_local, note="weigh yourself"))

    dose: ScheduledEvent | None = None
    if plan.status is PlanStatus.ACTIVE and is_dose_day(setup, d):
        dose = _dose_event(setup, d)
        antiemetic_utc = dose.utc - timedelta(minutes=setup.antiemetic_offset_min)
        events.append(
            _event(
                EventKind.ANTIEMETIC,
                antiemetic_utc.astimezone(setup.zone),
                note=f"anti-nausea medicine {setup.antiemetic_offset_min} minutes before selinexor",
            )
        )
    # listed before the selinexor dose at the same instant (the order patients see on Today)
    if takes_dexamethasone(setup) and is_dexamethasone_day(setup, d):
        events.append(
            _event(EventKind.DEXAMETHASONE, dose_local, regimen.dexamethasone_mg, None, regimen.dexamethasone)
        )
    if dose is not None:
        events.append(dose)
    return events


def takes_dexamethasone(setup: ScheduleSetup) -> bool:
    """Whether the plan's dexamethasone goes on now: active plans, and held plans whose hold keeps it.

    clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs")
    """
    plan = setup.plan
    if plan.regimen_data.dexamethasone_days == "none":
        return False
    if plan.status is PlanStatus.ACTIVE:
        return True
    return plan.status is PlanStatus.HELD and plan.dexamethasone_on_hold is DexamethasoneOnHold.CONTINUE


def is_dexamethasone_day(setup: ScheduleSetup, d: date) -> bool:
    """A dexamethasone day of the current level's pattern (whatever the plan's status).

    Xd: each selinexor dose day; XVd: Day 1 and Day 2 (the day after Day 1). During a hold the days stay the
    pattern's days, as prescribed.
    """
    days = setup.plan.regimen_data.dexamethasone_days
    # clinical-reference: section 1, Xd ("dexamethasone 20 mg on each selinexor day")
    if days == "with_each_dose":
        return is_dose_day(setup, d)
    # clinical-reference: section 1, XVd ("dexamethasone 20 mg Days 1 & 2"): Day 2 is the day after a Day 1
    if days == "days_1_and_2":
        return day_number(setup, d) == 1 or day_number(setup, d - timedelta(days=1)) == 1
    return False


def dexamethasone_weekdays(setup: ScheduleSetup) -> tuple[int, ...]:
    """The weekdays (Monday = 0) of the pattern's dexamethasone days, in week order; empty without dexamethasone."""
    days = setup.plan.regimen_data.dexamethasone_days
    if days == "with_each_dose":
        weekdays = [setup.day1_weekday] + ([setup.day3_weekday] if setup.plan.dose_level.twice_weekly else [])
    elif days == "days_1_and_2":
        weekdays = [setup.day1_weekday, (setup.day1_weekday + 1) % 7]
    else:
        return ()
    return tuple(sorted(weekdays))


def _sort_key(event: ScheduledEvent) -> tuple[datetime, int]:
    return event.utc, _KIND_ORDER[event.kind]


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ClinicalValidationError(name, f"{name} must be a timezone-aware datetime")


def events_between(setup: ScheduleSetup, start_utc: datetime, end_utc: datetime) -> list[ScheduledEvent]:
    """All events with start_utc <= utc < end_utc, sorted by instant."""
    _require_aware("start_utc", start_utc)
    _require_aware("end_utc", end_utc)
    if end_utc <= start_utc:
        return []
    zone = setup.zone
    # One day of padding each side: an antiemetic can fall on the local date before its dose.
    first = start_utc.astimezone(zone).date() - timedelta(days=1)
    last = end_utc.astimezone(zone).date() + timedelta(days=1)
    first = max(first, setup.start_date)
    events: list[ScheduledEvent] = []
    d = first
    while d <= last:
        events.extend(e for e in events_on_local_date(setup, d) if start_utc <= e.utc < end_utc)
        d += timedelta(days=1)
    return sorted(events, key=_sort_key)


def dose_on_local_date(setup: ScheduleSetup, d: date) -> ScheduledEvent | None:
    """The selinexor dose scheduled on local date `d`, or None (no dose day, or plan held or discontinued)."""
    if setup.plan.status is not PlanStatus.ACTIVE or not is_dose_day(setup, d):
        return None
    return _dose_event(setup, d)


def next_dose(setup: ScheduleSetup, now_utc: datetime) -> ScheduledEvent | None:
    """The next selinexor dose at or after `now_utc`; None if the plan is held or discontinued."""
    _require_aware("now_utc", now_utc)
    if setup.plan.status is not PlanStatus.ACTIVE:
        return None
    d = max(now_utc.astimezone(setup.zone).date() - timedelta(days=1), setup.start_date)
    for _ in range(16):  # every week has a Day 1
        dose = dose_on_local_date(setup, d)
        if dose is not None and dose.utc >= now_utc:
            return dose
        d += timedelta(days=1)
    return None


def previous_doses(setup: ScheduleSetup, before_local_date: date, count: int) -> list[ScheduledEvent]:
    """The last `count` scheduled selinexor doses on local dates before `before_local_date`, most recent first.

    Follows the current level's pattern; empty when the plan is not active.
    """
    if setup.plan.status is not PlanStatus.ACTIVE:
        return []
    doses: list[ScheduledEvent] = []
    d = before_local_date - timedelta(days=1)
    while len(doses) < count and d >= setup.start_date:
        dose = dose_on_local_date(setup, d)
        if dose is not None:
            doses.append(dose)
        d -= timedelta(days=1)
    return doses


def events_for_local_days(setup: ScheduleSetup, first_day: date, days: int) -> list[ScheduledEvent]:
    """Events from local midnight of `first_day` to local midnight `days` days later."""
    zone = setup.zone
    start_utc = resolve_local(first_day, time(0, 0), zone).astimezone(UTC)
    end_utc = resolve_local(first_day + timedelta(days=days), time(0, 0), zone).astimezone(UTC)
    return events_between(setup, start_utc, end_utc)


def parse_local_date(field: str, value: object) -> date:
    """An ISO date such as 2026-03-02, or a ClinicalValidationError naming `field`."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ClinicalValidationError(field, f"{field} must be a date like 2026-03-02 (got {value!r})") from None


def parse_local_time(field: str, value: object) -> time:
    """A wall-clock time such as 08:00 (no offset), or a ClinicalValidationError naming `field`."""
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        raise ClinicalValidationError(field, f"{field} must be a local time like 08:00 (got {value!r})") from None
    if parsed.tzinfo is not None:
        raise ClinicalValidationError(field, f"{field} must be a local time without an offset (got {value!r})")
    return parsed


def parse_instant(field: str, value: object) -> datetime:
    """An ISO date-time with an offset (or Z), returned in UTC; a ClinicalValidationError naming `field` otherwise."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ClinicalValidationError(
            field, f"{field} must be an ISO date-time with an offset (got {value!r})"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ClinicalValidationError(
            field, f"{field} must include a UTC offset, e.g. 2026-03-10T12:00:00Z (got {value!r})"
        )
    return parsed.astimezone(UTC)


def next_dose_counted_from(setup: ScheduleSetup, logged_day: date | None, now_utc: datetime) -> datetime:
    """Where "your next dose" is counted from once a dose was logged for `logged_day` (taken, missed or vomited).

    The later of now and the start of the following local day: a dose day's dose, once logged, is never the
    "next" one (P-MISSED, P-VOMITED: the next dose is on the next scheduled day), even when logged before its time.
    """
    _require_aware("now_utc", now_utc)
    if logged_day is None:
        return now_utc
    day_after = resolve_local(logged_day + timedelta(days=1), time(0, 0), setup.zone).astimezone(UTC)
    return max(now_utc, day_after)
