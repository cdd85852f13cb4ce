"""The Spanish catalog is complete: every string of the patient app, every answer of clinical-reference §5 and every
advice sentence the clinical rules can produce has a translation with the same placeholders."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.clinical import rules
from server.clinical.grading import QUESTIONS
from server.clinical.rules import Action, Tier, dose_advice
from server.i18n import (LANGUAGES, TRANSLATIONS_DIR, format_clock, format_day, has_translation, localize_advice,
                         negotiate_language, translate, untranslated_advice_sentences)

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}|%%")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "translate": (2,), "translate_plural": (2, 3)}


def _catalog():
    with (TRANSLATIONS_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale="es")


def _extracted() -> set:
    method_map = [("server/i18n.py", "python"), ("server/routes/patient/**.py", "python"),
                  ("server/services/invites.py", "python"), ("web/templates/base.html", "jinja2"),
                  ("web/templates/patient/**.html", "jinja2")]
    options = {"web/templates/**.html": {"trimmed": "true"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options,
                                                                       keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_every_string_of_the_patient_app_is_in_the_spanish_catalog():
    catalog = _catalog()
    missing = [m for m in _extracted() if catalog.get(m if isinstance(m, str) else m[0]) is None]
    assert not missing, f"run pybabel extract/update (server/i18n.py) and translate: {missing}"


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


def _all_advice() -> list[str]:
    """Every advice text the rules can build: tier words x action x self-care text x emergency, and dose advice."""
    self_care = set(rules.SELF_CARE_ADVICE.values()) | {
        "Please weigh yourself and record your weight.",
        "Your care team will tell you when and how to restart. Do not restart until they do.",
        "Take your anti-nausea medicine about 30 minutes before each selinexor dose, as your care team prescribed.",
        "Take your anti-nausea medicine about 45 minutes before each selinexor dose, as your care team prescribed.",
        "Selinexor is not taken every day; your next dose is Wednesday 4 March at 08:00.",
    }
    texts = [rules._patient_advice(tier, action, text, emergency)
             for tier, action, text, emergency in itertools.product(Tier, Action, self_care, (False, True))]
    texts += [dose_advice(status, "Wednesday 4 March at 08:00") for status in ("taken", "missed", "vomited")]
    texts += [dose_advice(status, "on hold until your care team tells you to restart") for status in ("missed",)]
    texts += [dose_advice(status) for status in ("taken", "missed", "vomited")]
    return [t for t in texts if t]


def test_every_advice_sentence_of_the_rules_has_a_spanish_translation():
    untranslated = set()
    for text in _all_advice():
        next_dose = next((words for words in ("Wednesday 4 March at 08:00",
                                              "on hold until your care team tells you to restart") if words in text), None)
        untranslated.update(untranslated_advice_sentences(text, "es", next_dose))
    assert untranslated == set()
    assert has_translation("es", "on hold until your care team tells you to restart")


def test_advice_keeps_its_next_dose_day_in_the_patients_language():
    english = dose_advice("missed", "Wednesday 4 March at 08:00")
    spanish = localize_advice(english, "es", "Wednesday 4 March at 08:00", "miércoles 4 de marzo a las 8:00 a.m.")
    assert spanish == ("No tome la dosis olvidada. Tome la siguiente dosis el próximo día y hora programados "
                       "(miércoles 4 de marzo a las 8:00 a.m.).")
    assert localize_advice(english, "en") == english
    minutes = localize_advice("Take your anti-nausea medicine about 45 minutes before each selinexor dose, as your "
                              "care team prescribed.", "es")
    assert "unos 45 minutos" in minutes


def test_unknown_sentences_stay_in_english_rather_than_disappear():
    assert localize_advice("A sentence nobody translated. Call your care team now.", "es") == \
        "A sentence nobody translated. Llame ahora a su equipo de atención."


def test_dates_and_times_follow_the_language():
    from datetime import datetime

    moment = datetime(2026, 3, 4, 8, 0)
    assert format_day(moment, "en") == "Wednesday, March 4" and format_day(moment, "es") == "miércoles 4 de marzo"
    # CLDR puts a narrow no-break space before AM, so "8:00" and "AM" never wrap apart.
    assert format_clock(moment, "en").replace("\u202f", " ") == "8:00 AM" and format_clock(moment, "es").startswith("8:00")


@pytest.mark.parametrize(("header", "language"), [("es-US,es;q=0.9,en;q=0.8", "es"), ("en-US,en", "en"),
                                                  ("fr-FR,es;q=0.5", "es"), ("", "en"), ("de", "en")])
def test_the_language_before_sign_in_follows_the_browser(header, language):
    assert negotiate_language(header) == language


def test_languages_offered_are_english_and_spanish():
    assert set(LANGUAGES) == {"en", "es"}
    assert translate("es", "Today") == "Hoy" and translate("en", "Today") == "Today"
