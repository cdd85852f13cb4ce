"""Advice and error messages in the patient's words: what a page or the API shows after an entry, and the plain,
translated sentence for a refused field (the services' and the validators' own wording is for developers).

Moved as they were from server/routes/patient.py; the one home for this wording on the patient side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from litestar import Response

from ...clinical import advice as clinical_advice
from ...clinical.grading import WEIGHT_CONFIRM_CHANGE_PCT
from ...context import AppContext
from ...errors import Conflict, FieldError
from ...i18n import N_, format_clock, format_number, has_translation, render_advice, translate
from ...models import Patient
from ...services.entries import ConfirmationRequired, EntryResult, NotMissedYet, plausible_weight_range
from .schemas import CHECK_THIS
from .submit import UnitQuestion

# The entries service's messages that a patient can see, so that the catalog carries them (server/services/entries.py).
SERVICE_SENTENCES = (
    N_("The time is in the future."),
    N_("The time is more than 7 days ago; tell your care team instead."),
    N_("Give the time with its time zone."),
    N_("Answer at least one question."),
    N_("That entry was already corrected; correct the latest version."),
    N_("Entries can be corrected for 24 hours; tell your care team instead."),
)


@dataclass(frozen=True)
class AdviceView:
    tier: str | None
    call_now: bool
    messages: list[str]
    heading: str | None = None  # replaces the tier heading ("The clinic is closed now" for same_day after hours)
    clinic_open: bool = True
    echo: str | None = None  # what was saved, in the patient's words ("Saved: 159 lb, 12% below your starting weight.")


# The banner's heading already says these tier words (web/templates/patient/_advice.html).
_HEADING_IDS = {
    "urgent": clinical_advice.CALL_NOW,
    "same_day": clinical_advice.CONTACT_TODAY,
    "routine": clinical_advice.TEAM_WILL_REVIEW,
}


def advice_view(ctx: AppContext, patient: Patient | None, result: EntryResult, lang: str) -> AdviceView:
    """The entry's advice items (server/clinical/advice.py) in the patient's language, without the heading's words."""
    advice = result.advice
    heading = None
    skip = {_HEADING_IDS.get(advice.tier or "")}
    if advice.tier == "same_day" and not advice.clinic_open:
        # clinical-reference: section 3 "Say only what will happen" (the heading never says "today" after hours)
        heading, skip = translate(lang, clinical_advice.CLINIC_CLOSED), {clinical_advice.CLINIC_CLOSED}
    wrong_day = next((item for item in advice.items if item.id == clinical_advice.NOT_EVERY_DAY), None)
    if result.kind == "dose" and wrong_day is not None:
        # clinical-reference: R-WRONG-DAY (issue 11 item 5): the result leads with "no more today" in the warning
        # style of its tier, and the tier's own heading becomes a sentence below it.
        lead = clinical_advice.advice(clinical_advice.WRONG_DAY_LEAD, next_dose=wrong_day.params["next_dose"])
        heading, skip = render_advice([lead], lang)[0], set()
        tier = advice.tier if advice.tier in ("urgent", "same_day") else "same_day"  # never the success colour
    else:
        tier = advice.tier
    # One result page never says a sentence twice (issue 11 item 7), nor repeats its heading.
    rendered = render_advice([item for item in advice.items if item.id not in skip], lang)
    messages = [m for i, m in enumerate(rendered) if m not in rendered[:i] and m != heading]
    return AdviceView(
        tier=tier,
        call_now=advice.call_now,
        messages=messages,
        heading=heading,
        clinic_open=advice.clinic_open,
        echo=saved_echo(patient, result, lang),
    )


def saved_echo(patient: Patient | None, result: EntryResult, lang: str) -> str | None:
    """The values just saved, so that a mistyped number shows at once (issue 11 item 6)."""
    row = result.entry
    if result.kind == "weight":
        value, unit = format_number(row.entered_value, lang), row.entered_unit
        baseline = patient.baseline_weight_kg if patient is not None else 0.0
        # Truncated, not rounded: the echo never claims a threshold (10%, 20%) the weight has not reached.
        pct = math.floor((baseline - row.kg) / baseline * 1000 + 1e-9) / 10 if baseline else 0.0
        if pct > 0:
            return translate(
                lang,
                "Saved: %(value)s %(unit)s, %(pct)s%% below your starting weight.",
                value=value,
                unit=unit,
                pct=format_number(pct, lang),
            )
        return translate(lang, "Saved: %(value)s %(unit)s.", value=value, unit=unit)
    if result.kind == "symptoms" and row.temperature_c is not None:
        return translate(
            lang,
            "Saved: temperature %(celsius)s °C (%(fahrenheit)s °F).",
            celsius=format_number(row.temperature_c, lang),
            fahrenheit=format_number(row.temperature_c * 9 / 5 + 32, lang),
        )
    return None


