"""Schedules (clinical reference sections 1 and 2), including daylight-saving changes and property-based checks."""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.clinical.grading import ClinicalValidationError
from server.clinical.regimens import REGIMENS, DexamethasoneOnHold, Plan, PlanStatus, reduce
from server.clinical.schedule import (
    WEEKDAYS,
    EventKind,
    ScheduleSetup,
    dexamethasone_weekdays,
    dose_on_local_date,
    events_between,
    events_for_local_days,
    next_dose,
    resolve_local,
)

MON, TUE, WED, SUN = 0, 1, 2, 6
START = date(2026, 3, 2)  # a Monday
UTC = UTC


def setup_for(
    regimen="Xd",
    level=0,
    status=PlanStatus.ACTIVE,
    start=START,
    day1=MON,
    dose_time=time(8, 0),
    tz="America/New_York",
    offset=30,
    strength=20,
    dexamethasone_on_hold=DexamethasoneOnHold.CONTINUE,
):
    return ScheduleSetup(
        plan=Plan(regimen, level, status, strength, dexamethasone_on_hold),
        start_date=start,
        day1_weekday=day1,
        day3_weekday=(day1 + 2) % 7,
        dose_time=dose_time,
        timezone=tz,
        antiemetic_offset_min=offset,
    )


def of_kind(events, kind):
    return [e for e in events if e.kind is kind]


def test_weekdays_are_python_weekday_numbers():
    assert WEEKDAYS.index("mon") == date(2026, 3, 2).weekday() == 0


def test_xd_starting_dose_is_80_mg_on_days_1_and_3_with_dexamethasone_and_antiemetic():
    events = events_for_local_days(setup_for(), START, 14)
    doses = of_kind(events, EventKind.SELINEXOR_DOSE)
    assert [d.local.date() for d in doses] == [date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 11)]
    assert all((d.dose_mg, d.tablets, d.local.time()) == (80, 4, time(8, 0)) for d in doses)
    dex = of_kind(events, EventKind.DEXAMETHASONE)
    assert [e.utc for e in dex] == [d.utc for d in doses]
    assert all(e.dose_mg == 20 for e in dex)
    antiemetics = of_kind(events, EventKind.ANTIEMETIC)
    assert [a.utc + timedelta(minutes=30) for a in antiemetics] == [d.utc for d in doses]
    assert not of_kind(events, EventKind.BORTEZOMIB_CLINIC)


@pytest.mark.parametrize(
    "regimen,level,weekdays,dose_mg,tablets",
    [
        ("Xd", 0, {MON, WED}, 80, 4),
        ("Xd", 1, {MON}, 100, 5),
        ("Xd", 2, {MON}, 80, 4),
        ("Xd", 3, {MON}, 60, 3),
        ("XVd", 0, {MON}, 100, 5),
        ("XVd", 1, {MON}, 80, 4),
        ("XVd", 2, {MON}, 60, 3),
        ("XVd", 3, {MON}, 40, 2),
        ("DLBCL", 0, {MON, WED}, 60, 3),
        ("DLBCL", 1, {MON, WED}, 40, 2),
        ("DLBCL", 2, {MON}, 60, 3),
        ("DLBCL", 3, {MON}, 40, 2),
    ],
)
def test_every_level_schedules_its_dose_on_its_days(regimen, level, weekdays, dose_mg, tablets):
    doses = of_kind(events_for_local_days(setup_for(regimen, level), START, 28), EventKind.SELINEXOR_DOSE)
    assert {d.local.weekday() for d in doses} == weekdays
    assert len(doses) == 4 * len(weekdays)
    assert all((d.dose_mg, d.tablets) == (dose_mg, tablets) for d in doses)


@pytest.mark.parametrize("regimen", ["Xd", "DLBCL"])
def test_reducing_to_the_first_once_weekly_level_drops_day_3(regimen):
    plan = Plan(regimen, 0 if regimen == "Xd" else 1)
    before = setup_for(regimen, plan.level)
    after = setup_for(regimen, reduce(plan).level)
    assert dose_on_local_date(before, date(2026, 3, 4)) is not None
    assert dose_on_local_date(after, date(2026, 3, 4)) is None
    assert dose_on_local_date(after, date(2026, 3, 2)) is not None


