"""Grading of the patient questions and plausible-range checks for entered values (clinical reference section 5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from server.clinical.errors import ClinicalValidationError

__all__ = [
    "ClinicalValidationError",
    "PLAUSIBLE_RANGES",
    "TEMPERATURE_OTHER_UNIT",
    "other_temperature_unit",
    "UNITS",
    "COUNT_FIELDS",
    "check_range",
    "lb_to_kg",
    "f_to_c",
    "Choice",
    "NAUSEA_CHOICES",
    "APPETITE_CHOICES",
    "FATIGUE_CHOICES",
    "BLEEDING_CHOICES",
    "NEURO_CHOICES",
    "VISION_CHOICES",
    "QUESTIONS",
    "grade_choice",
    "check_grade",
    "check_choice",
    "stools_above_usual",
    "WEIGHT_CONFIRM_CHANGE_PCT",
    "weight_needs_confirmation",
]

# clinical-reference: section 5, "Plausible ranges for bad-input checks"
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "weight_kg": (25, 300),
    "temperature_c": (34.0, 43.0),
    "vomiting_episodes": (0, 50),
    "loose_stools": (0, 50),
    "sodium_mmol_l": (100, 170),
    "platelets_10e9_l": (0, 2000),
    "anc_10e9_l": (0, 100),
    "hemoglobin_g_dl": (2, 25),
}

# clinical-reference: section 5 ("A temperature between 34 and 43 entered as °F, or between 93 and 110 entered as °C,
# is almost certainly the other unit: ask"): the unit entered -> the range that means the other unit.
TEMPERATURE_OTHER_UNIT: dict[str, tuple[float, float]] = {"f": (34.0, 43.0), "c": (93.0, 110.0)}


def other_temperature_unit(value: float, unit: str) -> str | None:
    """The unit a temperature was almost certainly meant in ("c" or "f") when not the one entered, else None."""
    low, high = TEMPERATURE_OTHER_UNIT.get(unit, (1.0, 0.0))
    if low <= value <= high:
        return "c" if unit == "f" else "f"
    return None


UNITS: dict[str, str] = {
    "weight_kg": "kg",
    "temperature_c": "°C",
    "vomiting_episodes": "episodes",
    "loose_stools": "stools",
    "sodium_mmol_l": "mmol/L",
    "platelets_10e9_l": "x10^9/L",
    "anc_10e9_l": "x10^9/L",
    "hemoglobin_g_dl": "g/dL",
}

# Counts must be whole numbers.
COUNT_FIELDS = frozenset({"vomiting_episodes", "loose_stools"})


def _num(value: float) -> str:
    return f"{value:g}"


def check_range(field: str, value: float) -> float:
    """Return `value` if it is a number inside the plausible range of `field`; raise ClinicalValidationError otherwise."""
    if field not in PLAUSIBLE_RANGES:
        raise KeyError(f"no plausible range for {field!r}")
    low, high = PLAUSIBLE_RANGES[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ClinicalValidationError(
            field, f"{field} must be a number between {_num(low)} and {_num(high)} (got {value!r})"
        )
    if field in COUNT_FIELDS and value != int(value):
        raise ClinicalValidationError(
            field, f"{field} must be a whole number between {_num(low)} and {_num(high)} (got {_num(value)})"
        )
    if not low <= value <= high:
        raise ClinicalValidationError(
            field, f"{field} must be between {_num(low)} and {_num(high)} (got {_num(value)})"
        )
    return value


KG_PER_LB = 0.45359237  # exact, by definition


def lb_to_kg(lb: float) -> float:
    """Pounds to kilograms (exact factor 0.45359237)."""
    return lb * KG_PER_LB


def f_to_c(f: float) -> float:
    """Degrees Fahrenheit to Celsius."""
    return (f - 32.0) * 5.0 / 9.0


@dataclass(frozen=True)
class Choice:
    """One button of a patient question: the stored value, its grade and the exact English label."""

    value: str
    grade: int | str
    label: str


# clinical-reference: section 5 (Nausea)
NAUSEA_CHOICES: tuple[Choice, ...] = (
    Choice("none", 0, "None"),
    Choice("mild", 1, "Mild, eating as usual"),
    Choice("eating_less", 2, "Eating less than usual"),
    Choice("cannot_eat", 3, "Can't eat or drink enough"),
)
# clinical-reference: section 5 (Appetite)
APPETITE_CHOICES: tuple[Choice, ...] = (
    Choice("normal", 0, "Normal"),
    Choice("a_bit_less", 1, "A bit less"),
    Choice("much_less", 2, "Much less, eating less"),
    Choice("barely_eating", 3, "Barely eating, losing weight"),
)
# clinical-reference: section 5 (Fatigue)
FATIGUE_CHOICES: tuple[Choice, ...] = (
    Choice("none", 0, "None"),
    Choice("tired_rest_helps", 1, "Tired, rest helps"),
    Choice("rest_does_not_help", 2, "Rest doesn't help, hard to do chores"),
    Choice("hard_to_wash_or_dress", 3, "Hard to wash or dress"),
)
# clinical-reference: section 5 (Bleeding)
BLEEDING_CHOICES: tuple[Choice, ...] = (
    Choice("none", "none", "None"),
    Choice("minor", "minor", "Bruising or nosebleed that stopped"),
    Choice("major", "major", "Bleeding that won't stop, or blood in urine, stool or vomit"),
)
# clinical-reference: section 5 (Dizziness / confusion)
NEURO_CHOICES: tuple[Choice, ...] = (
    Choice("none", "none", "None"),
    Choice("dizzy", "dizzy", "Dizzy"),
    Choice("major", "major", "Confused or fainted"),
)
# clinical-reference: section 5 (Vision)
VISION_CHOICES: tuple[Choice, ...] = (
    Choice("none", "none", "No change"),
    Choice("changed", "changed", "Blurred or double vision"),
)

QUESTIONS: dict[str, tuple[Choice, ...]] = {
    "nausea": NAUSEA_CHOICES,
    "appetite": APPETITE_CHOICES,
    "fatigue": FATIGUE_CHOICES,
    "bleeding": BLEEDING_CHOICES,
    "neuro": NEURO_CHOICES,
    "vision": VISION_CHOICES,
}


def grade_choice(question: str, value: str) -> int | str:
    """The grade of a patient's answer (by choice value) to one of the section 5 questions."""
    choices = QUESTIONS[question]
    for choice in choices:
        if choice.value == value:
            return choice.grade
    allowed = ", ".join(c.value for c in choices)
    raise ClinicalValidationError(question, f"{question} must be one of {allowed} (got {value!r})")


