"""The Spanish catalog is complete: every string of the patient app (pages, SMS replies, reminders, push bodies), every
answer of clinical-reference §5 and every advice id of the clinical core has a real translation with the same
placeholders."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.clinical import advice as adv
from server.clinical.grading import QUESTIONS
from server.i18n import (
    LANGUAGES,
    SMS_ADVICE,
    TRANSLATIONS_DIR,
    format_clock,
    format_day,
    has_translation,
    negotiate_language,
    render_advice,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}|%%")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
    "NP_": ((1, "c"), 2),
    "translate": (2,),
    "translate_plural": (2, 3),
    "translate_in": ((2, "c"), 3),
}
# Words that are the same in English and Spanish (units, numbers, drug names, keywords): the only msgids whose
# translation may equal the English text.
SAME_IN_BOTH = {
    "mg",
    "kg",
    "lb",
    "°C",
    "°F",
    "%(value)s",
    "OK",
    "Normal",
    "Email",
    "Selinexor",
    "selinexor",
    "No",
    "PWA",
    "Selinexor %(mg)s mg",
}


def _catalog():
    with (TRANSLATIONS_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale="es")


def _method_map() -> list[tuple[str, str]]:
    """The sources `pybabel extract` reads (web/translations/babel.cfg): where every patient-facing word lives."""
    text = (TRANSLATIONS_DIR / "babel.cfg").read_text()
    return [(pattern.strip(), method) for method, pattern in re.findall(r"^\[(\w+):\s*([^\]]+)\]", text, re.M)]


def _extracted() -> set:
    options = {"web/templates/**.html": {"trimmed": "true"}}
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), _method_map(), options, keywords=KEYWORDS
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def test_the_catalog_sources_cover_every_channel():
    sources = {pattern for pattern, _method in _method_map()}
    assert {
        "server/clinical/advice.py",
        "server/services/sms_inbound.py",
        "notifications/messages.py",
        "web/templates/patient/**.html",
        "server/routes/patient/**.py",
    } <= sources


def test_every_string_of_the_patient_app_is_in_the_spanish_catalog():
    catalog = _catalog()
    extracted = _extracted()
    assert len(extracted) > 300
    missing = [m for m in extracted if catalog.get(m[1], context=m[0]) is None]
    assert not missing, f"run pybabel extract/update (server/i18n.py) and translate: {missing}"


def test_every_patient_facing_message_has_a_real_spanish_translation():
    catalog = _catalog()
    problems = []
    for context, msgid in _extracted():
        message = catalog.get(msgid, context=context)
        if message is None:
            problems.append(("missing", context, msgid))
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(("untranslated", context, msgid))
        elif strings[0].strip() == msgid.strip() and msgid.strip() not in SAME_IN_BOTH:
            problems.append(("same as English", context, msgid))
    assert not problems, problems


def test_every_spanish_entry_is_translated_with_the_same_placeholders():
    problems = []
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            problems.append(("untranslated", ids[0]))
            continue
        expected = sorted(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if sorted(PLACEHOLDER.findall(string)) != expected and not (len(ids) > 1 and "%(num)s" not in string):
                problems.append(("placeholders", ids[0], string))
    assert not problems, problems


def test_the_answers_of_section_5_are_translated():
    labels = [choice.label for choices in QUESTIONS.values() for choice in choices]
    assert [label for label in labels if not has_translation("es", label)] == []


def test_every_advice_id_of_the_clinical_core_and_its_sms_wording_is_translated():
    ids = [value for name, value in vars(adv).items() if name.isupper() and isinstance(value, str)]
    assert len(ids) > 25
    catalog = _catalog()
    assert [i for i in ids if not has_translation("es", i)] == []
    assert [i for i in SMS_ADVICE.values() if not (catalog.get(i, context="sms") or None)] == []


NEXT = datetime(2026, 3, 4, 8, 0, tzinfo=ZoneInfo("America/New_York"))


def test_advice_keeps_its_next_dose_day_in_the_patients_language():
    items = adv.dose_advice("missed", NEXT)
    spanish = render_advice(items, "es")
    assert spanish[0] == "No tome la dosis olvidada."
    assert spanish[1].startswith(
        "Tome la siguiente dosis el próximo día y hora programados (miércoles 4 de marzo a las 8:00"
    )
    english = render_advice(items, "en")
    # The US 12-hour clock and the pages' date style (issue 10 item 12).
    assert english[1].replace("\u202f", " ") == (
        "Take your next dose at your next scheduled day and time (Wednesday, March 4 at 8:00 AM)."
    )
    minutes = render_advice((adv.advice(adv.ANTIEMETIC_BEFORE, minutes=45),), "es")
    assert "unos 45 minutos" in minutes[0]


def test_a_held_patient_is_told_in_correct_spanish():
    spanish = " ".join(render_advice(adv.dose_advice("taken", None, held=True), "es"))
    assert spanish == "El selinexor está en pausa: no lo tome hasta que su equipo de atención se lo indique."
    assert "es el en pausa" not in spanish


def test_one_spanish_term_per_thing():
    # comprimidos (never tabletas), medicamento (never medicina), across pages, SMS, reminders and advice.
    text = " ".join(str(m.string) for m in _catalog() if m.id).lower()
    assert "tableta" not in text and "medicina" not in text
    assert "comprimido" in text and "medicamento" in text


def test_dates_and_times_follow_the_language():
    from datetime import datetime

    moment = datetime(2026, 3, 4, 8, 0)
    assert format_day(moment, "en") == "Wednesday, March 4" and format_day(moment, "es") == "miércoles 4 de marzo"
    # CLDR puts a narrow no-break space before AM, so "8:00" and "AM" never wrap apart.
    assert format_clock(moment, "en").replace("\u202f", " ") == "8:00 AM" and format_clock(moment, "es").startswith(
        "8:00"
    )


@pytest.mark.parametrize(
    ("header", "language"),
    [("es-US,es;q=0.9,en;q=0.8", "es"), ("en-US,en", "en"), ("fr-FR,es;q=0.5", "es"), ("", "en"), ("de", "en")],
)
def test_the_language_before_sign_in_follows_the_browser(header, language):
    assert negotiate_language(header) == language


def test_languages_offered_are_english_and_spanish():
    assert set(LANGUAGES) == {"en", "es"}
    assert translate("es", "Today") == "Hoy" and translate("en", "Today") == "Today"
