# Over 400 lines on purpose: one short builder per table of the page (program, doses, monitoring, modifications,
# weight, reminders; alert handling is in alert_promises.py), read in the page's order.
"""The clinic quality report (issue 14 item 3): is the pharmacy quality intervention happening, patient by patient and
month by month? Computed from the data the product already holds, for one clinic and a period in its time zone.

Every table has a row per calendar month of the period and one for the whole period; each figure keeps each
patient's share, so the page links every figure to the patients behind it. Reading: `quality_data.load_clinic_data`
(a fixed number of statements whatever the clinic's size); the calendars: `server/clinical/schedule.py`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ...clinical.regimens import PlanStatus
from ...clinical.schedule import FIRST_WEEKS_DAYS, MONTHLY_INTERVAL_DAYS
from ...models import Clinic
from ...settings import Settings
from ..alerts_escalation import ClinicHours
from .alert_promises import alert_table
from .checklist import completed_at_of, first_dose_of
from .dose_calendar import scheduled_dose_days
from .dose_counts import DoseDays, MonthDoses, logged_doses, read_dose_days
from .figures import Count, Row, Share, Table, Times
from .periods import PERIOD_KEY, Period
from .quality_data import WEIGHT_LINES, ClinicData, clinic_patients, load_clinic_data
from .side_by_side import SideBySide
from .teach_back import TeachBackResult, teach_back_results_of

# clinical-reference: section 7 ("49% of STORM patients had a dose reduction and 61% an interruption (PQI)")
TRIAL_REDUCED_PCT = 49.0
TRIAL_INTERRUPTED_PCT = 61.0
DISCONTINUED, HELD = PlanStatus.DISCONTINUED.value, PlanStatus.HELD.value  # read once (an enum's value is slow)
WEEKS_1_TO_8 = 8
PAGE_PATIENTS = 50  # patients listed on the page in a by-patient table


@dataclass
class QualityReport:
    period: Period
    tables: list[Table]
    patients: dict[int, Any]  # the stored patient rows (quality_data.PatientFacts.patient)

    def table(self, key: str) -> Table:
        """The table with this key (KeyError if none)."""
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


def quality_report(
    session: Session, clinic: Clinic, settings: Settings, period: Period, now: datetime
) -> QualityReport:
    """The clinic's quality report for the period, as of `now`."""
    reads = SideBySide(session)
    mine = clinic_patients(clinic.id or 0)
    dose_days = reads.start(lambda conn: read_dose_days(conn, mine, period, now))
    # Monitoring windows end in the period and start up to a month before it.
    monitoring_from = period.first - timedelta(days=MONTHLY_INTERVAL_DAYS)
    data = load_clinic_data(session, reads, clinic.id or 0, period, monitoring_from)
    today = now.astimezone(period.zone).date()
    # The checklist and teach-back of each patient's current plan version (the last one loaded), as their pages show.
    # Only the new starts of the period are counted.
    current = {
        pid: (facts.patient, facts.plans[-1])
        for pid, facts in sorted(data.patients.items())
        if facts.therapy_start is not None and period.first <= facts.therapy_start <= period.last
    }
    checklist = completed_at_of(session, list(current.values()), {pid: data.patients[pid].plans[0] for pid in current})
    teach_back = teach_back_results_of(session, {pid: plan for pid, (_, plan) in current.items()})
    program = _program_table(data, period, checklist, teach_back)
    others = [
        _monitoring_table(data, period, today),
        alert_table(data.alerts, period, ClinicHours.from_settings(settings), now, settings.escalation_after),
        _modification_table(data, period),
        _weight_table(data, period),
        _reminder_table(data, period),
    ]
    # The doses last: their read is the longest, and the tables above are built while the database counts them.
    tables = [program, *_dose_tables(data, dose_days(), period, now), *others]
    return QualityReport(period, tables, {pid: facts.patient for pid, facts in data.patients.items()})


# --------------------------------------------------------------------------- checklist and teach-back


