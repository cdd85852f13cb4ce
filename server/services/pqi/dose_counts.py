"""The logged selinexor doses of a clinic counted by patient and month in SQL, for the quality report's dose tables.

The database groups the logs by patient and dose day, finds the plan version in force on each day and whether the
day is a dose day of it, then sums by patient, month and scheduled-or-not: a few rows per patient and month instead
of every log. Only dates are compared (no time zone in SQL, so SQLite and PostgreSQL give the same answer):

* a plan version is in force on the days from two days after the UTC date of its creation to two days before the
  next version's; the local date of a change is within a day of its UTC date, so those days are unambiguous;
* the days around a change ("edge days", where the version in force depends on the dose time, dose_calendar.py) and
  the days holding a log without a dose day (its local date is worked out here) come back one by one and are
  classified in Python by the dose calendar itself, so the figures are exactly those of a day-by-day count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...clinical.regimens import PlanStatus
from ...models import DoseEvent, Patient, TreatmentPlan
from .dose_calendar import TWICE_WEEKLY, scheduled_dose_days
from .periods import Period
from .quality_data import PatientFacts, day_number, month_of

EDGE_DAYS = 2  # days either side of a plan change's UTC date left to the dose calendar
DOSE_OUTCOMES = ("taken", "vomited", "missed")  # a dose day's outcome: the first of these logged that day


@dataclass(slots=True)  # slots: one per patient and month (fewer objects for the garbage collector)
class MonthDoses:
    """One patient's logged doses in one month."""

    taken: int = 0  # scheduled dose days whose outcome is taken (then vomited, missed)
    vomited: int = 0
    missed: int = 0
    wrong_day: int = 0  # doses (taken or vomited) on a day without a scheduled dose, or a second one
    ae_den: int = 0  # doses logged taken
    ae_num: int = 0  # ... with anti-nausea medicine logged before

    def add(self, other: MonthDoses) -> None:
        """Another month's counts into these."""
        self.taken += other.taken
        self.vomited += other.vomited
        self.missed += other.missed
        self.wrong_day += other.wrong_day
        self.ae_den += other.ae_den
        self.ae_num += other.ae_num


@dataclass
class _Day:
    """The logs of one edge day, as the day-by-day count reads them."""

    statuses: list[str] = field(default_factory=list)
    antiemetic: list[bool | None] = field(default_factory=list)


def _twice_weekly() -> sa.ColumnElement[bool]:
    """Whether a plan row's regimen and level take Days 1 and 3 (clinical-reference: section 1, the levels)."""
    plan = TreatmentPlan.__table__.c
    twice = [sa.and_(plan.regimen == name, plan.dose_level == level) for name, level in sorted(TWICE_WEEKLY)]
    return sa.or_(*twice) if twice else sa.false()


@dataclass
class DoseDays:
    """What read_dose_days found: the logs without a dose day, by patient and local day, and the counted rows."""

    loose: dict[int, dict[date, _Day]]
    rows: list[tuple]


def read_dose_days(conn: Connection, mine: sa.Select, period: Period, now: datetime) -> DoseDays:
    """The clinic's logged doses of the period, grouped by the database (three statements; run side by side with the
    report's other reads)."""
    dialect = conn.dialect.name
    dose = DoseEvent.__table__.c
    patient = Patient.__table__.c
    whole = period.whole
    # Logs without a dose day: their local day, read here, makes that day an edge day.
    loose: dict[int, dict[date, _Day]] = defaultdict(dict)
    for pid, zone, at, status, antiemetic in conn.execute(
        sa.select(patient.id, patient.timezone, dose.at, dose.status, dose.antiemetic_taken)
        .join(Patient.__table__, patient.id == dose.patient_id)
        .where(
            dose.patient_id.in_(mine),
            dose.superseded_at.is_(None),
            dose.scheduled_for.is_(None),
            dose.at >= whole.start_utc,
            dose.at < whole.end_utc,
        )
    ).all():
        day = at.astimezone(ZoneInfo(zone)).date()
        logs = loose[pid].setdefault(day, _Day())
        logs.statuses.append(status)
        logs.antiemetic.append(antiemetic)
    # Doses are counted up to each patient's yesterday (in their own zone): the days after the earliest of those are
    # edge days, left to _count_edge_days (which skips those after the patient's own).
    zones = conn.execute(sa.select(patient.timezone).where(patient.id.in_(mine)).distinct()).scalars()
    last_day = min([now.astimezone(ZoneInfo(zone)).date() - timedelta(days=1) for zone in zones] + [whole.last])

    def flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.case((condition, 1), else_=0)

    status = dose.status
    per_day = (
        sa.select(
            dose.patient_id.label("pid"),
            dose.scheduled_for.label("day"),
            sa.func.max(flag(status == "taken")).label("taken"),
            sa.func.max(flag(status == "vomited")).label("vomited"),
            sa.func.max(flag(status == "missed")).label("missed"),
            sa.func.sum(flag(status.in_(("taken", "vomited")))).label("doses"),
            sa.func.sum(flag(status == "taken")).label("n_taken"),
            sa.func.sum(flag(sa.and_(status == "taken", dose.antiemetic_taken.is_(True)))).label("n_ae"),
        )
        .where(
            dose.patient_id.in_(mine),
            dose.superseded_at.is_(None),
            dose.scheduled_for.between(whole.first, whole.last),
        )
        .group_by(dose.patient_id, dose.scheduled_for)
        .subquery("per_day")
    )
    plan = TreatmentPlan.__table__.c
    from_day = day_number(plan.created_at, dialect)
    order = {"partition_by": plan.patient_id, "order_by": plan.version}
    versions = (
        sa.select(
            plan.patient_id,
            plan.status,
            plan.start_date,
            plan.day1_weekday,
            plan.day3_weekday,
            _twice_weekly().label("twice"),
            sa.func.row_number().over(**order).label("nth"),
            from_day.label("from_day"),
            sa.func.lead(from_day).over(**order).label("to_day"),
        )
        .where(plan.patient_id.in_(mine))
        .subquery("versions")
    )
    day = per_day.c.day
    number = day_number(day, dialect)
    in_force = sa.and_(
        versions.c.patient_id == per_day.c.pid,
        sa.or_(versions.c.nth == 1, number >= versions.c.from_day + EDGE_DAYS),
        sa.or_(versions.c.to_day.is_(None), number <= versions.c.to_day - EDGE_DAYS),
    )
    weekday = (number + 5) % 7  # 1 Jan 2000 (day 0) was a Saturday (weekday 5)
    pairs = [(pid, d) for pid, days in loose.items() for d in days]
    edge = sa.or_(versions.c.patient_id.is_(None), day > last_day)
    if pairs:
        edge = sa.or_(edge, sa.tuple_(per_day.c.pid, day).in_(pairs))
    scheduled = sa.and_(
        versions.c.status == PlanStatus.ACTIVE.value,
        day >= versions.c.start_date,
        sa.or_(weekday == versions.c.day1_weekday, sa.and_(versions.c.twice, weekday == versions.c.day3_weekday)),
    )
    taken, vomited, missed = per_day.c.taken == 1, per_day.c.vomited == 1, per_day.c.missed == 1
    edge_day = sa.case((edge, day), else_=None).label("edge_day")
    month = month_of(day, period).label("month")
    is_scheduled = flag(sa.and_(sa.not_(edge), scheduled)).label("scheduled")
    rows = conn.execute(
        sa.select(
            per_day.c.pid,
            month,
            is_scheduled,
            edge_day,
            sa.func.sum(flag(taken)),
            sa.func.sum(flag(sa.and_(~taken, vomited))),
            sa.func.sum(flag(sa.and_(~taken, ~vomited, missed))),
            sa.func.sum(per_day.c.doses),
            sa.func.sum(sa.case((per_day.c.doses > 1, per_day.c.doses - 1), else_=0)),
            sa.func.sum(per_day.c.n_taken),
            sa.func.sum(per_day.c.n_ae),
        )
        .select_from(per_day.outerjoin(versions, in_force))
        .group_by(per_day.c.pid, month, is_scheduled, edge_day)
    ).all()
    # Plain tuples of numbers and dates: the garbage collector stops tracking them (rows it would walk again and again).
    return DoseDays(loose, [tuple(row) for row in rows])