def test_tablet_count_follows_the_patients_tablet_strength():
    doses = of_kind(events_for_local_days(setup_for("XVd", 0, strength=50), START, 7), EventKind.SELINEXOR_DOSE)
    assert (doses[0].dose_mg, doses[0].tablets) == (100, 2)


def test_xvd_dexamethasone_on_days_1_and_2():
    events = events_for_local_days(setup_for("XVd", 0), START, 14)
    dex_days = [e.local.date() for e in of_kind(events, EventKind.DEXAMETHASONE)]
    assert dex_days == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 9), date(2026, 3, 10)]


def test_dlbcl_has_no_dexamethasone_or_bortezomib():
    events = events_for_local_days(setup_for("DLBCL", 0), START, 35)
    assert not of_kind(events, EventKind.DEXAMETHASONE)
    assert not of_kind(events, EventKind.BORTEZOMIB_CLINIC)


def test_xvd_bortezomib_weekly_for_four_weeks_then_one_week_off_in_35_day_cycles():
    events = events_for_local_days(setup_for("XVd", 0), START, 70)
    days = [(e.local.date() - START).days for e in of_kind(events, EventKind.BORTEZOMIB_CLINIC)]
    assert days == [0, 7, 14, 21, 35, 42, 49, 56]
    assert all(e.local.time() == time(9, 0) for e in of_kind(events, EventKind.BORTEZOMIB_CLINIC))


def test_bortezomib_cycle_counts_from_the_start_date_even_when_it_is_not_day_1():
    start = date(2026, 3, 4)  # a Wednesday; Day 1 is Monday
    events = events_for_local_days(setup_for("XVd", 0, start=start), start, 70)
    days = [(e.local.date() - start).days for e in of_kind(events, EventKind.BORTEZOMIB_CLINIC)]
    assert days == [5, 12, 19, 26, 40, 47, 54, 61]


def test_no_events_before_the_start_date():
    setup = setup_for(start=date(2026, 3, 4))
    assert events_for_local_days(setup, date(2026, 3, 1), 3) == []
    assert of_kind(events_for_local_days(setup, date(2026, 3, 1), 4), EventKind.SELINEXOR_DOSE)[0].local.date() == date(
        2026, 3, 4
    )


@pytest.mark.parametrize("status", [PlanStatus.HELD, PlanStatus.DISCONTINUED])
def test_held_or_discontinued_plans_have_no_dose_events(status):
    setup = setup_for("XVd", 0, status=status, dexamethasone_on_hold=DexamethasoneOnHold.HOLD)
    events = events_for_local_days(setup, START, 28)
    assert not {e.kind for e in events} & {EventKind.SELINEXOR_DOSE, EventKind.ANTIEMETIC, EventKind.DEXAMETHASONE}
    assert next_dose(setup, datetime(2026, 3, 1, tzinfo=UTC)) is None
    assert dose_on_local_date(setup, START) is None


def test_held_plan_keeps_monitoring_and_clinic_days():
    setup = setup_for("XVd", 0, status=PlanStatus.HELD, dexamethasone_on_hold=DexamethasoneOnHold.HOLD)
    kinds = {e.kind for e in events_for_local_days(setup, START, 28)}
    assert kinds == {EventKind.WEIGHT_PROMPT, EventKind.BLOOD_TEST, EventKind.BORTEZOMIB_CLINIC}


@pytest.mark.parametrize(
    "regimen,level,days",
    [
        ("Xd", 0, [0, 2, 7, 9]),  # Days 1 and 3 (Mon, Wed)
        ("Xd", 1, [0, 7]),  # once weekly at level 1: Day 1 only
        ("XVd", 0, [0, 1, 7, 8]),  # Days 1 and 2 (Mon, Tue)
    ],
)
def test_a_hold_that_keeps_dexamethasone_keeps_its_days_and_nothing_else(regimen, level, days):
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs")
    active = events_for_local_days(setup_for(regimen, level), START, 14)
    held = events_for_local_days(setup_for(regimen, level, status=PlanStatus.HELD), START, 14)
    dexa = of_kind(held, EventKind.DEXAMETHASONE)
    assert [(e.local.date() - START).days for e in dexa] == days
    assert dexa == of_kind(active, EventKind.DEXAMETHASONE)  # same instants and doses as prescribed
    assert {e.dose_mg for e in dexa} == {20}
    assert not of_kind(held, EventKind.SELINEXOR_DOSE) and not of_kind(held, EventKind.ANTIEMETIC)