def _program_table(
    data: ClinicData, period: Period, checklist: dict[int, datetime | None], teach_back: dict[int, TeachBackResult]
) -> Table:
    table = Table(
        "program",
        "Start of therapy: checklist and teach-back",
        "New starts: patients whose first plan starts in the month. Checklist complete before the first dose: every "
        "item of the patient's start checklist done (for their current plan, as the checklist shows it) at or before "
        "the first scheduled dose of their first plan. Teach-back passed: the patient's latest schedule teach-back "
        "(about their current plan, or the last plan version answered about when it is held or stopped) has every "
        "question answered right, first or second try.",
        [
            ("new_starts", "New starts"),
            ("checklist", "Checklist complete before the first dose"),
            ("teach_back", "Teach-back passed"),
        ],
    )
    figures = {b.key: (Count("patients"), Share("patients"), Share("patients")) for b in period.buckets}
    for pid, facts in data.patients.items():
        start = facts.therapy_start
        keys = period.bucket_keys(start) if start is not None else ()
        if not keys:
            continue
        completed = checklist.get(pid)
        # The checklist's own first dose (checklist.first_dose_of), of the plan the patient started with.
        first = first_dose_of(facts.patient, facts.plans[0])
        result = teach_back.get(pid)
        for key in keys:
            starts, done, passed = figures[key]
            starts.add(pid)
            done.add(pid, int(completed is not None and (first is None or completed <= first)))
            passed.add(pid, int(result is not None and result.passed is True))
    for bucket in period.buckets:
        starts, done, passed = figures[bucket.key]
        table.rows.append(
            Row(bucket.key, bucket.label, {"new_starts": starts, "checklist": done, "teach_back": passed})
        )
    return table


# --------------------------------------------------------------------------- doses and the antiemetic


def _dose_tables(data: ClinicData, dose_days: DoseDays, period: Period, now: datetime) -> list[Table]:
    # clinical-reference: R-MISS-2 (doses on hold as directed are not missed: held days are not scheduled doses)
    adherence = Table(
        "doses",
        "Dose adherence",
        "Scheduled doses are the dose days of the plan version in force at each dose time (held days are not "
        "scheduled), up to yesterday; logs of today are counted from tomorrow. Wrong-day: a dose logged on a day "
        "without a scheduled dose, or a second one.",
        [
            ("scheduled", "Scheduled doses"),
            ("taken", "Logged taken"),
            ("missed", "Logged missed"),
            ("vomited", "Logged vomited"),
            ("not_logged", "Not logged"),
            ("wrong_day", "Wrong-day doses"),
        ],
    )
    # clinical-reference: P-ANTIEMETIC (anti-nausea medicine before each dose)
    antiemetic = Table(
        "antiemetic",
        "Anti-nausea medicine logged before selinexor",
        "Of the doses logged taken (up to yesterday), those with anti-nausea medicine logged before them.",
        [("before", "Anti-nausea medicine before the dose")],
    )
    by_patient = Table(
        "antiemetic_by_patient",
        "Anti-nausea medicine before selinexor, by patient (whole period)",
        "Of each patient's doses logged taken in the period.",
        [("before", "Anti-nausea medicine before the dose")],
    )
    buckets, calendar_months = period.buckets, period.months
    outcomes = ("taken", "missed", "vomited", "not_logged")
    per: dict[str, dict[str, dict[int, tuple[int, int]]]] = {b.key: {c: {} for c in (*outcomes, "ae")} for b in buckets}
    wrong: dict[str, dict[int, int]] = {b.key: {} for b in buckets}
    scheduled_per: dict[str, dict[int, int]] = {b.key: {} for b in buckets}
    until = {
        pid: min(period.last, now.astimezone(ZoneInfo(facts.patient.timezone)).date() - timedelta(days=1))
        for pid, facts in data.patients.items()
    }
    logged = logged_doses(dose_days, data.patients, period, until)
    for pid, facts in data.patients.items():
        if not facts.plans:
            continue
        # Scheduled doses per month, from the calendar (held days are not scheduled); the days come sorted.
        days = scheduled_dose_days(facts.patient, facts.plans, period.first, until[pid])
        scheduled: dict[str, int] = {}
        for month in calendar_months:
            count = bisect_right(days, month.last) - bisect_left(days, month.first)
            if count:
                scheduled[month.key] = count
        months = logged.get(pid, {})
        total, total_scheduled = MonthDoses(), sum(scheduled.values())
        for key in {*scheduled, *months}:
            month = months.get(key) or MonthDoses()
            _add_doses(per[key], wrong[key], scheduled_per[key], pid, scheduled.get(key, 0), month)
            total.add(month)
        _add_doses(per[PERIOD_KEY], wrong[PERIOD_KEY], scheduled_per[PERIOD_KEY], pid, total_scheduled, total)
        if pid in per[PERIOD_KEY]["ae"]:
            by_patient.rows.append(
                Row(
                    str(pid),
                    f"{facts.patient.last_name}, {facts.patient.first_name} ({facts.patient.mrn})",
                    {"before": Share("doses", {pid: per[PERIOD_KEY]["ae"][pid]})},
                )
            )
    for b in buckets:
        cells: dict = {c: Share("doses", per[b.key][c]) for c in outcomes}
        adherence.rows.append(
            Row(
                b.key,
                b.label,
                {
                    **cells,
                    "scheduled": Count("doses", scheduled_per[b.key]),
                    "wrong_day": Count("doses", wrong[b.key]),
                },
            )
        )
        antiemetic.rows.append(Row(b.key, b.label, {"before": Share("doses", per[b.key]["ae"])}))
    by_patient.rows.sort(key=lambda row: row.label)
    # The page lists the patients below 100%, lowest first, a bounded number (a clinic has thousands of patients).
    below = [row for row in by_patient.rows if (row.cells["before"].value or 0) < 100]
    below.sort(key=lambda row: (row.cells["before"].value or 0, row.label))
    by_patient.page_rows = below[:PAGE_PATIENTS]
    by_patient.page_note = (
        f"This page lists the patients below 100%, lowest first ({len(by_patient.page_rows)} of {len(below)} below "
        f"100%, of {len(by_patient.rows)} patients); the CSV lists every patient."
    )
    return [adherence, antiemetic, by_patient]


