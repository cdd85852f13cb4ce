"""Languages of the patient app: Babel message catalogs, Jinja2 i18n, and locale-aware dates and numbers.

Catalogs live in `web/translations/<lang>/LC_MESSAGES/messages.po` and are compiled in memory the first time they are
needed (babel.messages.mofile), so a fresh clone works without a build step and no compiled .mo is committed.
English is the source language: a missing translation shows the English text, never nothing.

Templates translate with `_()`/`gettext()`/`ngettext()` and `{% trans %}`; the language comes from the template
context variable `lang` (every patient page passes it), so one shared Jinja environment serves every language.

Updating the catalog after changing strings:
    .venv/bin/pybabel extract -F web/translations/babel.cfg -k N_ -k translate:2 -k translate_plural:2,3 \
        --no-location --sort-output -o web/translations/messages.pot .
    .venv/bin/pybabel update -i web/translations/messages.pot -d web/translations
tests/server/test_patient_i18n.py fails while any patient-facing string lacks its Spanish translation.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from io import BytesIO
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import pass_context

from .settings import PROJECT_ROOT

TRANSLATIONS_DIR = PROJECT_ROOT / "web" / "translations"
DEFAULT_LANGUAGE = "en"
# Patient.language values, and each language's name written in that language (for the switcher).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
# Babel locales for formatting: patients are in US clinics, so Spanish uses US conventions (a.m./p.m.).
LOCALES: dict[str, str] = {"en": "en_US", "es": "es_US"}
# Day names spelled out in full: the dose day must be unmistakable (clinical-reference §7).
DAY_PATTERNS: dict[str, str] = {"en": "EEEE, MMMM d", "es": "EEEE d 'de' MMMM"}


def N_(message: str) -> str:
    """Marks a string for the catalog (pybabel extract -k N_) where it is translated later, at display time."""
    return message


def normalize_language(value: str | None) -> str:
    """A supported language code for any input ('es-US' -> 'es'); English when unknown."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def negotiate_language(accept_language: str | None) -> str:
    """The best supported language for an Accept-Language header (for pages shown before sign-in)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for index, part in enumerate((accept_language or "").split(",")):
        pieces = part.strip().split(";q=")
        code = normalize_language(pieces[0])
        if pieces[0].strip().lower().split("-")[0] != code:
            continue
        try:
            q = float(pieces[1]) if len(pieces) > 1 else 1.0
        except ValueError:
            q = 0.0
        q -= index * 1e-6  # earlier entries win ties
        if q > best_q:
            best, best_q = code, q
    return best


@lru_cache(maxsize=None)
def translations(lang: str) -> NullTranslations:
    """The compiled catalog for a language (English: the identity)."""
    lang = normalize_language(lang)
    po_path = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT_LANGUAGE or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as with pybabel compile
    buffer.seek(0)
    return Translations(fp=buffer)


def translate(lang: str, message: str, **variables: Any) -> str:
    """Translate `message`; `%(name)s` placeholders are filled from `variables`."""
    text = translations(lang).gettext(message)
    return text % variables if variables else text


def translate_plural(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def has_translation(lang: str, message: str) -> bool:
    """Whether the catalog of `lang` translates `message` (English always does)."""
    lang = normalize_language(lang)
    return lang == DEFAULT_LANGUAGE or message in _translated_ids(lang)


@lru_cache(maxsize=None)
def _translated_ids(lang: str) -> frozenset:
    # A translation may equal its English source ("Normal"), so ask the catalog rather than compare the text.
    catalog = getattr(translations(lang), "_catalog", {})
    return frozenset(key if isinstance(key, str) else key[0] for key, value in catalog.items() if key and value)


# --------------------------------------------------------------------------------------------------------------------
# Dates, times and numbers in the patient's language
# --------------------------------------------------------------------------------------------------------------------


def locale_for(lang: str) -> Locale:
    return Locale.parse(LOCALES[normalize_language(lang)])


def format_day(day: date | datetime, lang: str) -> str:
    """'Wednesday, March 4' / 'miércoles 4 de marzo'."""
    lang = normalize_language(lang)
    return format_date(day, DAY_PATTERNS[lang], locale=LOCALES[lang])


def format_short_day(day: date | datetime, lang: str) -> str:
    """'Wed, Mar 4' / 'mié, 4 mar' (lists and charts)."""
    lang = normalize_language(lang)
    return format_date(day, "EEE, MMM d" if lang == "en" else "EEE, d MMM", locale=LOCALES[lang])


def format_weekday(day: date | datetime, lang: str, width: str = "EEE") -> str:
    lang = normalize_language(lang)
    return format_date(day, width, locale=LOCALES[lang])


def format_month(day: date | datetime, lang: str) -> str:
    """'Nov' / 'nov' (calendar cells where a new month starts)."""
    lang = normalize_language(lang)
    return format_date(day, "LLL", locale=LOCALES[lang])


def format_clock(value: time | datetime, lang: str) -> str:
    """'8:00 AM' / '8:00 a.m.'; datetimes must already be in the patient's zone."""
    return format_time(value, "short", locale=LOCALES[normalize_language(lang)])


