"""The words of planned reminders: catalog message ids, rendered in the patient's language at send time.

The text lives in the Babel catalog (web/translations, English msgids, contexts "reminder" for words every channel
shares, "sms" and "push" where they differ), with the one locale map of server/i18n.py.
Health data stays on the server (architecture, rules of the house): a message carries the clinic's name, what to
do, and a link to the app. It names no diagnosis, and no drug unless the patient opted in
(`Patient.drug_names_in_messages`): the `_named` variants are used only then; otherwise dexamethasone is "your steroid
tablets" with its dose, never an unnamed "other medicine" (issue 10 item 12). Nothing here ever tells a patient to
"take it now" for a dose whose day has passed (clinical-reference P-MISSED): the nudge asks whether the dose was
taken, tells a patient who has not taken it yet to skip it today ("missed or delayed") and names the next dose.
While an open alert told the patient to wait for the care team, the dose reminder says that instead (clinical-reference
section 3); a plan change is told with the notice's own words (server/services/plan_notices.py) and a request to
confirm it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from server.i18n import NP_, format_clock, format_day, format_number, normalize_language, translate, translate_in
from server.services.outbox.recipients import Recipient
from server.services.outbox.vocabulary import MessageKind
from server.services.plan_notices import SMS_CONFIRM, notice_sentences

# The template keys below are the planned kinds (plus suffixes for variants); short names keep the table readable.
ANTIEMETIC, DOSE, NUDGE, DEXAMETHASONE = (
    MessageKind.ANTIEMETIC,
    MessageKind.DOSE,
    MessageKind.NUDGE,
    MessageKind.DEXAMETHASONE,
)
WEIGHT, BLOOD_TEST, BORTEZOMIB = MessageKind.WEIGHT, MessageKind.BLOOD_TEST, MessageKind.BORTEZOMIB
PLAN_NOTICE = MessageKind.PLAN_NOTICE

# (context, msgid) per template name; the context is where the catalog keeps it.
TEMPLATES: dict[str, tuple[str, str]] = {
    # clinical-reference: P-ANTIEMETIC (the offset before the dose is per patient)
    ANTIEMETIC: ("reminder", NP_("reminder", "Your dose is at %(time)s. Take your anti-nausea medicine now.")),
    ANTIEMETIC + "_named": (
        "reminder",
        NP_("reminder", "Take %(antiemetic)s now; your selinexor dose is at %(time)s."),
    ),
    # clinical-reference: P-TAKE (tablets whole, with water)
    DOSE: (
        "reminder",
        NP_(
            "reminder",
            "Time for your %(time)s dose: %(mg)s mg (%(tablets)s tablets), swallowed whole with water.%(extra)s",
        ),
    ),
    DOSE + "_named": (
        "reminder",
        NP_(
            "reminder",
            "Time for selinexor %(mg)s mg (%(tablets)s x %(strength)s mg "
            "tablets), swallowed whole with water.%(extra)s",
        ),
    ),
    # clinical-reference: section 1 (dexamethasone named unambiguously, with its dose)
    "dose_extra": ("reminder", NP_("reminder", " Also take your steroid tablets (%(dexa_mg)s mg).")),
    "dose_extra_named": ("reminder", NP_("reminder", " Also take dexamethasone %(dexa_mg)s mg.")),
    # clinical-reference: P-MISSED ("missed or delayed": never "take it now"; skip it today, name the next dose)
    NUDGE: (
        "sms",
        NP_(
            "sms",
            "Today's %(time)s dose is not logged yet. If you took it, reply T. If you have not "
            "taken it yet, skip it today: do not make it up or take it late. Reply MISSED. Your "
            "next dose: %(next_dose)s.",
        ),
    ),
    "next_dose_unknown": ("sms", NP_("sms", "at its usual day and time")),
    DEXAMETHASONE: ("reminder", NP_("reminder", "Today take your steroid tablets (%(dexa_mg)s mg) at %(time)s.")),
    DEXAMETHASONE + "_named": ("reminder", NP_("reminder", "Today take dexamethasone %(dexa_mg)s mg at %(time)s.")),
    # clinical-reference: P-MONITOR
    WEIGHT: ("sms", NP_("sms", "Please weigh yourself today and reply W with your weight, for example W %(example)s.")),
    WEIGHT + "_push": ("push", NP_("push", "Please weigh yourself today. Tap to log your weight.")),
    BLOOD_TEST: ("reminder", NP_("reminder", "You have blood tests today.")),
    # clinical-reference: P-MONITOR (a blood test on a dose day is due before that day's dose)
    BLOOD_TEST + "_before_dose": (
        "reminder",
        NP_("reminder", "You have blood tests today. Have them done before your %(time)s dose."),
    ),
    BLOOD_TEST + "_tomorrow": (
        "reminder",
        NP_("reminder", "You have blood tests tomorrow. Have them done before your %(time)s dose."),
    ),
    BORTEZOMIB: ("reminder", NP_("reminder", "Today is your treatment day at the clinic (injection).")),
    BORTEZOMIB + "_named": ("reminder", NP_("reminder", "Today is your bortezomib injection day at the clinic.")),
    "sms_reply_taken": ("sms", NP_("sms", " Reply T when taken.")),
    "push_log": ("push", NP_("push", "Tap to log it.")),
}

# Words that replace a reminder, or are not a planned reminder at all: the wait for the care team instead of the dose
# reminder, and the plan-change notice's request to confirm (the kinds above are the keys of TEMPLATES).
STATUS_TEMPLATES: dict[str, tuple[str, str]] = {
    # clinical-reference: section 3 (while an alert told the patient to wait, the dose reminder says so instead)
    "dose_wait": (
        "reminder",
        NP_("reminder", "Wait for your care team before your next dose. If nobody has called you, call %(phone)s."),
    ),
    "dose_wait_named": (
        "reminder",
        NP_(
            "reminder",
            "Wait for your care team before your next selinexor dose. If nobody has called you, call %(phone)s.",
        ),
    ),
    "notice_confirm_push": ("push", NP_("push", "Open the app and tap I understand.")),
}

# The weight example in the patient's notation and the keyword of their language (W / P).
WEIGHT_EXAMPLES = {"kg": 72.4, "lb": "160 lb"}


@dataclass(frozen=True)
class RenderedMessage:
    title: str  # the clinic's name (push title; SMS prefix)
    text: str  # what to do
    url: str  # where the app opens

    @property
    def sms(self) -> str:
        return f"{self.title}: {self.text} {self.url}"


def language_of(recipient: Recipient) -> str:
    """The patient's language if the catalog has it, else English (server/i18n.py, the one locale map)."""
    return normalize_language(recipient.language)


