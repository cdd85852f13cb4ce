"""The quality report on a clinic whose every figure is known in advance (tests/support/quality.py): an empty month,
a patient starting mid-month, daylight saving inside the period, held weeks that are not missed doses."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from server.db import session_scope
from server.models import Clinic, DoseEvent
from server.services.pqi.periods import parse_period
from server.services.pqi.quality_report import quality_report
from tests.statements import count_statements
from tests.support.quality import FROM, REPORT_NOW, TO, ZONE, build_quality_clinic, utc

# (table, row, column) -> the text the page and the CSV show.
EXPECTED = {
    # Ann in Feb: 2, 4, 9, 11 Feb scheduled; 16-25 Feb held (not scheduled, not missed). March: Ann's Mondays at
    # level 1 (2, 9, 16, 23, 30) and Ben's Tue/Thu from 10 March (7); Ann's Wednesday 4 March is a wrong-day dose.
    ("doses", "2026-01", "scheduled"): "0",
    ("doses", "2026-01", "taken"): "no data",
    ("doses", "2026-02", "scheduled"): "4",
    ("doses", "2026-02", "taken"): "50.0% (2/4)",
    ("doses", "2026-02", "missed"): "25.0% (1/4)",
    ("doses", "2026-02", "vomited"): "25.0% (1/4)",
    ("doses", "2026-02", "not_logged"): "0.0% (0/4)",
    ("doses", "2026-02", "wrong_day"): "0",
    ("doses", "2026-03", "scheduled"): "12",
    ("doses", "2026-03", "taken"): "75.0% (9/12)",
    ("doses", "2026-03", "missed"): "8.3% (1/12)",
    ("doses", "2026-03", "vomited"): "0.0% (0/12)",
    ("doses", "2026-03", "not_logged"): "16.7% (2/12)",
    ("doses", "2026-03", "wrong_day"): "1",
    ("doses", "period", "scheduled"): "16",
    ("doses", "period", "taken"): "68.8% (11/16)",
    ("doses", "period", "missed"): "12.5% (2/16)",
    ("doses", "period", "not_logged"): "12.5% (2/16)",
    ("antiemetic", "2026-01", "before"): "no data",
    ("antiemetic", "2026-02", "before"): "50.0% (1/2)",
    ("antiemetic", "2026-03", "before"): "90.0% (9/10)",
    ("antiemetic", "period", "before"): "83.3% (10/12)",
    # Weeks 1-8 from each start, counted in the month they end; the 23:30 EDT lab of Sun 8 March is week 5. A CBC:
    # platelets, ANC and hemoglobin in the week (Ann's week 2 from two results; Ben's week 2 has no ANC: no CBC).
    ("monitoring", "2026-01", "weeks_cbc"): "no data",
    ("monitoring", "2026-02", "weeks_cbc"): "66.7% (2/3)",
    ("monitoring", "2026-02", "weeks_cmp"): "33.3% (1/3)",
    ("monitoring", "2026-02", "weeks_weight"): "66.7% (2/3)",
    ("monitoring", "2026-03", "weeks_cbc"): "12.5% (1/8)",
    ("monitoring", "2026-03", "weeks_cmp"): "25.0% (2/8)",
    ("monitoring", "2026-03", "weeks_weight"): "37.5% (3/8)",
    ("monitoring", "period", "weeks_cbc"): "27.3% (3/11)",
    ("monitoring", "period", "weeks_weight"): "45.5% (5/11)",
    ("monitoring", "period", "months_cbc"): "no data",
    ("alerts", "2026-03:urgent", "opened"): "1",
    ("alerts", "2026-03:urgent", "ack_median"): "10 min",
    ("alerts", "2026-03:urgent", "ack_p90"): "10 min",
    ("alerts", "2026-03:urgent", "promise"): "100.0% (1/1)",
    ("alerts", "2026-03:urgent", "action_median"): "40 min",
    ("alerts", "2026-03:urgent", "escalated"): "0.0% (0/1)",
    ("alerts", "2026-03:same_day", "ack_median"): "120 min",
    ("alerts", "2026-03:same_day", "promise"): "0.0% (0/1)",
    ("alerts", "2026-03:same_day", "action_median"): "no data",
    ("alerts", "2026-03:same_day", "escalated"): "100.0% (1/1)",
    ("alerts", "2026-02:routine", "ack_median"): "3780 min",
    ("alerts", "2026-02:routine", "promise"): "100.0% (1/1)",
    ("alerts", "2026-01:urgent", "ack_median"): "no data",
    ("alerts", "period:urgent", "opened"): "1",
    ("modifications", "2026-01", "reduced"): "no data",
    ("modifications", "2026-02", "reduced"): "0.0% (0/1)",
    ("modifications", "2026-02", "interrupted"): "100.0% (1/1)",
    ("modifications", "2026-02", "interrupted_days"): "14 days",
    # Started by the end of the month: Ann, then Ann, Ben and Cal (his first dose is in April).
    ("modifications", "2026-03", "reduced"): "33.3% (1/3)",
    ("modifications", "2026-03", "reduced_days"): "27 days",
    ("modifications", "period", "interrupted"): "33.3% (1/3)",
    ("weight", "2026-02", "crossed_5"): "100.0% (1/1)",
    ("weight", "2026-02", "days_5"): "8 days",
    ("weight", "2026-02", "crossed_10"): "0.0% (0/1)",
    ("weight", "2026-03", "crossed_10"): "33.3% (1/3)",
    ("weight", "2026-03", "days_10"): "29 days",
    ("weight", "period", "crossed_20"): "0.0% (0/3)",
    ("reminders", "2026-02:sms", "delivered"): "50.0% (1/2)",
    ("reminders", "2026-02:push", "delivered"): "no data",
    ("reminders", "2026-03:push", "delivered"): "100.0% (1/1)",
    ("reminders", "2026-03:opt-out", "opted_out"): "1",
    ("reminders", "2026-02:opt-out", "opted_out"): "0",
    # New starts: Ann (Feb), Ben and Cal (Mar). Checklist: Ann's complete at 07:00 EST, before her 08:00 first dose;
    # Ben's after his first dose; Cal's incomplete (one item un-ticked). Teach-back: Ann passed about her first plan
    # but answered the tablets wrong twice about the reduced one (the latest counts); Ben none; Cal passed.
    ("program", "2026-01", "new_starts"): "0",
    ("program", "2026-01", "checklist"): "no data",
    ("program", "2026-01", "teach_back"): "no data",
    ("program", "2026-02", "new_starts"): "1",
    ("program", "2026-02", "checklist"): "100.0% (1/1)",
    ("program", "2026-02", "teach_back"): "0.0% (0/1)",
    ("program", "2026-03", "new_starts"): "2",
    ("program", "2026-03", "checklist"): "0.0% (0/2)",
    ("program", "2026-03", "teach_back"): "50.0% (1/2)",
    ("program", "period", "new_starts"): "3",
    ("program", "period", "checklist"): "33.3% (1/3)",
    ("program", "period", "teach_back"): "33.3% (1/3)",
}


@pytest.fixture
def quality_ids(engine):
    return build_quality_clinic(engine)


def _report(engine, settings, ids):
    with Session(engine) as session:
        clinic = session.get(Clinic, ids["clinic"])
        period = parse_period(FROM, TO, ZoneInfo(ZONE), REPORT_NOW)
        return quality_report(session, clinic, settings, period, REPORT_NOW)


def test_every_figure_is_the_one_worked_out_by_hand(engine, settings, quality_ids):
    report = _report(engine, settings, quality_ids)
    assert [m.key for m in report.period.months] == ["2026-01", "2026-02", "2026-03"]
    wrong = {}
    for (table, row, column), text in EXPECTED.items():
        figure = report.table(table).figure(row, column)
        shown = figure.text if figure is not None else None
        if shown != text:
            wrong[(table, row, column)] = shown
    assert not wrong, wrong


def test_figures_count_only_the_clinics_own_patients_and_name_them(engine, settings, quality_ids):
    report = _report(engine, settings, quality_ids)
    assert quality_ids["zed"] not in report.patients
    taken = report.table("doses").figure("2026-03", "taken")
    assert set(taken.per_patient) == {quality_ids["ann"], quality_ids["ben"]}
    assert taken.patient_text(quality_ids["ben"]) == "6/7 doses"
    by_patient = report.table("antiemetic_by_patient")
    assert [(r.label, r.cells["before"].text) for r in by_patient.rows] == [
        ("Archer, Ann (Q-001)", "66.7% (4/6)"),
        ("Baker, Ben (Q-002)", "100.0% (6/6)"),
    ]


def test_the_report_costs_a_fixed_number_of_statements(engine, settings, quality_ids):
    with count_statements(engine) as counted:
        _report(engine, settings, quality_ids)
    # The clinic, seven loaders, the doses counted in SQL (with the logs without a dose day and the clinic's time
    # zones), the checklist's ticks and baseline labs, the teach-back answers: the same whatever the clinic's size
    # (the bench: 2,000 patients).
    assert counted.count <= 15, counted.statements


def test_the_report_and_the_checklist_mean_the_same_cbc():
    from server.services.pqi.checklist import CBC_FIELDS as CHECKLIST_CBC
    from server.services.pqi.quality_data import CBC_FIELDS

    assert CBC_FIELDS == CHECKLIST_CBC == ("platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl")


def test_a_dose_logged_after_yesterday_is_not_judged_yet(engine, settings, quality_ids):
    # Thu 16 Apr 11:00 EDT: Ben logged today's 09:00 dose; the period ends today, doses are counted up to yesterday.
    now = utc("2026-04-16T15:00")
    with session_scope(engine) as s:
        s.add(
            DoseEvent(
                patient_id=quality_ids["ben"],
                idempotency_key="q-dose-today",
                scheduled_for=date(2026, 4, 16),
                at=utc("2026-04-16T14:00"),
                status="taken",
                antiemetic_taken=True,
                recorded_at=utc("2026-04-16T14:00"),
            )
        )
    with Session(engine) as session:
        clinic = session.get(Clinic, quality_ids["clinic"])
        period = parse_period("2026-04-01", "2026-04-16", ZoneInfo(ZONE), now)
        report = quality_report(session, clinic, settings, period, now)
    doses = report.table("doses")
    # Scheduled 1-15 Apr: Ann's Mondays 6, 13; Ben's Tue/Thu 2, 7, 9, 14; Cal's Wed/Fri 1, 3, 8, 10, 15 (none logged).
    assert [doses.figure("2026-04", c).text for c in ("scheduled", "taken", "not_logged", "wrong_day")] == [
        "11",
        "0.0% (0/11)",
        "100.0% (11/11)",
        "0",
    ]
    assert report.table("antiemetic").figure("2026-04", "before").text == "no data"


def test_rows_of_a_patient_enrolled_while_the_report_reads_are_left_for_the_next_reading():
    # On PostgreSQL the reads run side by side on their own connections (side_by_side.py), so a dose read may see a
    # patient the patients' read did not: their rows are skipped, never a KeyError (a 500 for the whole report).
    from server.services.pqi.dose_counts import DoseDays, _Day, logged_doses

    period = parse_period(FROM, TO, ZoneInfo(ZONE), REPORT_NOW)
    stranger = 10_000
    read = DoseDays(
        loose={stranger: {date(2026, 3, 4): _Day(["taken"], [True])}},
        rows=[
            (stranger, "2026-03", 1, None, 1, 0, 0, 1, 0, 1, 1),
            (stranger, "2026-03", 0, date(2026, 3, 5), 1, 0, 0, 1, 0, 1, 1),
        ],
    )
    assert logged_doses(read, {}, period, {}) == {}
