"""The start-of-therapy checklist's pure checks: the plan against the regimen table, and R-CHECKLIST's window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from server.clinical.rules import Tier
from server.clinical.start_checklist import (
    INDICATIONS,
    PlanToCheck,
    checklist_finding,
    dose_check,
    first_scheduled_dose,
)


def _plan(**kw) -> PlanToCheck:
    values = {"regimen": "Xd", "level": 0, "day1_weekday": 0, "day3_weekday": 2, "tablet_strength_mg": 20} | kw
    return PlanToCheck(**values)


def test_a_plan_at_the_start_of_its_ladder_matches():
    assert dose_check(_plan()) == []
    assert dose_check(_plan(regimen="XVd", day1_weekday=1, day3_weekday=3), "mm") == []
    assert dose_check(_plan(regimen="DLBCL"), "rr_dlbcl") == []
    assert dose_check(_plan(), "rrmm") == []


def test_a_wrong_start_level_is_said_in_words():
    assert dose_check(_plan(level=1)) == [
        "Start level is 1 (100 mg once weekly); the Xd label starts at level 0: 80 mg Days 1 & 3."
    ]
    assert dose_check(_plan(regimen="DLBCL", level=2)) == [
        "Start level is 2 (60 mg once weekly); the DLBCL label starts at level 0: 60 mg Days 1 & 3."
    ]


def test_weekdays_not_two_days_apart_are_a_mismatch():
    [problem] = dose_check(_plan(day1_weekday=0, day3_weekday=4))
    assert problem.startswith("Day 3 (Fri) is not two days after Day 1 (Mon)")
    assert dose_check(_plan(day1_weekday=5, day3_weekday=0)) == []  # Saturday and Monday: two days apart


def test_a_dose_that_is_not_whole_tablets_of_the_strength_is_a_mismatch():
    [problem] = dose_check(_plan(tablet_strength_mg=60))
    assert problem.startswith("80 mg is not a whole number of 60 mg tablets")
    assert dose_check(_plan(tablet_strength_mg=40)) == []


def test_the_indication_must_fit_the_regimen():
    [problem] = dose_check(_plan(regimen="DLBCL"), "rrmm")
    assert "the DLBCL row of the regimen table is for R/R DLBCL" in problem
    [problem] = dose_check(_plan(), "mm")
    assert "the Xd row of the regimen table is for RRMM" in problem
    assert dose_check(_plan(), "something") == ["Choose the indication on the prescription."]


def test_an_unknown_regimen_or_level_is_refused_in_words():
    assert dose_check(_plan(regimen="XYZ")) == ["Regimen 'XYZ' is not in the regimen table (Xd, XVd, DLBCL)."]
    assert dose_check(_plan(level=7))[0].startswith("Level 7 is not on the Xd ladder")


def test_the_first_dose_follows_the_level_pattern():
    # Start on a Tuesday; Day 1 Monday, Day 3 Wednesday. Twice weekly: Wednesday; once weekly: the next Monday.
    start = date(2026, 3, 3)
    first = first_scheduled_dose(_plan(), start, time(8, 0), "America/New_York")
    assert first == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
    once = first_scheduled_dose(_plan(level=1), start, time(8, 0), "America/New_York")
    assert once == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # after the DST change: 08:00 EDT


FIRST = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "before, fires",
    [
        (timedelta(hours=24, seconds=1), False),
        (timedelta(hours=24), True),
        (timedelta(hours=1), True),
        (timedelta(hours=-23), True),
        (timedelta(hours=-24), False),
    ],
)
def test_r_checklist_opens_from_24_hours_before_the_first_dose(before, fires):
    finding = checklist_finding(["Baseline CBC"], FIRST, "Wed 04 Mar 08:00", FIRST - before)
    assert (finding is not None) is fires


def test_r_checklist_words_and_tier():
    finding = checklist_finding(["Dexamethasone received", "Starter kit offered"], FIRST, "Wed 04 Mar 08:00", FIRST)
    assert finding is not None
    assert finding.rule == "R-CHECKLIST" and finding.family == "checklist" and finding.tier is Tier.ROUTINE
    assert finding.facts == (
        "Start-of-therapy checklist incomplete: 2 items left (Dexamethasone received, Starter kit offered); "
        "first dose Wed 04 Mar 08:00"
    )
    assert checklist_finding([], FIRST, "Wed 04 Mar 08:00", FIRST) is None


def test_the_indications_are_worded_as_the_reference_rows_name_them():
    # clinical-reference: section 1 (the Indication column: RRMM, MM, R/R DLBCL)
    assert INDICATIONS == {
        "rrmm": "relapsed/refractory multiple myeloma (RRMM)",
        "mm": "multiple myeloma (MM)",
        "rr_dlbcl": "relapsed/refractory diffuse large B-cell lymphoma (R/R DLBCL)",
    }
