"""Dose ladders of clinical reference section 1, every step of every regimen."""

import pytest

from server.clinical.grading import ClinicalValidationError
from server.clinical.regimens import (
    REGIMENS,
    TABLET_STRENGTH_MG_DEFAULT,
    DexamethasoneOnHold,
    DoseLevel,
    Plan,
    PlanStatus,
    describe_resume,
    discontinue,
    hold,
    next_lower_level,
    reduce,
    resume,
    tablets_for,
)

# (regimen, level, dose_mg, twice_weekly, weekly_mg, tablets of 20 mg) straight from the reference table.
LADDER = [
    ("Xd", 0, 80, True, 160, 4),
    ("Xd", 1, 100, False, 100, 5),
    ("Xd", 2, 80, False, 80, 4),
    ("Xd", 3, 60, False, 60, 3),
    ("XVd", 0, 100, False, 100, 5),
    ("XVd", 1, 80, False, 80, 4),
    ("XVd", 2, 60, False, 60, 3),
    ("XVd", 3, 40, False, 40, 2),
    ("DLBCL", 0, 60, True, 120, 3),
    ("DLBCL", 1, 40, True, 80, 2),
    ("DLBCL", 2, 60, False, 60, 3),
    ("DLBCL", 3, 40, False, 40, 2),
]


def test_default_tablet_strength_is_20_mg():
    assert TABLET_STRENGTH_MG_DEFAULT == 20


def test_regimens_are_the_three_of_the_reference():
    assert set(REGIMENS) == {"Xd", "XVd", "DLBCL"}
    assert all(len(r.levels) == 4 for r in REGIMENS.values())


@pytest.mark.parametrize("regimen,level,dose_mg,twice,weekly,tablets", LADDER)
def test_each_level_matches_the_reference(regimen, level, dose_mg, twice, weekly, tablets):
    rung = REGIMENS[regimen].levels[level]
    assert rung == DoseLevel(level=level, dose_mg=dose_mg, twice_weekly=twice)
    assert rung.weekly_dose_mg == weekly
    plan = Plan(regimen, level)
    assert (plan.dose_level, plan.dose_mg, plan.tablets) == (rung, dose_mg, tablets)


@pytest.mark.parametrize("regimen,level,dose_mg,twice,weekly,tablets", LADDER)
def test_reduce_moves_one_step_down_or_discontinues_after_the_last(regimen, level, dose_mg, twice, weekly, tablets):
    plan = Plan(regimen, level)
    reduced = reduce(plan)
    if level < 3:
        assert reduced == Plan(regimen, level + 1)
        assert next_lower_level(plan) == REGIMENS[regimen].levels[level + 1]
        assert describe_resume(plan) == (level + 1, REGIMENS[regimen].levels[level + 1].describe())
    else:
        assert reduced.status is PlanStatus.DISCONTINUED
        assert next_lower_level(plan) is None
        assert describe_resume(plan) == (None, "discontinue")


@pytest.mark.parametrize("regimen,change_level", [("Xd", 1), ("DLBCL", 2)])
def test_schedule_changes_from_twice_to_once_weekly_at_the_documented_level(regimen, change_level):
    levels = REGIMENS[regimen].levels
    assert levels[change_level - 1].twice_weekly
    assert not levels[change_level].twice_weekly
    assert all(not rung.twice_weekly for rung in levels[change_level:])


def test_xvd_is_once_weekly_at_every_level():
    assert not any(rung.twice_weekly for rung in REGIMENS["XVd"].levels)


@pytest.mark.parametrize(
    "regimen,text",
    [
        ("Xd", "dexamethasone 20 mg on each selinexor day"),
        ("XVd", "dexamethasone 20 mg on Days 1 and 2"),
        ("DLBCL", ""),
    ],
)
def test_dexamethasone_description_per_regimen(regimen, text):
    assert REGIMENS[regimen].dexamethasone == text


def test_describe_names_dose_and_pattern():
    assert REGIMENS["Xd"].levels[0].describe() == "80 mg on Days 1 and 3 (160 mg a week)"
    assert REGIMENS["Xd"].levels[3].describe() == "60 mg once weekly"


@pytest.mark.parametrize("dose,strength,tablets", [(80, 20, 4), (100, 20, 5), (40, 20, 2), (80, 40, 2), (60, 60, 1)])
def test_tablets_for_whole_tablets(dose, strength, tablets):
    assert tablets_for(dose, strength) == tablets


