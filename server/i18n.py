"""Languages of the patient app: Babel message catalogs, Jinja2 i18n, and locale-aware dates and numbers.

This is the one home of every word a patient reads: pages, SMS replies (server/services/sms_inbound.py), reminders and
push bodies (notifications/messages.py) and the clinical core's advice (server/clinical/advice.py, rendered by
`render_advice`) are all msgids of one Babel catalog per language, with the contexts "sms", "push" and "reminder"
where a channel words a message differently. LANGUAGES and LOCALES below are the one locale map.

Catalogs live in `web/translations/<lang>/LC_MESSAGES/messages.po` and are compiled in memory the first time they are
needed (babel.messages.mofile), so a fresh clone works without a build step and no compiled .mo is committed.
English is the source language: a missing translation shows the English text, never nothing.

Templates translate with `_()`/`gettext()`/`ngettext()` and `{% trans %}`; the language comes from the template
context variable `lang` (every patient page passes it), so one shared Jinja environment serves every language.

Updating the catalog after changing strings:
    .venv/bin/pybabel extract -F web/translations/babel.cfg -k N_ -k NP_:1c,2 -k translate:2 -k translate_plural:2,3 \
        -k translate_in:2c,3 --no-location --sort-output --no-wrap -o web/translations/messages.pot .
    .venv/bin/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching --no-wrap \
        --ignore-obsolete
tests/server/test_patient_i18n.py fails while any patient-facing string lacks its Spanish translation, and
tests/server/test_forbidden_advice.py while any message of any language and channel gives advice the reference forbids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time
from functools import cache
from io import BytesIO
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import pass_context

from .clinical import advice as advice_ids
from .settings import PROJECT_ROOT

TRANSLATIONS_DIR = PROJECT_ROOT / "web" / "translations"
DEFAULT_LANGUAGE = "en"
# The one locale map of the product: pages, SMS replies, reminders, push bodies and advice all use it.
# Patient.language values, and each language's name written in that language (for the switcher).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
# Babel locales for formatting: patients are in US clinics, so Spanish uses US conventions (a.m./p.m.).
LOCALES: dict[str, str] = {"en": "en_US", "es": "es_US"}
# Day names spelled out in full: the dose day must be unmistakable (clinical-reference §7).
DAY_PATTERNS: dict[str, str] = {"en": "EEEE, MMMM d", "es": "EEEE d 'de' MMMM"}


def N_(message: str) -> str:
    """Marks a string for the catalog (pybabel extract -k N_) where it is translated later, at display time."""
    return message


def NP_(context: str, message: str) -> str:
    """Marks a string with a context for the catalog (pybabel extract -k NP_:1c,2); translate with `translate_in`."""
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


@cache
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
    return _fill(text, variables)


def translate_in(lang: str, context: str, message: str, /, **variables: Any) -> str:
    """Translate `message` in a context ("sms", "push") where a channel words it differently from the pages."""
    text = str(translations(lang).pgettext(context, message))
    return _fill(text, variables)


_DOUBLE_PERIOD = re.compile(r"(?<=[ap]\.m\.)\.")


def _fill(text: str, variables: dict[str, Any]) -> str:
    """`text % variables`, without the second period of a sentence ending in a time ("a las 2:00 p.m.")."""
    return _DOUBLE_PERIOD.sub("", text % variables) if variables else text


def translate_plural(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def has_translation(lang: str, message: str) -> bool:
    """Whether the catalog of `lang` translates `message` (English always does)."""
    lang = normalize_language(lang)
    return lang == DEFAULT_LANGUAGE or message in _translated_ids(lang)


@cache
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
# Advice from the clinical core, in the patient's language and channel
# --------------------------------------------------------------------------------------------------------------------

# Weekday names as a schedule says them ("on Mondays and Wednesdays"), Monday first as `date.weekday()`: plan-change
# notices and the schedule teach-back.
WEEKDAYS_PLURAL = (
    N_("Mondays"),
    N_("Tuesdays"),
    N_("Wednesdays"),
    N_("Thursdays"),
    N_("Fridays"),
    N_("Saturdays"),
    N_("Sundays"),
)

# The answers of clinical-reference §5 (server/clinical/grading.py QUESTIONS), listed here so that `pybabel extract`
# carries them into the catalog (the clinical core's own advice ids are marked in server/clinical/advice.py).
ANSWER_LABELS = (
    N_("None"),
    N_("Mild, eating as usual"),
    N_("Eating less than usual"),
    N_("Can't eat or drink enough"),
    N_("Normal"),
    N_("A bit less"),
    N_("Much less, eating less"),
    N_("Barely eating, losing weight"),
    N_("Tired, rest helps"),
    N_("Rest doesn't help, hard to do chores"),
    N_("Hard to wash or dress"),
    N_("Bruising or nosebleed that stopped"),
    N_("Bleeding that won't stop, or blood in urine, stool or vomit"),
    N_("Dizzy"),
    N_("Confused or fainted"),
    N_("No change"),
    N_("Blurred or double vision"),
)

# Where an SMS says it differently from a page (no drug name: a text may be read by anyone holding the phone), the
# SMS wording is its own msgid in the context "sms".
SMS_ADVICE: dict[str, str] = {
    # clinical-reference: section 3 (interrupt: the next dose waits), section 1 (holds), R-WRONG-DAY
    advice_ids.HOLD_UNTIL_CONTACT: NP_("sms", "Do not take your next dose until they do."),
    advice_ids.HOLD_UNTIL_TOLD: NP_("sms", "Do not take your next dose until your care team tells you to."),
    advice_ids.ON_HOLD: NP_("sms", "Your dose is on hold: do not take it until your care team tells you to."),
    advice_ids.DISCONTINUED: NP_(
        "sms", "Your care team has stopped this treatment. Do not take any more of its tablets."
    ),
    advice_ids.NOT_EVERY_DAY: NP_("sms", "This medicine is not taken every day; your next dose is %(next_dose)s."),
}


def render_value(value: object, lang: str, channel: str = "page") -> str:
    """A parameter of an advice item as words: a datetime as day and time, a date as its weekday, numbers as text."""
    if isinstance(value, datetime):
        text = translate(lang, "%(day)s at %(time)s", day=format_day(value, lang), time=format_clock(value, lang))
    elif isinstance(value, date):
        text = format_weekday(value, lang, "EEEE")
    else:
        text = str(value)
    # SMS and push stay in plain characters (GSM-7: one segment is 160 characters).
    return text.replace("\u202f", " ").replace("\xa0", " ") if channel != "page" else text


def render_advice(
    items: Iterable[advice_ids.Advice], lang: str, channel: str = "page", drug_names: bool = False
) -> list[str]:
    """Advice items of the clinical core as sentences in the patient's language, each once, for a page or an SMS.

    An SMS uses the drug-free wording of SMS_ADVICE unless the patient opted in to drug names in messages.
    """
    lang = normalize_language(lang)
    out: list[str] = []
    for item in items:
        values = {name: render_value(value, lang, channel) for name, value in item.params.items()}
        if channel == "sms" and not drug_names and item.id in SMS_ADVICE:
            text = translate_in(lang, "sms", SMS_ADVICE[item.id], **values)
        else:
            text = translate(lang, item.id, **values)
        if text not in out:
            out.append(text)
    return out


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
    return str(translations(_lang(context)).pgettext(ctxt, message))


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
    env.install_gettext_callables(
        _jinja_gettext, _jinja_ngettext, newstyle=True, pgettext=_jinja_pgettext, npgettext=_jinja_npgettext
    )
    env.filters["day"] = _context_filter(format_day)
    env.filters["short_day"] = _context_filter(format_short_day)
    env.filters["weekday"] = _context_filter(format_weekday)
    env.filters["clock"] = _context_filter(format_clock)
    env.filters["month"] = _context_filter(format_month)
    env.filters["number"] = _context_filter(format_number)
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["labelled"] = _jinja_labelled