def _add_doses(
    shares: dict[str, dict[int, tuple[int, int]]],
    wrong: dict[int, int],
    scheduled_count: dict[int, int],
    pid: int,
    scheduled: int,
    month: MonthDoses,
) -> None:
    """One patient's doses of one bucket into its figures (a patient with nothing to count is left out)."""
    if scheduled:
        scheduled_count[pid] = scheduled
        logged = month.taken + month.vomited + month.missed
        for column, num in (
            ("taken", month.taken),
            ("vomited", month.vomited),
            ("missed", month.missed),
            ("not_logged", scheduled - logged),
        ):
            shares[column][pid] = (num, scheduled)
    if month.wrong_day:
        wrong[pid] = month.wrong_day
    if month.ae_den:
        shares["ae"][pid] = (month.ae_num, month.ae_den)


# --------------------------------------------------------------------------- monitoring


def _windows(start: date) -> list[tuple[str, date, date]]:
    """P-MONITOR's windows from the start of therapy: weeks 1-8, then every 28 days (about two years of them)."""
    weeks = [("weeks", start + timedelta(days=7 * k), start + timedelta(days=7 * k + 6)) for k in range(WEEKS_1_TO_8)]
    after = FIRST_WEEKS_DAYS
    months = [
        (
            "months",
            start + timedelta(days=after + MONTHLY_INTERVAL_DAYS * m),
            start + timedelta(days=after + MONTHLY_INTERVAL_DAYS * (m + 1) - 1),
        )
        for m in range(27)
    ]
    return weeks + months


def _window_indexes(start: date, days: list[date]) -> set[int]:
    """The indexes in _windows(start) of the windows holding the days (days before the start hold none)."""
    offsets = [(day - start).days for day in days]
    return {
        WEEKS_1_TO_8 + (offset - FIRST_WEEKS_DAYS) // MONTHLY_INTERVAL_DAYS
        if offset >= FIRST_WEEKS_DAYS
        else offset // 7
        for offset in offsets
        if offset >= 0
    }


# A monitoring tally: [windows, with CBC, with CMP, with weight] for weeks 1-8, then the same for the months after.
ITEMS = ("cbc", "cmp", "weight")
PHASE_AT = {"weeks": 0, "months": 4}


