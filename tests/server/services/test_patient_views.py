"""Read models behind Today and History: the dose day, the week, the adherence calendar, the weight chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from server.context import AppContext
from server.services.entries import record_dose, record_weight
from server.services.patient_views import history_view, kg_in, today_view
from server.services.plans import change_plan
from tests.support.patient import make_patient


def test_today_on_day_1_lists_antiemetic_dexamethasone_and_selinexor_in_order(engine, patient, clock):
    view = today_view(engine, patient, clock.now())
    assert view.today == date(2026, 3, 2) and view.day_number == 1
    assert [item.kind for item in view.items if item.kind in ("antiemetic", "dexamethasone", "selinexor")] == [
        "antiemetic",
        "dexamethasone",
        "selinexor",
    ]
    assert (view.dose.dose_mg, view.dose.tablets) == (80, 4)
    assert view.next_dose.local.date() == date(2026, 3, 4)  # Day 3 after today
    assert [d.dose is not None for d in view.week] == [True, False, True, False, False, False, False]


def test_a_late_night_entry_belongs_to_the_patients_own_day(engine, settings, clock):
    # 03:00 UTC on Tuesday is still Monday evening in Los Angeles.
    patient = make_patient(engine, settings, clock.now(), mrn="LA", timezone="America/Los_Angeles", day1=0)
    view = today_view(engine, patient, datetime(2026, 3, 3, 3, 0, tzinfo=UTC))
    assert view.today == date(2026, 3, 2) and view.dose is not None


def test_held_plan_shows_no_dose_and_marks_the_pattern_days(engine, settings, patient, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    change_plan(
        ctx,
        patient.id,
        staff_id=None,
        operation="hold",
        reason="test",
        hold_rule="R-WT-10",
        dexamethasone_on_hold="hold",
    )
    view = today_view(engine, patient, clock.now())
    assert view.status == "held" and view.dose is None and view.next_dose is None
    assert [d.held for d in view.week][:3] == [True, False, True]


def test_calendar_marks_taken_missed_not_recorded_and_upcoming(engine, settings, patient, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    record_dose(ctx, patient.id, key="cal-taken-001", status="taken", at=clock.now() - timedelta(hours=1))
    record_dose(ctx, patient.id, key="cal-missed-01", status="missed", at=clock.now(), scheduled_for=date(2026, 2, 25))
    view = history_view(engine, patient, clock.now())
    days = {d.day: d for week in view.weeks for d in week}
    assert days[date(2026, 3, 2)].status == "taken" and days[date(2026, 3, 2)].is_today
    assert days[date(2026, 2, 25)].status == "missed"
    assert days[date(2026, 2, 23)].status == "not_recorded"
    assert days[date(2026, 2, 24)].status == "none"
    assert days[date(2026, 3, 4)].status == "upcoming"
    assert days[date(2026, 2, 9)].status == "before"  # the plan started on 16 February
    assert view.weeks[0][0].day.weekday() == 6  # weeks start on Sunday, as on a US calendar
    assert view.counts["taken"] == 1 and view.counts["missed"] == 1


def test_weight_chart_scales_points_between_the_guides(engine, settings, patient, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    record_weight(ctx, patient.id, key="chart-w-0001", at=clock.now() - timedelta(days=3), value=70.0, unit="kg")
    record_weight(ctx, patient.id, key="chart-w-0002", at=clock.now(), value=61.6, unit="kg", confirmed=True)
    chart = history_view(engine, patient, clock.now()).chart
    guides = {g.name: g for g in chart.guides}
    assert [guides[n].value for n in ("baseline", "minus10", "minus20")] == [70.0, 63.0, 56.0]
    first, last = chart.points
    assert first.y == guides["baseline"].y  # at the baseline
    assert guides["minus10"].y < last.y < guides["minus20"].y  # 12% below: between the two lines
    assert (first.x, last.x) == (chart.left, chart.right)
    assert last.pct_below == 12.0


def test_weights_show_in_the_patients_unit():
    assert kg_in("lb", 70.0) == 154.3 and kg_in("kg", 61.64) == 61.6
