"""Plausible ranges and the patient questions of clinical reference section 5."""

import pytest

from server.clinical.grading import (
    APPETITE_CHOICES,
    BLEEDING_CHOICES,
    FATIGUE_CHOICES,
    NAUSEA_CHOICES,
    NEURO_CHOICES,
    PLAUSIBLE_RANGES,
    VISION_CHOICES,
    ClinicalValidationError,
    check_range,
    f_to_c,
    grade_choice,
    lb_to_kg,
    stools_above_usual,
    weight_needs_confirmation,
)

RANGES = [
    ("weight_kg", 25, 300),
    ("temperature_c", 34.0, 43.0),
    ("vomiting_episodes", 0, 50),
    ("loose_stools", 0, 50),
    ("sodium_mmol_l", 100, 170),
    ("platelets_10e9_l", 0, 2000),
    ("anc_10e9_l", 0, 100),
    ("hemoglobin_g_dl", 2, 25),
]


def test_plausible_ranges_are_the_reference_ones():
    assert PLAUSIBLE_RANGES == {name: (low, high) for name, low, high in RANGES}


@pytest.mark.parametrize("field,low,high", RANGES)
def test_values_at_the_range_edges_are_accepted(field, low, high):
    assert check_range(field, low) == low
    assert check_range(field, high) == high


@pytest.mark.parametrize("field,low,high", RANGES)
def test_values_outside_the_range_are_refused_naming_field_and_range(field, low, high):
    step = 1 if field in ("vomiting_episodes", "loose_stools") else 0.1
    for bad in (low - step, high + step):
        with pytest.raises(ClinicalValidationError) as err:
            check_range(field, bad)
        assert err.value.field == field
        assert field in err.value.message and f"{low:g}" in err.value.message and f"{high:g}" in err.value.message


def test_error_is_one_readable_sentence():
    with pytest.raises(ClinicalValidationError) as err:
        check_range("weight_kg", 400)
    assert str(err.value) == "weight_kg must be between 25 and 300 (got 400)"
    assert err.value.message == str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("value", [float("nan"), "70", None, True])
def test_non_numbers_are_refused(value):
    with pytest.raises(ClinicalValidationError):
        check_range("weight_kg", value)


def test_counts_must_be_whole_numbers():
    with pytest.raises(ClinicalValidationError):
        check_range("vomiting_episodes", 2.5)


def test_unit_conversions():
    assert lb_to_kg(100) == pytest.approx(45.359237)
    assert f_to_c(100.4) == pytest.approx(38.0)
    assert f_to_c(32) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "choices,grades",
    [
        (NAUSEA_CHOICES, [0, 1, 2, 3]),
        (APPETITE_CHOICES, [0, 1, 2, 3]),
        (FATIGUE_CHOICES, [0, 1, 2, 3]),
        (BLEEDING_CHOICES, ["none", "minor", "major"]),
        (NEURO_CHOICES, ["none", "dizzy", "major"]),
        (VISION_CHOICES, ["none", "changed"]),
    ],
)
def test_choice_lists_grade_in_reference_order(choices, grades):
    assert [c.grade for c in choices] == grades
    assert all(c.label for c in choices)


@pytest.mark.parametrize(
    "question,value,grade",
    [
        ("nausea", "cannot_eat", 3),
        ("appetite", "barely_eating", 3),
        ("fatigue", "tired_rest_helps", 1),
        ("bleeding", "minor", "minor"),
        ("neuro", "major", "major"),
        ("vision", "changed", "changed"),
    ],
)
def test_grade_choice(question, value, grade):
    assert grade_choice(question, value) == grade


def test_grade_choice_refuses_an_unknown_answer():
    with pytest.raises(ClinicalValidationError) as err:
        grade_choice("nausea", "terrible")
    assert err.value.field == "nausea"


def test_nausea_labels_are_the_reference_words():
    assert [c.label for c in NAUSEA_CHOICES] == [
        "None",
        "Mild, eating as usual",
        "Eating less than usual",
        "Can't eat or drink enough",
    ]


@pytest.mark.parametrize("loose,usual,above", [(5, 1, 4), (1, 2, 0), (8, 1, 7)])
def test_stools_above_usual(loose, usual, above):
    assert stools_above_usual(loose, usual) == above


@pytest.mark.parametrize(
    "previous,new,confirm", [(None, 70, False), (100, 95, False), (100, 94.9, True), (100, 105.1, True)]
)
def test_a_weight_more_than_5_percent_away_needs_confirmation(previous, new, confirm):
    assert weight_needs_confirmation(previous, new) is confirm


@pytest.mark.parametrize(
    "new,confirm", [(66.4, True), (66.5, False), (70, False), (73.5, False), (73.6, True), (52, True)]
)
def test_a_first_weight_is_confirmed_against_the_baseline(new, confirm):
    # clinical-reference: section 5; issue 10 item 13 (no previous weight: compare with the 70 kg baseline)
    assert weight_needs_confirmation(None, new, baseline_kg=70.0) is confirm


def test_the_previous_weight_wins_over_the_baseline():
    assert weight_needs_confirmation(52.0, 52.5, baseline_kg=70.0) is False
