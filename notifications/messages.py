"""Message templates for planned reminders, in the patient's language (English and Spanish).

Health data stays on the server (architecture, rules of the house): a message carries the clinic's name, what to
do, and a link to the app. It names no diagnosis, and no drug unless the patient opted in
(`Patient.drug_names_in_messages`): the `_named` variants are used only then. Nothing here ever tells a patient to
"take it now" for a dose whose day has passed (clinical-reference P-MISSED): the nudge only asks whether the dose
was taken and repeats that a missed dose is not made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Any

from babel.dates import format_time

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
        # clinical-reference: P-MISSED (never "take it now"; a missed dose is not made up)
        NUDGE: "Today's {time} dose is not logged yet. If you took it, reply T. If you missed it, reply MISSED: "
               "do not make it up, take your next dose at its usual day and time.",
        DEXAMETHASONE: "Today take your other prescribed medicine ({dexa_mg} mg) at {time}.",
        DEXAMETHASONE + "_named": "Today take dexamethasone {dexa_mg} mg at {time}.",
        # clinical-reference: P-MONITOR
        WEIGHT: "Please weigh yourself today and reply W with your weight, for example W {example}.",
        WEIGHT + "_push": "Please weigh yourself today. Tap to log your weight.",
        BLOOD_TEST: "You have blood tests today.",
        BORTEZOMIB: "Today is your treatment day at the clinic (injection).",
        BORTEZOMIB + "_named": "Today is your bortezomib injection day at the clinic.",
        "sms_reply_taken": " Reply T when taken.",
        "push_log": "Tap to log it.",
    },
    "es": {
        ANTIEMETIC: "Su dosis es a las {time}. Tome ahora su medicamento contra las náuseas.",
        ANTIEMETIC + "_named": "Tome {antiemetic} ahora; su dosis de selinexor es a las {time}.",
        DOSE: "Es la hora de su dosis de las {time}: {mg} mg ({tablets} comprimidos), enteros y con agua.{extra}",
        DOSE + "_named": "Es la hora del selinexor {mg} mg ({tablets} comprimidos de {strength} mg), enteros y con "
                         "agua.{extra}",
        "dose_extra": " Tome también su otro medicamento recetado ({dexa_mg} mg).",
        "dose_extra_named": " Tome también dexametasona {dexa_mg} mg.",
        NUDGE: "La dosis de hoy de las {time} aún no está registrada. Si la tomó, responda T. Si no la tomó, "
               "responda OLVIDADA: no la recupere, tome la siguiente dosis el día y la hora de siempre.",
        DEXAMETHASONE: "Hoy tome su otro medicamento recetado ({dexa_mg} mg) a las {time}.",
        DEXAMETHASONE + "_named": "Hoy tome dexametasona {dexa_mg} mg a las {time}.",
        WEIGHT: "Por favor, pésese hoy y responda P con su peso, por ejemplo P {example}.",
        WEIGHT + "_push": "Por favor, pésese hoy. Toque para registrar su peso.",
        BLOOD_TEST: "Hoy tiene análisis de sangre.",
        BORTEZOMIB: "Hoy es su día de tratamiento en la clínica (inyección).",
        BORTEZOMIB + "_named": "Hoy es su día de inyección de bortezomib en la clínica.",
        "sms_reply_taken": " Responda T cuando la tome.",
        "push_log": "Toque para registrarla.",
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


def render_reminder(kind: str, payload: dict[str, Any], recipient: Recipient, channel: str,
                    base_url: str) -> RenderedMessage:
    """The message for one planned reminder, as late as possible (send time) so it uses the current settings."""
    language = language_of(recipient)
    words = TEMPLATES[language]
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
    )
    if kind == DOSE:
        text += words["sms_reply_taken"] if channel == "sms" else " " + words["push_log"]
    return RenderedMessage(title=recipient.clinic_name, text=text, url=base_url.rstrip("/") + "/")
