"""What a patient may send: every form and JSON body of the patient app as a pydantic model that Litestar parses.

The HTML forms (URL-encoded) and the JSON API use the same models; a form adds only how its time was given
(`LocalTime`: "just now" or an earlier day and time in the patient's own zone). A model does the shape of the input:
types, the answers a question allows (`Literal`s, the values of clinical-reference §5), whole numbers and their
bounds (read from server.clinical), and blank to "not answered". What needs the patient's data or the clinical
reference beyond a bound (a weight's plausible range in kg or lb, a time within the last 7 days, the weight
confirmation, whose entry a correction corrects) is decided by the services, which receive these typed values.

A validation error never reaches the patient in the validator's words: `field_errors` turns it into the same
plain-language `FieldError`s the services raise, and advice.error_message translates them.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from datetime import time as clock_time
from typing import Annotated, Any, ClassVar, Literal

from litestar.exceptions import ValidationException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ...clinical.grading import PLAUSIBLE_RANGES, f_to_c, grade_choice, other_temperature_unit
from ...clinical.schedule import resolve_local
from ...errors import FieldError
from ...i18n import LANGUAGES, N_
from ...input_safety import NUL_MESSAGE, has_nul
from ...services.entries import SymptomAnswers
from ...services.invites import InvalidSignInLink


def _number(value: Any) -> Any:
    """A number as typed: a decimal comma is a decimal point (Spanish keyboards); true/false is not a number."""
    if isinstance(value, bool):
        raise ValueError("not a number")  # noqa: TRY004 (pydantic reports a ValueError as the field's error)
    if isinstance(value, str):
        return value.strip().replace(",", ".")
    return value


NOTE_MAX = 500  # server/models.py SymptomReport.note


def _stripped(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Number = Annotated[float, BeforeValidator(_number)]
WholeNumber = Annotated[int, BeforeValidator(_number)]
VOMITING_RANGE = PLAUSIBLE_RANGES["vomiting_episodes"]
STOOLS_RANGE = PLAUSIBLE_RANGES["loose_stools"]


class PatientInput(BaseModel):
    """Shared by every patient input: unknown fields are ignored (the CSRF token, a newer client's extras), and a
    blank field counts as not given, so it takes its default or is reported missing."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_not_given(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):  # PostgreSQL text cannot hold it: a 422 naming the field, never a 500
            raise ValueError(NUL_MESSAGE)
        return value


# --------------------------------------------------------------------------------------------------------------------
# Entries (flow 1): one model per kind, for the API and the forms alike
# --------------------------------------------------------------------------------------------------------------------


class EntryIn(PatientInput):
    """What every entry carries: the client's idempotency key and when it happened."""

    KIND: ClassVar[str]
    # The length is checked by the service (a 422 naming the field); the schema documents it for clients and fuzzers.
    idempotency_key: str = Field(
        description="A client-generated unique id, 8 to 64 characters: a replay stores nothing new",
        json_schema_extra={"minLength": 8, "maxLength": 64},
    )
    at: datetime | None = Field(
        None, description="When it happened, with its time zone; default now; at most 7 days ago"
    )
    # "Earlier" entries and corrections: the day and clock time as the patient typed them, read in the PATIENT's
    # zone by the server (a phone in another zone must not move them; issue 11 item 4). Given, they replace `at`.
    local_day: date | None = Field(None, description="With `local_time`: the day, in the patient's time zone")
    local_time: clock_time | None = Field(
        None, description="With `local_day`: the clock time, in the patient's time zone (DST as the schedule reads it)"
    )

    @model_validator(mode="after")
    def _local_day_and_time_together(self) -> EntryIn:
        if (self.local_day is None) != (self.local_time is None):
            raise ValueError("local_day and local_time go together")
        return self

    def resolved_at(self, zone: tzinfo) -> datetime | None:
        """When it happened: the local day and time in the patient's zone, else `at` (None: now)."""
        if self.local_day is not None and self.local_time is not None:
            return resolve_local(self.local_day, self.local_time, zone)
        return self.at


class DoseIn(EntryIn):
    """A selinexor dose: taken, missed, or vomited after taking (clinical-reference P-MISSED, P-VOMITED)."""

    KIND: ClassVar[str] = "dose"
    status: Literal["taken", "missed", "vomited"]
    scheduled_for: date | None = Field(None, description='The dose day a "missed" answers; default the day of `at`')
    antiemetic_taken: bool | None = Field(
        None, description="Default: whether an anti-nausea log came in the 3 h before"
    )
    corrects_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="An own dose entry of the last 24 h that this one corrects"
    )