RANGE_MESSAGES = {
    "vomiting_episodes": N_("Enter a whole number from 0 to 50."),
    "loose_stools": N_("Enter a whole number from 0 to 50."),
    "nausea": N_("Choose one of the answers."),
    "appetite": N_("Choose one of the answers."),
    "fatigue": N_("Choose one of the answers."),
    "bleeding": N_("Choose one of the answers."),
    "neuro": N_("Choose one of the answers."),
    "vision": N_("Choose one of the answers."),
    "status": N_("Choose one of the answers."),
    "chills": N_("Choose yes or no."),
}


def field_name(field: str) -> str:
    """The service's field name -> the form's and API's name for it."""
    return {"temperature_c": "temperature", "vision_change": "vision", "unit": "weight"}.get(field, field)


def error_message(lang: str, patient: Patient | None, exc: FieldError) -> str:
    """A plain, translated sentence for a field error (the service's own wording is for developers)."""
    field = field_name(exc.field)
    if isinstance(exc, ConfirmationRequired):
        return translate(
            lang,
            "This is more than %(pct)s%% away from your last weight. Please check it. If it is "
            "right, tap “Yes, save it”.",
            pct=format_number(WEIGHT_CONFIRM_CHANGE_PCT, lang),
        )
    if isinstance(exc, NotMissedYet):  # clinical-reference: P-MISSED (issue 10 item 7)
        return translate(
            lang, "Your dose is at %(time)s: it is not missed yet.", time=format_clock(exc.dose_local, lang)
        )
    if isinstance(exc, UnitQuestion):  # clinical-reference: section 5 (ask "Did you mean 38.4 °C?")
        return translate(
            lang,
            "Did you mean %(value)s %(unit)s?",
            value=format_number(exc.value, lang),
            unit="°C" if exc.meant_unit == "c" else "°F",
        )
    if field == "temperature" and exc.field == "temperature_c":
        return translate(lang, "Enter a temperature between 34 and 43 °C (93.2 and 109.4 °F).")
    if field == "weight" and ("between" in exc.message or exc.field == "unit"):
        unit = patient.weight_unit if patient else "kg"
        low, high = plausible_weight_range(unit)
        return translate(lang, "Enter a weight between %(low)s and %(high)s %(unit)s.", low=low, high=high, unit=unit)
    if field in RANGE_MESSAGES and exc.message not in SERVICE_SENTENCES:
        return translate(lang, RANGE_MESSAGES[field])
    if not has_translation("es", exc.message):
        # A sentence written for developers (a validator's or a service's own words) never reaches a patient.
        return translate(lang, CHECK_THIS)
    return translate(lang, exc.message)


def error_json(lang: str, patient: Patient | None, exc: FieldError, status_code: int = 422) -> Response:
    """The API's 422 for a refused field: the field's name and the sentence in the patient's language."""
    field = field_name(exc.field)
    body = {
        "error": "invalid",
        "field": field,
        "message": error_message(lang, patient, exc),
        "detail": exc.message,
        "errors": [{"field": field, "message": error_message(lang, patient, exc)}],
    }
    if isinstance(exc, ConfirmationRequired):
        body["confirm"] = True
    if isinstance(exc, UnitQuestion):
        body["switch_unit"] = exc.meant_unit  # the page offers the one-tap switch
    return Response(body, status_code=status_code)


def conflict_message(lang: str) -> str:
    """An idempotency key sent again with other content, in the patient's words."""
    return translate(lang, "This entry was already sent with different answers. Nothing was changed.")


def conflict_json(lang: str, exc: Conflict) -> Response:
    """The API's 409 for a reused idempotency key."""
    return Response(
        {"error": "conflict", "field": exc.field, "message": conflict_message(lang), "detail": exc.message},
        status_code=409,
    )
