"""Message templates for planned reminders, in the patient's language (English and Spanish).

Health data stays on the server (architecture, rules of the house): a message carries the clinic's name, what to
do, and a link to the app. It names no diagnosis, and no drug unless the patient opted in
(`Patient.drug_names_in_messages`): the `_named` variants are used only then. Nothing here ever tells a patient to
"take it now" for a dose whose day has passed (clinical-reference P-MISSED): the nudge asks whether the dose
was taken, tells a patient who has not taken it yet to skip it today and names the next dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Any

from babel.dates import format_time

from server.i18n import format_day
from server.services.outbox.recipients import Recipient
from server.services.outbox.vocabulary import MessageKind

# The template keys below are the planned kinds (plus suffixes for variants); short names keep the table readable.
ANTIEMETIC, DOSE, NUDGE, DEXAMETHASONE = (MessageKind.ANTIEMETIC, MessageKind.DOSE, MessageKind.NUDGE,
                                          MessageKind.DEXAMETHASONE)
WEIGHT, BLOOD_TEST, BORTEZOMIB = MessageKind.WEIGHT, MessageKind.BLOOD_TEST, MessageKind.BORTEZOMIB

LANGUAGES = ("en", "es")
_LOCALES = {"en": "en_US", "es": "es"}

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        # clinical-reference: P-ANTIEMETIC (about 30 minutes before the dose)
        ANTIEMETIC: "Your dose is at {time}. Take your anti-nausea medicine now.",
        ANTIEMETIC + "_named": "Take {antiemetic} now; your selinexor dose is at {time}.",
        # clinical-reference: P-TAKE (tablets whole, with water)
        DOSE: "Time for your {time} dose: {mg} mg ({tablets} tablets), swallowed whole with water.{extra}",
        DOSE + "_named": "Time for selinexor {mg} mg ({tablets} x {strength} mg tablets), swallowed whole with "
                         "water.{extra}",
        "dose_extra": " Also take your other prescribed medicine ({dexa_mg} mg).",
        "dose_extra_named": " Also take dexamethasone {dexa_mg} mg.",
        # clinical-reference: P-MISSED ("missed or delayed": never "take it now"; skip it, name the next dose)
        NUDGE: "Today's {time} dose is not logged yet. If you took it, reply T. If you have not taken it yet, skip "
               "it today: do not make it up or take it late. Reply MISSED. Your next dose: {next_dose}.",
        DEXAMETHASONE: "Today take your other prescribed medicine ({dexa_mg} mg) at {time}.",
        DEXAMETHASONE + "_named": "Today take dexamethasone {dexa_mg} mg at {time}.",
        # clinical-reference: P-MONITOR
        WEIGHT: "Please weigh yourself today and reply W with your weight, for example W {example}.",
        WEIGHT + "_push": "Please weigh yourself today. Tap to log your weight.",
        BLOOD_TEST: "You have blood tests today.",
        # clinical-reference: P-MONITOR (a blood test on a dose day is due before that day's dose)
        BLOOD_TEST + "_before_dose": "You have blood tests today. Have them done before your {time} dose.",
        BLOOD_TEST + "_tomorrow": "You have blood tests tomorrow. Have them done before your {time} dose.",
        BORTEZOMIB: "Today is your treatment day at the clinic (injection).",
        BORTEZOMIB + "_named": "Today is your bortezomib injection day at the clinic.",
        "sms_reply_taken": " Reply T when taken.",
        "push_log": "Tap to log it.",
        "next_dose_unknown": "at its usual day and time",
    },
    "es": {
        ANTIEMETIC: "Su dosis es a las {time}. Tome ahora su medicamento contra las náuseas.",
        ANTIEMETIC + "_named": "Tome {antiemetic} ahora; su dosis de selinexor es a las {time}.",
        DOSE: "Es la hora de su dosis de las {time}: {mg} mg ({tablets} comprimidos), enteros y con agua.{extra}",
        DOSE + "_named": "Es la hora del selinexor {mg} mg ({tablets} comprimidos de {strength} mg), enteros y con "
                         "agua.{extra}",
        "dose_extra": " Tome también su otro medicamento recetado ({dexa_mg} mg).",
        "dose_extra_named": " Tome también dexametasona {dexa_mg} mg.",
        NUDGE: "La dosis de hoy de las {time} aún no está registrada. Si la tomó, responda T. Si todavía no la tomó, "
               "no la tome hoy: no la recupere ni la tome tarde. Responda OLVIDADA. Su próxima dosis: {next_dose}.",
        DEXAMETHASONE: "Hoy tome su otro medicamento recetado ({dexa_mg} mg) a las {time}.",
        DEXAMETHASONE + "_named": "Hoy tome dexametasona {dexa_mg} mg a las {time}.",
        WEIGHT: "Por favor, pésese hoy y responda P con su peso, por ejemplo P {example}.",
        WEIGHT + "_push": "Por favor, pésese hoy. Toque para registrar su peso.",
        BLOOD_TEST: "Hoy tiene análisis de sangre.",
        BLOOD_TEST + "_before_dose": "Hoy tiene análisis de sangre. Hágaselos antes de su dosis de las {time}.",
        BLOOD_TEST + "_tomorrow": "Mañana tiene análisis de sangre. Hágaselos antes de su dosis de las {time}.",
        BORTEZOMIB: "Hoy es su día de tratamiento en la clínica (inyección).",
        BORTEZOMIB + "_named": "Hoy es su día de inyección de bortezomib en la clínica.",
        "sms_reply_taken": " Responda T cuando la tome.",
        "push_log": "Toque para registrarla.",
        "next_dose_unknown": "el día y la hora de siempre",
    },
}

WEIGHT_EXAMPLES = {"kg": "72.4", "lb": "160 lb"}
WEIGHT_EXAMPLES_ES = {"kg": "72,4", "lb": "160 lb"}


@dataclass(frozen=True)
class RenderedMessage:
    title: str  # the clinic's name (push title; SMS prefix)
    text: str  # what to do
    url: str  # where the app opens

    @property
    def sms(self) -> str:
        return f"{self.title}: {self.text} {self.url}"


def language_of(recipient: Recipient) -> str:
    """The patient's language if we have templates for it, else English."""
    return recipient.language if recipient.language in LANGUAGES else "en"