class AntiemeticIn(EntryIn):
    """The anti-nausea medicine taken before a dose (P-ANTIEMETIC)."""

    KIND: ClassVar[str] = "antiemetic"


class SymptomsIn(EntryIn):
    """A symptom check-in: the questions of clinical-reference §5; leave out what was not answered."""

    KIND: ClassVar[str] = "symptoms"
    nausea: Literal["none", "mild", "eating_less", "cannot_eat"] | None = None
    vomiting_episodes: WholeNumber | None = Field(
        None, ge=VOMITING_RANGE[0], le=VOMITING_RANGE[1], description="Last 24 hours"
    )
    loose_stools: WholeNumber | None = Field(None, ge=STOOLS_RANGE[0], le=STOOLS_RANGE[1], description="Last 24 hours")
    appetite: Literal["normal", "a_bit_less", "much_less", "barely_eating"] | None = None
    fatigue: Literal["none", "tired_rest_helps", "rest_does_not_help", "hard_to_wash_or_dress"] | None = None
    temperature: Number | None = Field(None, description="In `temperature_unit`; 34-43 °C")
    temperature_unit: Annotated[Literal["c", "f"], BeforeValidator(_lower)] = "c"
    # The one-tap answer to "Did you mean 38.4 °C?": the same number in the other unit (clinical-reference §5).
    switch_unit: Annotated[Literal["c", "f"], BeforeValidator(_lower)] | None = None
    chills: bool | None = None
    bleeding: Literal["none", "minor", "major"] | None = None
    neuro: Literal["none", "dizzy", "major"] | None = None
    vision: Literal["none", "changed"] | None = None
    note: Annotated[str, BeforeValidator(_stripped)] | None = Field(
        None, max_length=NOTE_MAX, description="Optional words for the care team"
    )
    corrects_id: int | None = Field(None, ge=1, le=2**63 - 1)

    @model_validator(mode="after")
    def _switched_unit(self) -> SymptomsIn:
        if self.switch_unit is not None:
            self.temperature_unit = self.switch_unit
        return self

    def unit_question(self) -> str | None:
        """The unit the temperature was almost certainly meant in, when it is not the one given (ask first)."""
        if self.temperature is None or self.switch_unit is not None:
            return None
        return other_temperature_unit(float(self.temperature), self.temperature_unit)

    def answers(self) -> SymptomAnswers:
        """The answers as the entries service takes them: grades for the graded questions, °C for the temperature."""
        temperature = self.temperature
        if temperature is not None and self.temperature_unit == "f":
            temperature = round(f_to_c(temperature), 2)
        return SymptomAnswers(
            nausea=_grade("nausea", self.nausea),
            appetite=_grade("appetite", self.appetite),
            fatigue=_grade("fatigue", self.fatigue),
            vomiting_episodes=self.vomiting_episodes,
            loose_stools=self.loose_stools,
            temperature_c=temperature,
            chills=self.chills,
            bleeding=self.bleeding,
            neuro=self.neuro,
            vision_change=None if self.vision is None else self.vision == "changed",
            note=self.note or None,
        )