@pytest.mark.parametrize("dose,strength", [(100, 40), (60, 40), (80, 0)])
def test_tablets_for_refuses_a_dose_that_needs_a_divided_tablet(dose, strength):
    with pytest.raises(ClinicalValidationError):
        tablets_for(dose, strength)


def test_plan_refuses_a_tablet_strength_that_cannot_make_the_dose():
    with pytest.raises(ClinicalValidationError) as err:
        Plan("Xd", 1, tablet_strength_mg=40)  # 100 mg
    assert err.value.field == "tablet_strength_mg"


def test_reducing_to_a_dose_the_tablets_cannot_make_asks_for_a_new_strength():
    plan = Plan("XVd", 0, tablet_strength_mg=50)  # 100 mg = 2 x 50 mg
    with pytest.raises(ClinicalValidationError):
        reduce(plan)  # 80 mg is not whole 50 mg tablets
    assert reduce(plan, tablet_strength_mg=40) == Plan("XVd", 1, tablet_strength_mg=40)
    assert resume(hold(plan, "continue"), level=2, tablet_strength_mg=20).tablets == 3


@pytest.mark.parametrize("regimen,level", [("Xd", -1), ("Xd", 4), ("Xx", 0), ("DLBCL", True)])
def test_plan_refuses_unknown_regimen_or_level(regimen, level):
    with pytest.raises(ClinicalValidationError):
        Plan(regimen, level)


def test_hold_keeps_the_level():
    assert hold(Plan("Xd", 1), "hold") == Plan("Xd", 1, PlanStatus.HELD, dexamethasone_on_hold=DexamethasoneOnHold.HOLD)


@pytest.mark.parametrize("regimen", ["Xd", "XVd"])
def test_holding_a_plan_with_dexamethasone_needs_the_staff_choice(regimen):
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs")
    for missing in (None, "", "stop"):
        with pytest.raises(ClinicalValidationError) as err:
            hold(Plan(regimen, 0), missing)
        assert err.value.field == "dexamethasone_on_hold"
        assert "continue as prescribed, or hold it too" in err.value.message
    assert hold(Plan(regimen, 0), "continue").dexamethasone_on_hold is DexamethasoneOnHold.CONTINUE
    assert hold(Plan(regimen, 0), DexamethasoneOnHold.HOLD).dexamethasone_on_hold is DexamethasoneOnHold.HOLD


def test_holding_a_plan_without_dexamethasone_needs_no_choice():
    assert hold(Plan("DLBCL", 0)).status is PlanStatus.HELD


def test_the_dexamethasone_choice_survives_reduce_while_held():
    held = hold(Plan("Xd", 0), "hold")
    assert reduce(held).dexamethasone_on_hold is DexamethasoneOnHold.HOLD
    with pytest.raises(ClinicalValidationError):
        Plan("Xd", 0, PlanStatus.HELD, dexamethasone_on_hold="maybe")


def test_resume_at_a_chosen_level():
    assert resume(Plan("Xd", 1, PlanStatus.HELD), level=2) == Plan("Xd", 2)


def test_resume_without_a_level_is_one_level_lower_as_the_label_says():
    assert resume(Plan("DLBCL", 1, PlanStatus.HELD)) == Plan("DLBCL", 2)


def test_resume_without_a_level_at_the_last_level_discontinues():
    assert resume(Plan("XVd", 3, PlanStatus.HELD)).status is PlanStatus.DISCONTINUED


def test_reduce_keeps_a_hold():
    assert reduce(Plan("Xd", 0, PlanStatus.HELD)) == Plan("Xd", 1, PlanStatus.HELD)


@pytest.mark.parametrize("operation", [reduce, hold, resume])
def test_a_discontinued_plan_cannot_be_changed(operation):
    with pytest.raises(ClinicalValidationError):
        operation(Plan("Xd", 2, PlanStatus.DISCONTINUED))


def test_discontinue_is_idempotent():
    plan = discontinue(Plan("Xd", 2))
    assert plan.status is PlanStatus.DISCONTINUED
    assert discontinue(plan) == plan


def test_plan_accepts_status_as_text():
    assert Plan("Xd", 0, "held").status is PlanStatus.HELD


def test_plans_are_frozen():
    with pytest.raises(AttributeError):
        Plan("Xd", 0).level = 1