def format_number(value: float, lang: str, decimals: int = 1) -> str:
    """A number with at most `decimals` decimals in the language's notation ('61.5' / '61.5' in es_US)."""
    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=LOCALES[normalize_language(lang)])


# --------------------------------------------------------------------------------------------------------------------
# Advice from the clinical core, in the patient's language
# --------------------------------------------------------------------------------------------------------------------

NEXT_DOSE = "{next_dose}"  # stands for the next-dose words inside a catalog sentence
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Advice sentences with a number in them: the catalog holds the sentence with a placeholder.
_ADVICE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Take your anti-nausea medicine about (?P<minutes>\d+) minutes before each selinexor dose, "
                r"as your care team prescribed\.$"),
     "Take your anti-nausea medicine about %(minutes)s minutes before each selinexor dose, as your care team "
     "prescribed."),
)


# Every English sentence the clinical core (server/clinical/rules.py, grading.py) shows a patient, listed here so that
# `pybabel extract` carries it into the catalog. tests/server/test_patient_i18n.py rebuilds the advice from the rules
# themselves and fails when a sentence here is missing or lacks a translation.
CLINICAL_SENTENCES = (
    # rules.py: tier words (clinical-reference §3)
    N_("Call your care team now."),
    N_("If you cannot reach them right away, call your local emergency number."),
    N_("Your care team will contact you today."),
    N_("Do not take your next selinexor dose until they do."),
    N_("Do not take your next selinexor dose until your care team tells you to."),
    N_("Your team will review."),
    # rules.py: self-care advice per rule (§4)
    N_("Keep up fluids and calories."),
    N_("Take your anti-nausea medicines as your care team prescribed; they may add another."),
    N_("Take loperamide for diarrhea as your care team advised, and keep up fluids."),
    N_("Keep up fluids."),
    N_("Your team may suggest nutrition supplements or a dietitian."),
    N_("A temperature of 38.0 °C (100.4 °F) or more, or chills, can be a sign of infection."),
    N_("Your team may arrange an eye exam."),
    N_("Please weigh yourself and record your weight."),
    N_("Your care team will tell you when and how to restart."),
    N_("Do not restart until they do."),
    N_("Take your anti-nausea medicine about %(minutes)s minutes before each selinexor dose, as your care team "
       "prescribed."),
    N_("Selinexor is not taken every day; your next dose is {next_dose}."),
    # rules.py dose_advice (P-TAKE, P-MISSED, P-VOMITED)
    N_("Dose recorded."),
    N_("Take each dose at the same time of day, tablets whole with water."),
    N_("Your next dose is at your next scheduled day and time ({next_dose})."),
    N_("Your next dose is at your next scheduled day and time."),
    N_("Skip the missed dose."),
    N_("Take your next dose at your next scheduled day and time ({next_dose})."),
    N_("Take your next dose at your next scheduled day and time."),
    N_("Do not repeat a dose you vomited."),
    # schedule.next_dose_day_text when there is no next dose
    N_("on hold until your care team tells you to restart"),
    N_("none scheduled"),
    # grading.py: the answers of clinical-reference §5
    N_("None"), N_("Mild, eating as usual"), N_("Eating less than usual"), N_("Can't eat or drink enough"),
    N_("Normal"), N_("A bit less"), N_("Much less, eating less"), N_("Barely eating, losing weight"),
    N_("Tired, rest helps"), N_("Rest doesn't help, hard to do chores"), N_("Hard to wash or dress"),
    N_("Bruising or nosebleed that stopped"), N_("Bleeding that won't stop, or blood in urine, stool or vomit"),
    N_("Dizzy"), N_("Confused or fainted"), N_("No change"), N_("Blurred or double vision"),
)