@lru_cache(maxsize=4096)  # the same few dose times, rendered thousands of times
def _time(value: str | None, language: str) -> str:
    if not value:
        return ""
    text = format_time(datetime.fromisoformat(value), "short", locale=_LOCALES[language])
    return text.replace("\u202f", " ").replace("\xa0", " ")  # keep SMS in GSM-7 (one segment is 160 characters)


def _next_dose_words(value: str | None, language: str) -> str:
    """'Wednesday, March 4, 8:00 AM' (the pages' style), or the plain rule when no next dose is known."""
    if not value:
        return TEMPLATES[language]["next_dose_unknown"]
    return f"{format_day(datetime.fromisoformat(value), language)}, {_time(value, language)}"


def render_reminder(kind: str, payload: dict[str, Any], recipient: Recipient, channel: str,
                    base_url: str) -> RenderedMessage:
    """The message for one planned reminder, as late as possible (send time) so it uses the current settings."""
    language = language_of(recipient)
    words = TEMPLATES[language]
    if kind == BLOOD_TEST and payload.get("dose_local"):  # P-MONITOR: due before that day's dose
        kind = BLOOD_TEST + ("_tomorrow" if payload.get("tomorrow") else "_before_dose")
    if channel != "sms" and f"{kind}_push" in words:
        template = words[f"{kind}_push"]  # the app logs it: no reply syntax
    elif recipient.drug_names and f"{kind}_named" in words:
        template = words[f"{kind}_named"]
    else:
        template = words[kind]
    dexa_mg = payload.get("dexamethasone_mg")
    extra = ""
    if kind == DOSE and dexa_mg:
        extra = words["dose_extra_named" if recipient.drug_names else "dose_extra"].format(dexa_mg=dexa_mg)
    examples = WEIGHT_EXAMPLES_ES if language == "es" else WEIGHT_EXAMPLES
    text = template.format(
        time=_time(payload.get("dose_local") or payload.get("local"), language),
        mg=payload.get("dose_mg"), tablets=payload.get("tablets"), strength=payload.get("strength_mg"),
        dexa_mg=dexa_mg, antiemetic=payload.get("antiemetic") or "", extra=extra,
        example=examples.get(payload.get("unit") or recipient.weight_unit, examples["kg"]),
        next_dose=_next_dose_words(payload.get("next_dose_local"), language),
    )
    if kind == DOSE:
        text += words["sms_reply_taken"] if channel == "sms" else " " + words["push_log"]
    return RenderedMessage(title=recipient.clinic_name, text=text, url=base_url.rstrip("/") + "/")