def _monitoring_table(data: ClinicData, period: Period, today: date) -> Table:
    # clinical-reference: P-MONITOR (CBC, chemistry and weight weekly for 8 weeks, then at least monthly)
    columns = [
        (f"{phase}_{item}", f"{label}: {item.upper() if item != 'weight' else 'weight'}")
        for phase, label in (("weeks", "Weeks 1–8"), ("months", "Months after"))
        for item in ITEMS
    ]
    table = Table(
        "monitoring",
        "Monitoring: CBC, CMP (sodium) and weight",
        "Weeks 1–8 from the start of therapy, then 28-day months; a week or month counts in the month it ends, "
        "once it is over. CBC: a CBC with differential, that is platelets, ANC and hemoglobin each recorded in the "
        "week or month (one or more results), as the start checklist's baseline CBC. CMP: a chemistry result "
        "(sodium).",
        columns,
    )
    cells = {
        b.key: {key: Share("weeks" if key.startswith("weeks") else "months") for key, _ in columns}
        for b in period.buckets
    }
    # (column, where its windows are counted in a tally, where those holding the item are)
    places = [(f"{phase}_{item}", at, at + 1 + k) for phase, at in PHASE_AT.items() for k, item in enumerate(ITEMS)]
    # The windows judged in the period, per start of therapy (patients share starts): those over by `today` and
    # ending in the period, each with its month (a window counts in the month it ends; the period is every month).
    judged: dict[date, list[tuple[int, int, date, str]]] = {}
    for pid, facts in data.patients.items():
        start = facts.therapy_start
        if start is None:
            continue
        if start not in judged:
            judged[start] = [
                (index, PHASE_AT[phase], first, keys[0])
                for index, (phase, first, last) in enumerate(_windows(start))
                if last < today and (keys := period.bucket_keys(last))
            ]
        stopped = next((p.created_at for p in facts.plans if p.status == DISCONTINUED), None)
        stop_day = period.local_day(stopped) if stopped is not None else None
        # The windows holding each item; a CBC with differential: platelets, ANC and hemoglobin each in the window.
        cbc = set.intersection(*(_window_indexes(start, days) for days in facts.cbc_field_days.values()))
        cmp, weight = _window_indexes(start, facts.cmp_days), _window_indexes(start, facts.weight_days)
        tallies: dict[str, list[int]] = {}
        for index, at, first, month in judged[start]:
            if stop_day is not None and first > stop_day:
                break  # windows are in order: none after the plan was stopped
            tally = tallies.get(month) or tallies.setdefault(month, [0] * 8)
            tally[at] += 1
            tally[at + 1] += index in cbc
            tally[at + 2] += index in cmp
            tally[at + 3] += index in weight
        if not tallies:
            continue
        tallies[PERIOD_KEY] = [sum(column) for column in zip(*tallies.values())]
        for key, tally in tallies.items():
            row = cells[key]
            for column, windows, held in places:
                if tally[windows]:  # each patient once per figure: their share set directly (thousands of them)
                    row[column].set(pid, tally[held], tally[windows])
    for bucket in period.buckets:
        table.rows.append(Row(bucket.key, bucket.label, dict(cells[bucket.key])))
    return table


# --------------------------------------------------------------------------- dose modifications and weight


def _modification_table(data: ClinicData, period: Period) -> Table:
    table = Table(
        "modifications",
        "Dose modifications",
        "Patients started by the end of the month with at least one dose reduction / interruption (hold) by then, "
        "and days from the start of therapy to the first. Reference: the pivotal trial (STORM), 49% reduced and "
        "61% interrupted.",
        [
            ("reduced", "At least one reduction"),
            ("reduced_days", "Days to first reduction (median)"),
            ("interrupted", "At least one interruption"),
            ("interrupted_days", "Days to first interruption (median)"),
        ],
        reference={"reduced": TRIAL_REDUCED_PCT, "interrupted": TRIAL_INTERRUPTED_PCT},
    )
    firsts: dict[int, dict[str, date]] = {}
    for pid, facts in data.patients.items():
        found: dict[str, date] = {}
        for before, plan in zip(facts.plans, facts.plans[1:]):
            day = period.local_day(plan.created_at)
            if plan.dose_level > before.dose_level:
                found.setdefault("reduced", day)
            if plan.status == HELD and before.status != HELD:
                found.setdefault("interrupted", day)
        firsts[pid] = found
    started = _starts(data)
    for bucket in period.buckets:
        cells: dict = {}
        for kind in ("reduced", "interrupted"):
            cells[kind], cells[f"{kind}_days"] = _cumulative(
                started, {pid: found[kind] for pid, found in firsts.items() if kind in found}, bucket.last
            )
        table.rows.append(Row(bucket.key, bucket.label, cells))
    return table