def localize_advice(message: str, lang: str, next_dose_en: str | None = None, next_dose_local: str | None = None) -> str:
    """The clinical core's English advice (server/clinical/rules.py) in the patient's language, sentence by sentence.

    `next_dose_en` is the next-dose text the rules put into the message (schedule.next_dose_day_text) and
    `next_dose_local` the same in the patient's language. A sentence the catalog lacks stays in English: clinical
    advice is never dropped for want of a translation.
    """
    lang = normalize_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return message
    if next_dose_en and next_dose_en in message:
        message = message.replace(next_dose_en, NEXT_DOSE)
    out = [_localize_sentence(sentence, lang) for sentence in _SENTENCE_END.split(message.strip()) if sentence]
    text = " ".join(out)
    return text.replace(NEXT_DOSE, next_dose_local or next_dose_en or "")


def untranslated_advice_sentences(message: str, lang: str, next_dose_en: str | None = None) -> list[str]:
    """The sentences of an advice message that `localize_advice` would leave in English (for tests)."""
    if next_dose_en:
        message = message.replace(next_dose_en, NEXT_DOSE)
    return [s for s in _SENTENCE_END.split(message.strip()) if s and _localize_sentence(s, lang) == s]


def _localize_sentence(sentence: str, lang: str) -> str:
    if has_translation(lang, sentence):
        return translate(lang, sentence)
    for pattern, msgid in _ADVICE_PATTERNS:
        match = pattern.match(sentence)
        if match and has_translation(lang, msgid):
            return translate(lang, msgid, **match.groupdict())
    return sentence


# --------------------------------------------------------------------------------------------------------------------
# Jinja2
# --------------------------------------------------------------------------------------------------------------------


def _lang(context) -> str:
    return normalize_language(context.get("lang"))


@pass_context
def _jinja_gettext(context, message: str) -> str:
    return translations(_lang(context)).gettext(message)


@pass_context
def _jinja_ngettext(context, singular: str, plural: str, n: int) -> str:
    return translations(_lang(context)).ngettext(singular, plural, n)


@pass_context
def _jinja_pgettext(context, ctxt: str, message: str) -> str:
    return translations(_lang(context)).pgettext(ctxt, message)


@pass_context
def _jinja_npgettext(context, ctxt: str, singular: str, plural: str, n: int) -> str:
    return translations(_lang(context)).npgettext(ctxt, singular, plural, n)


@pass_context
def _jinja_labelled(context, choices) -> list[tuple[str, str]]:
    """(value, label in the page's language) for the answer buttons of a §5 question (grading.QUESTIONS)."""
    return [(choice.value, translations(_lang(context)).gettext(choice.label)) for choice in choices]


def _context_filter(function):
    @pass_context
    def apply(context, value, *args):
        return function(value, _lang(context), *args)

    return apply


def install_jinja_i18n(engine) -> None:
    """TemplateConfig.engine_callback: the i18n extension and the date/number filters on Litestar's Jinja engine."""
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    # Whitespace inside {% trans %} blocks is collapsed, so catalog entries read as plain sentences.
    env.policies["ext.i18n.trimmed"] = True
    # newstyle: `_()` escapes its variables and formats `%(name)s` itself; context-aware: the language is per page.
    env.install_gettext_callables(_jinja_gettext, _jinja_ngettext, newstyle=True, pgettext=_jinja_pgettext,
                                  npgettext=_jinja_npgettext)
    env.filters["day"] = _context_filter(format_day)
    env.filters["short_day"] = _context_filter(format_short_day)
    env.filters["weekday"] = _context_filter(format_weekday)
    env.filters["clock"] = _context_filter(format_clock)
    env.filters["month"] = _context_filter(format_month)
    env.filters["number"] = _context_filter(format_number)
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["labelled"] = _jinja_labelled