def _grade(question: str, value: str | None) -> int | None:
    """A 0-3 answer's grade (clinical-reference §5); None when not answered."""
    return None if value is None else int(grade_choice(question, value))


class WeightIn(EntryIn):
    """A body weight; more than 5% away from the previous one needs `confirmed` (clinical-reference §5)."""

    KIND: ClassVar[str] = "weight"
    value: Number
    unit: Literal["kg", "lb"] | None = Field(None, description="Default: the patient's unit")
    confirmed: bool = False
    corrects_id: int | None = Field(None, ge=1, le=2**63 - 1)


# --------------------------------------------------------------------------------------------------------------------
# The forms' way of giving the time
# --------------------------------------------------------------------------------------------------------------------


class LocalTime(PatientInput):
    """A form's "Just now" or "Earlier" with a day and a clock time (local to the patient's zone)."""

    when: Literal["now", "earlier"] = "now"
    day: date | None = Field(None, validate_default=True)
    time: clock_time | None = Field(None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _day_and_time_only_when_earlier(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("when") != "earlier":
            return {k: v for k, v in data.items() if k not in ("day", "time")}  # "Just now": what they say is moot
        return data

    @field_validator("day", "time")
    @classmethod
    def _needed_when_earlier(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.data.get("when") == "earlier":
            raise ValueError("needed for an earlier time")
        return value

    def local_at(self, zone: tzinfo) -> datetime | None:
        """The earlier day and time as an instant in the patient's zone; None for "just now"."""
        if self.when != "earlier" or self.day is None or self.time is None:
            return None
        return resolve_local(self.day, self.time, zone)  # DST gap and fold as the schedule reads them


class DoseForm(LocalTime, DoseIn):
    """The dose form: its day list always sends a day, which only a missed dose answers."""

    # "Yes, I took it" after "Today is not a selinexor day. Did you take selinexor today?" (issue 11 item 5)
    wrong_day_confirmed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _day_only_for_a_missed_dose(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("status") != "missed":
            # A dose taken or vomited answers the day it was taken; the list's day is not even read.
            return {k: v for k, v in data.items() if k != "scheduled_for"}
        return data


class AntiemeticForm(AntiemeticIn):
    """The one-tap button on Today: always "now"."""


class SymptomsForm(LocalTime, SymptomsIn):
    """The symptom check-in form."""


class WeightForm(LocalTime, WeightIn):
    """The weight form."""


# --------------------------------------------------------------------------------------------------------------------
# Settings, Web Push, sign-in
# --------------------------------------------------------------------------------------------------------------------

Language = Literal["en", "es"]  # server.i18n.LANGUAGES (tests/server/test_patient_schemas.py keeps them equal)
WeightUnit = Literal["kg", "lb"]  # server.services.patient_settings.WEIGHT_UNITS (kept equal by the same test)


class LanguageIn(PatientInput):
    """Show the app in this language."""

    language: Language


class WeightUnitForm(PatientInput):
    """Enter and see weights in kg or lb."""

    weight_unit: WeightUnit


class PushKeys(PatientInput):
    p256dh: str
    auth: str


class PushSubscriptionIn(PatientInput):
    """A browser PushSubscription as `subscription.toJSON()` gives it."""

    endpoint: str
    keys: PushKeys


class PushEndpointIn(PatientInput):
    endpoint: str


class SignInLinkIn(PatientInput):
    """Ask for a sign-in link by SMS."""

    phone: str = Field(description="As typed, e.g. (555) 555-0123")


class SignInForm(SignInLinkIn):
    """The sign-in page's form: a blank number is the same "enter your number" as a wrong one."""

    phone: str = ""
    lang: str | None = None  # the page's language, kept when the page is shown again


class SignInIn(PatientInput):
    token: str = Field(description="The part of the link after /i/")


# --------------------------------------------------------------------------------------------------------------------
# Validation errors in plain words
# --------------------------------------------------------------------------------------------------------------------

# What a field's error says when the model refuses it (English; advice.error_message translates and, for fields with
# a fixed range, words it as the range). The same sentences the services use for the same fields.
CHOOSE_AN_ANSWER = N_("Choose one of the answers.")
CHOOSE_YES_OR_NO = N_("Choose yes or no.")
WHOLE_NUMBER = N_("Enter a whole number.")
FIELD_MESSAGES: dict[str, str] = {
    "idempotency_key": "Missing: each entry needs a client-generated unique id.",
    "at": "Give the time as an ISO date-time such as 2026-03-02T08:30:00-05:00.",
    "status": CHOOSE_AN_ANSWER,
    "scheduled_for": "Give the dose day as a date such as 2026-03-02.",
    "antiemetic_taken": CHOOSE_YES_OR_NO,
    "corrects_id": WHOLE_NUMBER,
    **{
        question: CHOOSE_AN_ANSWER
        for question in ("nausea", "appetite", "fatigue", "bleeding", "neuro", "vision", "when")
    },
    "vomiting_episodes": WHOLE_NUMBER,
    "loose_stools": WHOLE_NUMBER,
    "temperature": N_("Enter a number."),
    "temperature_unit": CHOOSE_AN_ANSWER,
    "switch_unit": CHOOSE_AN_ANSWER,
    "chills": CHOOSE_YES_OR_NO,
    "note": N_("Write at most 500 characters."),
    "value": N_("Enter your weight as a number."),
    "unit": "Unit must be kg or lb.",
    "confirmed": CHOOSE_YES_OR_NO,
    "wrong_day_confirmed": CHOOSE_YES_OR_NO,
    "day": N_("Choose the day."),
    "time": N_("Enter the time, for example 8:30 AM."),
    "local_day": N_("Choose the day."),
    "local_time": N_("Enter the time, for example 8:30 AM."),
    "language": f"Language must be one of: {', '.join(LANGUAGES)}.",
    "weight_unit": "Unit must be kg or lb.",
    "endpoint": "Must be the https:// endpoint of a push subscription.",
    "p256dh": "Missing or too long.",
    "auth": "Missing or too long.",
    "phone": N_("Enter your mobile phone number, for example (555) 555-0123."),
    "token": InvalidSignInLink.MESSAGES["unknown"],
}
CHECK_THIS = N_("Check this answer.")  # a field without a sentence of its own; also any sentence not for patients
# A field left out says so differently where "not a number" would puzzle.
MISSING_MESSAGES: dict[str, str] = {"value": N_("Enter your weight.")}


def field_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar's validation error for one of these models -> a FieldError per refused field, in plain words."""
    # Litestar raises it from pydantic's own errors, which say which kind each is; its `extra` keeps only the words.
    details = getattr(exc.__cause__, "errors", None)
    if isinstance(details, list) and details:
        refused = [(".".join(str(part) for part in d.get("loc", ())), d.get("type") == "missing") for d in details]
    else:
        refused = [
            (str(item.get("key") or ""), item.get("message") == "Field required")
            for item in (exc.extra if isinstance(exc.extra, list) else [])
        ]
    errors = []
    for key, missing in refused:
        field = key.split(".")[-1] or "form"
        message = (missing and MISSING_MESSAGES.get(field)) or FIELD_MESSAGES.get(field, CHECK_THIS)
        errors.append(FieldError(field, message))
    return errors or [FieldError("form", CHECK_THIS)]


# --------------------------------------------------------------------------------------------------------------------
# Schedule teach-back (issue 14 item 2; services/pqi/teach_back.py): one answer to one question about the plan
# --------------------------------------------------------------------------------------------------------------------


class TeachBackAnswerIn(PatientInput):
    """One answer to a schedule question: the plan version it was asked about, the question, the choice's code."""

    plan_id: int = Field(ge=1)
    question: Literal["days", "tablets", "antiemetic"]
    answer: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
