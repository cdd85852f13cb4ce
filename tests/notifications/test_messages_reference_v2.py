"""Reminder wording from clinical reference v2: the late-dose nudge (P-MISSED) and blood tests before the dose
(P-MONITOR), in English and Spanish, with and without drug names."""

import re

import pytest

from notifications.messages import TEMPLATES, render_reminder
from server.i18n import LANGUAGES, translations
from server.services.outbox.recipients import Recipient

FORBIDDEN = re.compile(
    r"take it now|extra dose|take another|double|as soon as you remember|tómela ahora|"
    r"dosis extra|doble",
    re.I,
)


def _recipient(language: str = "en", drug_names: bool = False) -> Recipient:
    return Recipient(
        patient_id=1,
        language=language,
        phone="+15551110000",
        sms_consent=True,
        sms_opted_out=False,
        channel_preference="sms",
        drug_names=drug_names,
        weight_unit="kg",
        push_targets=(),
        clinic_name="Clinic",
        clinic_phone="+15555550100",
    )


NUDGE = {"day": "2026-03-02", "local": "2026-03-02T08:00:00-05:00", "next_dose_local": "2026-03-04T08:00:00-05:00"}


@pytest.mark.parametrize(
    "language,skip,next_words",
    [
        (
            "en",
            "If you have not taken it yet, skip it today: do not make it up or take it late.",
            "Your next dose: Wednesday, March 4, 8:00 AM.",
        ),
        (
            "es",
            "Si todavía no la tomó, no la tome hoy: no la recupere ni la tome tarde.",
            "Su próxima dosis: miércoles 4 de marzo, 8:00",
        ),
    ],
)
@pytest.mark.parametrize("drug_names", [False, True])
def test_the_late_dose_nudge_says_skip_it_today_and_names_the_next_dose(language, skip, next_words, drug_names):
    text = render_reminder("nudge", NUDGE, _recipient(language, drug_names), "sms", "https://x/").text
    assert skip in text and next_words in text
    assert not FORBIDDEN.search(text)


def test_a_nudge_without_a_next_dose_falls_back_to_the_usual_day_and_time():
    payload = {**NUDGE, "next_dose_local": None}
    assert (
        "Your next dose: at its usual day and time."
        in render_reminder("nudge", payload, _recipient(), "sms", "https://x/").text
    )


def test_no_reminder_template_says_take_it_now_in_any_language():
    for language in LANGUAGES:
        for key, (context, msgid) in TEMPLATES.items():
            template = translations(language).npgettext(context, msgid, msgid, 1)
            assert not FORBIDDEN.search(template), (language, key)


@pytest.mark.parametrize(
    "payload,english,spanish",
    [
        (
            {"day": "2026-03-09", "local": "2026-03-09T09:00:00-04:00"},
            "You have blood tests today.",
            "Hoy tiene análisis de sangre.",
        ),
        (
            {"day": "2026-03-09", "local": "2026-03-09T07:00:00-04:00", "dose_local": "2026-03-09T11:00:00-04:00"},
            "You have blood tests today. Have them done before your 11:00 AM dose.",
            "Hoy tiene análisis de sangre. Hágaselos antes de su dosis de las 11:00",
        ),
        (
            {
                "day": "2026-03-09",
                "local": "2026-03-09T06:00:00-04:00",
                "dose_local": "2026-03-09T08:00:00-04:00",
                "tomorrow": True,
            },
            "You have blood tests tomorrow. Have them done before your 8:00 AM dose.",
            "Mañana tiene análisis de sangre. Hágaselos antes de su dosis de las 8:00",
        ),
    ],
)
def test_a_blood_test_on_a_dose_day_is_worded_as_before_the_dose(payload, english, spanish):
    assert render_reminder("blood_test", payload, _recipient("en"), "sms", "https://x/").text == english
    assert render_reminder("blood_test", payload, _recipient("es"), "sms", "https://x/").text.startswith(spanish)