def _cumulative(started: list[tuple[int, date]], first_on: dict[int, date], last: date) -> tuple[Share, Times]:
    """Of the patients started by `last`, those whose first event (`first_on`) came by then, and the days from their
    start to it: each patient once per figure (thousands of them: built in one pass, not added one by one)."""
    had = {pid: day for pid, day in first_on.items() if day <= last}
    share = Share("patients", {pid: (int(pid in had), 1) for pid, start in started if start <= last})
    days = Times(
        "days", {pid: (float((had[pid] - start).days),) for pid, start in started if start <= last and pid in had}
    )
    return share, days


def _starts(data: ClinicData) -> list[tuple[int, date]]:
    """(patient, start of therapy) of every patient with a plan."""
    return [(pid, facts.therapy_start) for pid, facts in data.patients.items() if facts.therapy_start is not None]


def _weight_table(data: ClinicData, period: Period) -> Table:
    # clinical-reference: R-WT-5, R-WT-10, R-WT-20
    columns: list[tuple[str, str]] = []
    for pct in WEIGHT_LINES:
        columns += [(f"crossed_{pct}", f"Crossed −{pct}%"), (f"days_{pct}", f"Days to −{pct}% (median)")]
    table = Table(
        "weight",
        "Weight loss from the enrollment baseline",
        "Patients started by the end of the month whose weight had reached each line by then, and days from the "
        "start of therapy to the first weight at or past it.",
        columns,
    )
    started = _starts(data)
    crossed_on = {
        pct: {
            pid: period.local_day(facts.crossed_at[pct])
            for pid, facts in data.patients.items()
            if pct in facts.crossed_at
        }
        for pct in WEIGHT_LINES
    }
    for bucket in period.buckets:
        cells: dict = {}
        for pct in WEIGHT_LINES:
            cells[f"crossed_{pct}"], cells[f"days_{pct}"] = _cumulative(started, crossed_on[pct], bucket.last)
        table.rows.append(Row(bucket.key, bucket.label, cells))
    return table


# --------------------------------------------------------------------------- reminders


def _reminder_table(data: ClinicData, period: Period) -> Table:
    table = Table(
        "reminders",
        "Reminders delivered, by channel; SMS opt-outs",
        "Planned reminders that were due (sent, failed, expired or of unknown outcome; not cancelled ones), and how "
        "many reached the patient (SMS: delivered; push: accepted). Opt-outs: patients who opted out of SMS.",
        [("delivered", "Delivered"), ("opted_out", "Opted out of SMS")],
    )
    channels = sorted({channel for _, channel, _ in data.reminders})
    shares = {(b.key, channel): Share("reminders") for b in period.buckets for channel in channels}
    for (pid, channel, month), (due, reached) in data.reminders.items():
        if (month, channel) in shares:  # one row per patient, channel and month: set directly
            shares[(month, channel)].set(pid, reached, due)
            shares[(PERIOD_KEY, channel)].add(pid, reached, due)
    opt_outs = [
        (pid, facts.patient.sms_opted_out_at.astimezone(UTC))
        for pid, facts in data.patients.items()
        if facts.patient.sms_opted_out and facts.patient.sms_opted_out_at is not None
    ]
    for bucket in period.buckets:
        for channel in channels:
            share = shares[(bucket.key, channel)]
            table.rows.append(Row(f"{bucket.key}:{channel}", f"{bucket.label} · {channel}", {"delivered": share}))
        opted = Count("patients", {pid: 1 for pid, at in opt_outs if bucket.holds(at)})
        table.rows.append(Row(f"{bucket.key}:opt-out", f"{bucket.label} · opt-outs", {"opted_out": opted}))
    return table