@lru_cache(maxsize=4096)  # the same few dose times, rendered thousands of times
def _time(value: str | None, language: str) -> str:
    if not value:
        return ""
    text = format_clock(datetime.fromisoformat(value), language)
    return text.replace("\u202f", " ").replace("\xa0", " ")  # keep SMS in GSM-7 (one segment is 160 characters)


@lru_cache(maxsize=64)  # the few weight examples, one per unit and language
def _number(value: float, language: str) -> str:
    return format_number(value, language)


def _say(language: str, name: str, **values: object) -> str:
    context, message = TEMPLATES[name] if name in TEMPLATES else STATUS_TEMPLATES[name]
    return translate_in(language, context, message, **values)


def _next_dose_words(value: str | None, language: str) -> str:
    """'Wednesday, March 4, 8:00 AM' (the pages' style), or the plain rule when no next dose is known."""
    if not value:
        return _say(language, "next_dose_unknown")
    return f"{format_day(datetime.fromisoformat(value), language)}, {_time(value, language)}"


def render_reminder(
    kind: str, payload: dict[str, Any], recipient: Recipient, channel: str, base_url: str
) -> RenderedMessage:
    """The message for one planned reminder, as late as possible (send time) so it uses the current settings."""
    language = language_of(recipient)
    url = base_url.rstrip("/") + "/"
    if kind == PLAN_NOTICE:
        return RenderedMessage(title=recipient.clinic_name, text=_plan_notice(payload, recipient, channel), url=url)
    if kind == DOSE and recipient.awaiting_team:
        # clinical-reference: section 3 ("every place that shows the next dose ... says wait for your care team")
        text = _say(language, "dose_wait_named" if recipient.drug_names else "dose_wait", phone=recipient.clinic_phone)
        return RenderedMessage(title=recipient.clinic_name, text=text, url=url)
    if kind == BLOOD_TEST and payload.get("dose_local"):  # P-MONITOR: due before that day's dose
        kind = BLOOD_TEST + ("_tomorrow" if payload.get("tomorrow") else "_before_dose")
    if channel != "sms" and f"{kind}_push" in TEMPLATES:
        name = f"{kind}_push"  # the app logs it: no reply syntax
    elif recipient.drug_names and f"{kind}_named" in TEMPLATES:
        name = f"{kind}_named"
    else:
        name = kind
    dexa_mg = payload.get("dexamethasone_mg")
    extra = ""
    if kind == DOSE and dexa_mg:
        extra = _say(language, "dose_extra_named" if recipient.drug_names else "dose_extra", dexa_mg=dexa_mg)
    example = WEIGHT_EXAMPLES.get(payload.get("unit") or recipient.weight_unit, WEIGHT_EXAMPLES["kg"])
    text = _say(
        language,
        name,
        time=_time(payload.get("dose_local") or payload.get("local"), language),
        mg=payload.get("dose_mg"),
        tablets=payload.get("tablets"),
        strength=payload.get("strength_mg"),
        dexa_mg=dexa_mg,
        antiemetic=payload.get("antiemetic") or "",
        extra=extra,
        example=_number(example, language) if isinstance(example, float) else example,
        next_dose=_next_dose_words(payload.get("next_dose_local"), language) if kind == NUDGE else "",
    )
    if kind == DOSE:
        text += _say(language, "sms_reply_taken") if channel == "sms" else " " + _say(language, "push_log")
    return RenderedMessage(title=recipient.clinic_name, text=text, url=url)


def _plan_notice(payload: dict[str, Any], recipient: Recipient, channel: str) -> str:
    """A plan change in words (no drug name unless opted in), asking the patient to confirm it."""
    language = language_of(recipient)
    sentences = notice_sentences(payload["before"], payload["after"], language, named=recipient.drug_names)
    ask = translate(language, SMS_CONFIRM) if channel == "sms" else _say(language, "notice_confirm_push")
    return " ".join([*sentences, ask])