def test_a_hold_of_dlbcl_has_no_dexamethasone_to_keep():
    held = events_for_local_days(setup_for("DLBCL", 0, status=PlanStatus.HELD), START, 14)
    assert not of_kind(held, EventKind.DEXAMETHASONE)


@pytest.mark.parametrize(
    "regimen,level,day1,expected",
    [
        ("Xd", 0, MON, (0, 2)),
        ("Xd", 1, MON, (0,)),
        ("XVd", 0, MON, (0, 1)),
        ("XVd", 0, SUN, (0, 6)),
        ("Xd", 0, 5, (0, 5)),
        ("DLBCL", 0, MON, ()),
    ],
)
def test_dexamethasone_weekdays_follow_the_level(regimen, level, day1, expected):
    assert dexamethasone_weekdays(setup_for(regimen, level, day1=day1)) == expected


def test_discontinued_plan_has_no_events_at_all():
    assert events_for_local_days(setup_for(status=PlanStatus.DISCONTINUED), START, 28) == []


def test_weight_prompts_on_dose_days_for_8_weeks_then_weekly_on_day_1():
    events = events_for_local_days(setup_for("Xd", 0), START, 84)
    prompts = [(e.local.date() - START).days for e in of_kind(events, EventKind.WEIGHT_PROMPT)]
    first_weeks = [d for d in prompts if d < 56]
    later = [d for d in prompts if d >= 56]
    assert first_weeks == [w * 7 + x for w in range(8) for x in (0, 2)]
    assert later == [56, 63, 70, 77]
    assert all(e.local.time() == time(8, 0) for e in of_kind(events, EventKind.WEIGHT_PROMPT))


def test_blood_tests_baseline_weekly_for_8_weeks_then_every_4_weeks():
    events = events_for_local_days(setup_for("Xd", 0), START, 150)
    days = [(e.local.date() - START).days for e in of_kind(events, EventKind.BLOOD_TEST)]
    assert days == [0, 7, 14, 21, 28, 35, 42, 49, 56, 84, 112, 140]
    assert "baseline" in of_kind(events, EventKind.BLOOD_TEST)[0].note


def test_antiemetic_offset_is_configurable():
    events = events_for_local_days(setup_for(offset=60), START, 7)
    antiemetic = of_kind(events, EventKind.ANTIEMETIC)[0]
    assert antiemetic.local.time() == time(7, 0)


def test_antiemetic_for_an_early_dose_falls_on_the_evening_before():
    setup = setup_for(dose_time=time(0, 15))
    window = events_between(setup, datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 5, tzinfo=UTC))
    # P-MONITOR (reference v2): the start date's baseline blood test is due 2 h before that 00:15 dose
    assert [e.kind for e in window] == [EventKind.BLOOD_TEST, EventKind.ANTIEMETIC]
    assert window[0].local == datetime(2026, 3, 1, 22, 15, tzinfo=ZoneInfo("America/New_York"))
    assert window[1].local == datetime(2026, 3, 1, 23, 45, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    "dose_time,expected",
    [
        (time(10, 59), time(8, 59)),  # below 11:00: 2 h before the dose
        (time(11, 0), time(9, 0)),  # at: 09:00 is exactly 2 h before
        (time(11, 1), time(9, 0)),  # above: 09:00 as usual
        (time(8, 0), time(6, 0)),
    ],
)
def test_a_blood_test_on_a_dose_day_is_due_at_least_2_hours_before_the_dose(dose_time, expected):
    setup = setup_for(dose_time=dose_time)
    for day in (START, START + timedelta(days=7)):  # baseline and week 2, both Mondays (dose days)
        [test] = of_kind(events_for_local_days(setup, day, 1), EventKind.BLOOD_TEST)
        assert test.local.time() == expected and "before today's selinexor dose" in test.note
        assert dose_on_local_date(setup, day).utc - test.utc >= timedelta(hours=2)