def logged_doses(
    read: DoseDays, patients: Mapping[int, PatientFacts], period: Period, until: Mapping[int, date]
) -> dict[int, dict[str, MonthDoses]]:
    """Per patient and month key, the logged doses of the period; `until`: each patient's last day with scheduled
    doses (yesterday in their zone, or the period's end). Patients not in `patients` are left out (enrolled while
    the report was read: side_by_side.py)."""
    loose = read.loose
    found: dict[int, dict[str, MonthDoses]] = defaultdict(dict)
    for pid, key, on_schedule, edge_on, n_taken_days, n_vomited, n_missed, doses, extra, n_taken, n_ae in read.rows:
        if pid not in patients:
            continue
        if edge_on is not None:
            if isinstance(edge_on, str):  # SQLite answers a CASE of dates as text
                edge_on = date.fromisoformat(edge_on)
            logs = loose[pid].setdefault(edge_on, _Day())
            logs.statuses += ["taken"] * int(n_taken) + ["vomited"] * (int(doses) - int(n_taken))
            logs.statuses += ["missed"] * int(n_missed)
            logs.antiemetic += [True] * int(n_ae) + [None] * (int(n_taken) - int(n_ae))
            continue
        counts = found[pid].setdefault(key, MonthDoses())
        if on_schedule:
            counts.taken += int(n_taken_days)
            counts.vomited += int(n_vomited)
            counts.missed += int(n_missed)
            counts.wrong_day += int(extra)
        else:
            counts.wrong_day += int(doses)
        counts.ae_den += int(n_taken)
        counts.ae_num += int(n_ae)
    for pid, days in loose.items():
        if pid in patients:
            _count_edge_days(found[pid], patients[pid], days, period, until[pid])
    return found


def _count_edge_days(
    found: dict[str, MonthDoses], facts: PatientFacts, days: dict[date, _Day], period: Period, until: date
) -> None:
    """The edge days, counted day by day against the dose calendar (as the rest is in SQL)."""
    for day, logs in days.items():
        keys = period.bucket_keys(day)
        # Doses are counted up to `until` (yesterday): a later day's logs are not judged yet, neither as scheduled
        # doses nor as wrong-day ones.
        if not keys or not facts.plans or day > until:
            continue
        counts = found.setdefault(keys[0], MonthDoses())
        on_schedule = bool(scheduled_dose_days(facts.patient, facts.plans, day, day))
        doses = sum(1 for s in logs.statuses if s in ("taken", "vomited"))
        if on_schedule:
            outcome = next((s for s in DOSE_OUTCOMES if s in logs.statuses), None)
            if outcome is not None:
                setattr(counts, outcome, getattr(counts, outcome) + 1)
            counts.wrong_day += max(0, doses - 1)
        else:
            counts.wrong_day += doses
        taken = [ae for s, ae in zip(logs.statuses, logs.antiemetic) if s == "taken"]
        counts.ae_den += len(taken)
        counts.ae_num += sum(1 for ae in taken if ae is True)