def check_grade(field: str, grade: int) -> int:
    """Validate a 0-3 grade (nausea, appetite, fatigue)."""
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= 3:
        raise ClinicalValidationError(field, f"{field} must be a grade from 0 to 3 (got {grade!r})")
    return grade


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    """Validate a categorical answer such as bleeding (none/minor/major) or neuro (none/dizzy/major)."""
    if value not in allowed:
        raise ClinicalValidationError(field, f"{field} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def stools_above_usual(loose_stools: int, usual_stools_per_day: int) -> int:
    """Diarrhea as the label counts it: loose stools in the last 24 h above the patient's usual number."""
    # clinical-reference: section 5 (Diarrhea: "stools above usual")
    return max(0, loose_stools - usual_stools_per_day)


# clinical-reference: section 5 ("A weight more than 5% away from the previous one asks the patient to confirm")
WEIGHT_CONFIRM_CHANGE_PCT = 5.0


def weight_needs_confirmation(previous_kg: float | None, new_kg: float, baseline_kg: float | None = None) -> bool:
    """Whether a new weight is more than 5% away from the previous one, or from the baseline when there is none.

    clinical-reference: section 5 and issue 10 item 13: a first weight typo (W 52 for W 72) is confirmed against
    the baseline, so it never pages the on-call nurse unconfirmed.
    """
    reference = previous_kg if previous_kg is not None else baseline_kg
    if reference is None:
        return False
    return round(abs(new_kg - reference) / reference * 100, 6) > WEIGHT_CONFIRM_CHANGE_PCT