def test_a_blood_test_on_a_day_without_a_dose_stays_at_09_00():
    setup = setup_for(day1=TUE, dose_time=time(8, 0), start=START)  # the start date (Monday) is not a dose day
    [test] = of_kind(events_for_local_days(setup, START, 1), EventKind.BLOOD_TEST)
    assert test.local.time() == time(9, 0) and "before" not in test.note
    held = setup_for(status=PlanStatus.HELD, dose_time=time(8, 0))  # no dose while held
    assert of_kind(events_for_local_days(held, START, 1), EventKind.BLOOD_TEST)[0].local.time() == time(9, 0)


def test_events_between_is_half_open_and_sorted():
    setup = setup_for()
    dose = dose_on_local_date(setup, START)
    events = events_between(setup, dose.utc, dose.utc + timedelta(days=3))
    assert events[0].utc == dose.utc
    assert dose.utc not in [e.utc for e in events_between(setup, dose.utc - timedelta(hours=1), dose.utc)]
    assert [e.utc for e in events] == sorted(e.utc for e in events)


def test_events_at_the_same_instant_put_weighing_and_antiemetic_before_the_tablets():
    events = events_for_local_days(setup_for(offset=0), START, 1)
    kinds = [e.kind for e in events if e.local.time() == time(8, 0)]
    assert kinds == [EventKind.WEIGHT_PROMPT, EventKind.ANTIEMETIC, EventKind.DEXAMETHASONE, EventKind.SELINEXOR_DOSE]


def test_next_dose_is_at_or_after_now():
    setup = setup_for()
    first = dose_on_local_date(setup, START)
    assert next_dose(setup, first.utc) == first
    assert next_dose(setup, first.utc + timedelta(seconds=1)).local.date() == date(2026, 3, 4)
    assert next_dose(setup, datetime(2026, 1, 1, tzinfo=UTC)) == first


def test_naive_datetimes_are_refused():
    with pytest.raises(ClinicalValidationError):
        next_dose(setup_for(), datetime(2026, 3, 2, 8))


@pytest.mark.parametrize("day1,day3", [(MON, TUE), (MON, MON), (SUN, WED), (MON, 7)])
def test_day_3_must_be_two_days_after_day_1(day1, day3):
    with pytest.raises(ClinicalValidationError):
        ScheduleSetup(Plan("Xd", 0), START, day1, day3, time(8), "America/New_York")


def test_day_3_wraps_around_the_week():
    setup = ScheduleSetup(Plan("Xd", 0), START, 5, 0, time(8), "America/New_York")  # Saturday and Monday
    doses = of_kind(events_for_local_days(setup, START, 7), EventKind.SELINEXOR_DOSE)
    assert [d.local.weekday() for d in doses] == [0, 5]


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("timezone", {"timezone": "Mars/Olympus"}),
        ("antiemetic_offset_min", {"antiemetic_offset_min": -5}),
        ("dose_time", {"dose_time": time(8, tzinfo=UTC)}),
    ],
)
def test_setup_refuses_bad_values(field, kwargs):
    base = dict(
        plan=Plan("Xd", 0),
        start_date=START,
        day1_weekday=0,
        day3_weekday=2,
        dose_time=time(8),
        timezone="America/New_York",
    )
    with pytest.raises(ClinicalValidationError) as err:
        ScheduleSetup(**{**base, **kwargs})
    assert err.value.field == field


# ---------------------------------------------------------------- daylight saving

# (zone, date of the change, which way); all four changes fall on Sundays in 2026.
DST_CHANGES = [
    ("America/New_York", date(2026, 3, 8), "spring"),
    ("America/New_York", date(2026, 11, 1), "autumn"),
    ("Europe/Berlin", date(2026, 3, 29), "spring"),
    ("Europe/Berlin", date(2026, 10, 25), "autumn"),
]


@pytest.mark.parametrize("tz,change,direction", DST_CHANGES)
def test_an_0800_dose_stays_0800_local_across_the_change(tz, change, direction):
    setup = setup_for(start=change - timedelta(days=14), day1=SUN, tz=tz)  # Sundays and Tuesdays
    doses = of_kind(events_for_local_days(setup, change - timedelta(days=7), 14), EventKind.SELINEXOR_DOSE)
    assert all(d.local.time() == time(8, 0) for d in doses)
    offsets = {d.local.utcoffset() for d in doses}
    assert len(offsets) == 2  # the UTC instant moves, the wall time does not
    before = next(d for d in doses if d.local.date() < change)
    after = next(d for d in doses if d.local.date() >= change)
    assert (after.local.utcoffset() > before.local.utcoffset()) == (direction == "spring")


@pytest.mark.parametrize(
    "tz,change,wall,expected_wall,expected_utc",
    [
        ("America/New_York", date(2026, 3, 8), time(2, 30), time(3, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 3, 29), time(2, 30), time(3, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_a_dose_time_in_the_spring_gap_moves_forward_by_the_gap(tz, change, wall, expected_wall, expected_utc):
    setup = setup_for(start=change - timedelta(days=7), day1=SUN, tz=tz, dose_time=wall)
    dose = dose_on_local_date(setup, change)
    assert (dose.local.time(), dose.utc) == (expected_wall, expected_utc)
    assert resolve_local(change, wall, ZoneInfo(tz)) == dose.local
    # a week later the dose is back at the chosen wall time
    assert dose_on_local_date(setup, change + timedelta(days=7)).local.time() == wall


@pytest.mark.parametrize(
    "tz,change,wall,expected_utc",
    [
        ("America/New_York", date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 10, 25), time(2, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_dose_time_in_the_autumn_fold_is_the_first_occurrence(tz, change, wall, expected_utc):
    setup = setup_for(start=change - timedelta(days=7), day1=SUN, tz=tz, dose_time=wall)
    dose = dose_on_local_date(setup, change)
    assert dose.local.time() == wall
    assert dose.utc == expected_utc
    assert dose.local.fold == 0
    # the same answer every time
    assert all(dose_on_local_date(setup, change) == dose for _ in range(3))


@pytest.mark.parametrize("tz,change,direction", DST_CHANGES)
def test_antiemetic_precedes_the_dose_by_elapsed_minutes_across_the_change(tz, change, direction):
    setup = setup_for(start=change - timedelta(days=7), day1=SUN, tz=tz, dose_time=time(3, 0), offset=90)
    events = events_for_local_days(setup, change - timedelta(days=1), 2)
    dose = of_kind(events, EventKind.SELINEXOR_DOSE)[0]
    antiemetic = of_kind(events, EventKind.ANTIEMETIC)[0]
    assert dose.utc - antiemetic.utc == timedelta(minutes=90)


@pytest.mark.parametrize("tz,change,direction", DST_CHANGES)
def test_the_day_of_the_change_has_one_dose(tz, change, direction):
    setup = setup_for(start=change - timedelta(days=7), day1=SUN, tz=tz, dose_time=time(2, 30))
    doses = of_kind(events_for_local_days(setup, change, 1), EventKind.SELINEXOR_DOSE)
    assert len(doses) == 1


# ---------------------------------------------------------------- properties

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "UTC",
    "America/Santiago",
]


@st.composite
def setups(draw, status=None):
    regimen = draw(st.sampled_from(sorted(REGIMENS)))
    level = draw(st.integers(0, 3))
    status = status or draw(st.sampled_from(list(PlanStatus)))
    start = draw(st.dates(date(2025, 1, 1), date(2028, 12, 31)))
    day1 = draw(st.integers(0, 6))
    dose_time = draw(st.times())
    tz = draw(st.sampled_from(ZONES))
    offset = draw(st.integers(0, 240))
    dexamethasone_on_hold = draw(st.sampled_from(list(DexamethasoneOnHold)))
    return ScheduleSetup(
        Plan(regimen, level, status, dexamethasone_on_hold=dexamethasone_on_hold),
        start,
        day1,
        (day1 + 2) % 7,
        dose_time.replace(microsecond=0),
        tz,
        offset,
    )


@settings(max_examples=60, deadline=None)
@given(setups(), st.integers(0, 60), st.integers(1, 35))
def test_never_two_selinexor_doses_on_one_local_day(setup, skip_days, days):
    events = events_for_local_days(setup, setup.start_date + timedelta(days=skip_days), days)
    per_day = Counter(e.local.date() for e in of_kind(events, EventKind.SELINEXOR_DOSE))
    assert all(n == 1 for n in per_day.values())


@settings(max_examples=60, deadline=None)
@given(setups(status=PlanStatus.ACTIVE), st.integers(0, 60), st.integers(1, 35))
def test_every_antiemetic_precedes_its_dose_by_the_offset(setup, skip_days, days):
    first = setup.start_date + timedelta(days=skip_days)
    # look one day wider so every dose's antiemetic is inside the window
    events = events_for_local_days(setup, first - timedelta(days=1), days + 2)
    doses = {e.utc for e in of_kind(events, EventKind.SELINEXOR_DOSE)}
    antiemetics = {
        e.utc + timedelta(minutes=setup.antiemetic_offset_min) for e in of_kind(events, EventKind.ANTIEMETIC)
    }
    inner = {d for d in doses if first <= d.astimezone(setup.zone).date() < first + timedelta(days=days)}
    assert inner <= antiemetics
    for instant in antiemetics:  # none without its dose
        dose = dose_on_local_date(setup, instant.astimezone(setup.zone).date())
        assert dose is not None and dose.utc == instant


@settings(max_examples=40, deadline=None)
@given(setups(status=PlanStatus.HELD), st.integers(0, 60), st.integers(1, 35))
def test_nothing_while_held_except_what_staff_chose_to_keep(setup, skip_days, days):
    first = setup.start_date + timedelta(days=skip_days)
    events = events_for_local_days(setup, first, days)
    assert not [e for e in events if e.kind in (EventKind.SELINEXOR_DOSE, EventKind.ANTIEMETIC)]
    dexa = of_kind(events, EventKind.DEXAMETHASONE)
    if setup.plan.dexamethasone_on_hold is DexamethasoneOnHold.HOLD:
        assert dexa == []
    else:  # kept: exactly the dexamethasone the active plan prescribes, nothing else
        active = ScheduleSetup(
            Plan(setup.plan.regimen, setup.plan.level),
            setup.start_date,
            setup.day1_weekday,
            setup.day3_weekday,
            setup.dose_time,
            setup.timezone,
            setup.antiemetic_offset_min,
        )
        assert dexa == of_kind(events_for_local_days(active, first, days), EventKind.DEXAMETHASONE)


@settings(max_examples=60, deadline=None)
@given(setups(status=PlanStatus.ACTIVE), st.integers(0, 20))
def test_weekly_totals_equal_the_levels_weekly_dose(setup, week):
    first = setup.start_date + timedelta(days=7 * week)
    events = events_for_local_days(setup, first, 7)
    doses = of_kind(events, EventKind.SELINEXOR_DOSE)
    assert sum(d.dose_mg for d in doses) == setup.plan.dose_level.weekly_dose_mg
    assert sum(d.tablets for d in doses) * setup.plan.tablet_strength_mg == setup.plan.dose_level.weekly_dose_mg


@settings(max_examples=60, deadline=None)
@given(setups(status=PlanStatus.ACTIVE), st.integers(0, 400))
def test_dose_is_at_the_wall_time_unless_that_time_does_not_exist(setup, skip_days):
    d = setup.start_date + timedelta(days=skip_days)
    dose = dose_on_local_date(setup, d)
    if dose is None:
        return
    assert dose.local.date() == d or dose.local.time() < setup.dose_time  # a gap near midnight can move the date
    round_trip = datetime.combine(d, setup.dose_time, tzinfo=setup.zone)
    if round_trip.astimezone(UTC).astimezone(setup.zone).replace(tzinfo=None) == round_trip.replace(tzinfo=None):
        assert dose.local.time() == setup.dose_time
    else:
        assert dose.local.replace(tzinfo=None) > round_trip.replace(tzinfo=None)  # moved forward by the gap
