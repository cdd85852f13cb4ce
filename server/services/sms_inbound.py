# Over 400 lines on purpose: the keyword table and each keyword's reply stay side by side.
"""Two-way SMS: a patient's text becomes an entry through the same service and rules as the app (flow 1).

Commands (English and Spanish, any case, surrounding spaces and a trailing period ignored):

| Text | Meaning |
|---|---|
| `T`, `TAKEN`, `TOMADA`, `TOMADO`, `TOME` | today's dose taken (record_dose, scheduled_for = today) |
| `MISSED`, `OLVIDADA`, `NO TOMADA` | today's dose missed (P-MISSED advice in the reply) |
| `W 72.4`, `W 160 lb`, `P 72,4` (peso) | weight, in the patient's unit unless one is given |
| `W 61.6 OK`, or `OK` / `SI` after a confirmation question | a weight more than 5% from the last one, confirmed |
| `OK` / `YES` / `SI` (no weight waiting), `UNDERSTOOD`, `ENTENDIDO` | the patient has read the latest plan change |
| `N 0`..`N 3` | nausea grade (clinical-reference §5) |
| `HELP`, `AYUDA`, `INFO`, `?` | the list of commands and the clinic's number |
| `STOP` (Twilio's other opt-out words, `PARAR`, `BAJA`) | opt out: no more SMS; the care team is told |
| `START`, `UNSTOP`, `YES` (when opted out), `ALTA` | opt back in |
| `MON-WED`, `TUE`, `EVERYDAY`, `FOUR` (`LUN-MIE`, `DIARIO`, `CUATRO`), only while a question waits | the answer to the schedule teach-back (services/pqi/teach_back_sms.py) |

Decisions:
- Replies go through the outbox (an OutboundMessage of kind "reply" keyed by the inbound MessageSid), not TwiML: they
  get the same opt-out checks, retries and delivery receipts as every other message, and they commit in the same
  transaction as the record of the inbound text, so a replayed webhook adds nothing. The webhook answers an empty
  TwiML document at once.
- STOP and START get no reply from us: the provider answers those keywords itself (and we must not text a number
  that just opted out).
- Weight confirmation (clinical-reference §5: a weight more than 5% from the previous one is confirmed before it
  is stored): over SMS we ask, as the app does. A typo on a phone keypad (W 6.16) must not page the care team,
  and a real drop is one short reply away: `OK` (or resending with `OK`) stores it with confirmed=True and the
  rules run exactly as for the app (a 12% loss opens the same R-WT-10 alert).
- A second `T` on a day whose dose is already logged is not stored again (a patient answering both the reminder
  and the nudge has not taken two doses); it gets a "already recorded" reply. Except after a "vomited" log: a `T`
  then reports a dose swallowed again, which is stored and evaluated as a second dose (R-WRONG-DAY).
- A plan change is confirmed by a word (architecture flow 5; never a bare digit): the notice's SMS asks for `OK`.
  A weight waiting for its `OK` keeps priority (the reply that asked for it is the more specific question);
  `UNDERSTOOD` / `ENTENDIDO` always mean the plan change.
- The schedule teach-back (issue 14 item 2) reads a text only when it is none of the commands above and a question
  is pending: T, MISSED, W, N, OK and HELP keep their meaning while it waits (its answers are words that are never
  commands); a short unreadable text (an attempt at an answer) while it waits gets the teach-back's own short help
  (with the clinic's number) instead of "not understood"; a longer one still gets "not understood ... or call".
- Texts from numbers that belong to no patient are stored and not answered (no confirmation that a clinic exists).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..clinical import advice as clinical_advice
from ..clinical.regimens import PlanStatus
from ..clinical.schedule import dose_on_local_date, next_dose, next_dose_counted_from
from ..context import AppContext
from ..db import session_scope
from ..errors import Conflict, FieldError, NotFound
from ..i18n import NP_, normalize_language, render_advice, render_value, translate_in
from ..input_safety import strip_nul
from ..models import Clinic, DoseEvent, InboundMessage, Patient
from . import entries, plan_notices
from .alerts import AlertChange, publish_alert_changes
from .outbox.enqueue import enqueue_sms
from .outbox.opt_out import opt_in_to_sms, opt_out_of_sms
from .outbox.vocabulary import MessageKind
from .patient_state import current_plan, schedule_setup
from .pqi import teach_back_sms

log = logging.getLogger(__name__)

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "PARAR", "BAJA"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "ALTA"})
# clinical-reference: section 5 ("SMS keywords are words ..., never a bare digit, so that an answer to another
# question is never read as a dose"): no digit on its own is a dose word.
TAKEN_WORDS = frozenset({"T", "TAKEN", "TOOK", "TOMADA", "TOMADO", "TOME", "TOMÉ"})
MISSED_WORDS = frozenset({"MISSED", "OLVIDADA", "OLVIDADO", "NO TOMADA", "NO TOMADO"})
HELP_WORDS = frozenset({"HELP", "INFO", "?", "AYUDA"})
CONFIRM_WORDS = frozenset({"OK", "SI", "SÍ", "YES", "CONFIRM", "CONFIRMAR"})
CONFIRM_WINDOW = timedelta(hours=24)
PLAN_CHANGE_WORDS = frozenset(
    {"UNDERSTOOD", "GOT IT", "I UNDERSTAND", "ENTENDIDO", "ENTENDIDA", "ENTIENDO", "RECIBIDO"}
)
# A stored text not yet handled this recently is being handled by another request (a duplicate delivery).
IN_PROGRESS_GRACE = timedelta(minutes=2)

_WEIGHT = re.compile(
    r"^(?:W|P|WEIGHT|PESO)\s*(\d{1,3}(?:[.,]\d{1,2})?)\s*(KG|KGS|LB|LBS|LIBRAS?)?\s*"
    r"(OK|SI|SÍ|YES)?$"
)
_NAUSEA = re.compile(r"^(?:N|NAUSEA|NÁUSEA|NAUSEAS|NÁUSEAS)\s*([0-9])$")


@dataclass(frozen=True)
class Command:
    kind: str  # stop | start | help | taken | missed | weight | nausea | confirm | plan_change | unknown
    value: float | None = None
    unit: str | None = None
    confirmed: bool = False
    word: str = ""  # the normalized text


def parse_command(body: str) -> Command:
    """Read a patient's text as one command (see the module docstring); anything else is `unknown`."""
    text = " ".join((body or "").strip().upper().split()).rstrip(".!")
    if text in OPT_OUT_WORDS:
        return Command("stop")
    if text in OPT_IN_WORDS:
        return Command("start")
    if text in HELP_WORDS:
        return Command("help")
    if text in TAKEN_WORDS:
        return Command("taken")
    if text in MISSED_WORDS:
        return Command("missed")
    if text in CONFIRM_WORDS:
        return Command("confirm", word=text)
    if text in PLAN_CHANGE_WORDS:
        return Command("plan_change", word=text)
    if match := _WEIGHT.match(text):
        unit = match[2]
        return Command(
            "weight",
            float(match[1].replace(",", ".")),
            None if unit is None else ("kg" if unit.startswith("KG") else "lb"),
            bool(match[3]),
        )
    if match := _NAUSEA.match(text):
        return Command("nausea", float(match[1]))
    return Command("unknown", word=text)


# --------------------------------------------------------------------------------------------------------------------
# Replies (short, no diagnosis, no drug name: they travel by SMS)
# --------------------------------------------------------------------------------------------------------------------

# The replies, in the catalog (web/translations) under the context "sms"; rendered with server.i18n.translate_in.
REPLIES: dict[str, str] = {
    "help": NP_(
        "sms",
        "%(clinic)s: reply T when you take your dose, MISSED if you missed it, W and your weight "
        "(W 72.4), N 0-3 for nausea (0 none, 3 can't eat or drink). Urgent? Call %(phone)s. STOP to end "
        "texts.",
    ),
    "unknown": NP_(
        "sms", "%(clinic)s: sorry, we did not understand. Reply HELP for the list of replies, or call %(phone)s."
    ),
    "taken": NP_("sms", "Thank you, today's dose is recorded. Next dose: %(next)s."),
    # clinical-reference: section 1 (held or stopped: no next dose; the hold sentence follows, issue 10 item 12)
    "taken_no_next": NP_("sms", "Thank you, today's dose is recorded."),
    "already": NP_("sms", "Today's dose was already recorded. Next dose: %(next)s."),
    "already_no_next": NP_("sms", "Today's dose was already recorded."),
    # clinical-reference: P-MISSED
    "missed": NP_(
        "sms", "Recorded as missed. Do not make it up: take your next dose at its usual day and time (%(next)s)."
    ),
    "missed_no_next": NP_("sms", "Recorded as missed. Do not make it up."),
    "weight": NP_("sms", "Thank you, your weight (%(value)s) is recorded."),
    "confirm_weight": NP_(
        "sms",
        "%(value)s is more than 5%% away from your last weight (%(previous)s). If it is "
        "right, reply OK. If not, send it again, e.g. W 72.4.",
    ),
    "bad_weight": NP_("sms", "That weight does not look right (%(message)s). Send W and your weight, e.g. W 72.4."),
    "nothing_to_confirm": NP_(
        "sms", "There is no weight waiting for confirmation. Send W and your weight, e.g. W 72.4."
    ),
    # architecture flow 5: the patient's confirmation of a plan change
    "plan_confirmed": NP_("sms", "Thank you: your care team can see that you have read the change."),
    "no_plan_change": NP_("sms", "There is no change waiting for your confirmation."),
    "nausea": NP_("sms", "Thank you, your nausea answer (%(value)s) is recorded."),
    "bad_nausea": NP_("sms", "Send N and a number from 0 to 3: 0 none, 1 mild, 2 eating less, 3 can't eat or drink."),
}


@dataclass(frozen=True)
class InboundResult:
    handled_as: str
    reply: str | None
    patient_id: int | None
    replayed: bool = False


def handle_inbound_sms(
    ctx: AppContext, *, message_sid: str, from_number: str, to_number: str, body: str
) -> InboundResult:
    """Store an inbound text once (by MessageSid), act on it, and queue the reply; a replay changes nothing.

    1. Record the message under its MessageSid (a replay whose handling finished returns the stored result).
    2. Find the patient by phone number; act on the command through server.services.entries (idempotency key
       "sms:<MessageSid>", source "sms"), so a replay of step 2 finds the stored entry.
    3. In one transaction: record how it was handled and put the reply in the outbox (key "reply:<MessageSid>").
    """
    now = ctx.clock.now()
    # A NUL cannot be stored in PostgreSQL text: dropped, so the text still gets its normal reply (a 500 would make
    # the provider retry, and the message would be lost).
    message_sid, from_number, to_number, body = (
        strip_nul(v or "") for v in (message_sid, from_number, to_number, body)
    )
    message_sid = message_sid[:64]
    stored = _store(ctx, message_sid, from_number, to_number, body, now)
    if stored is not None:
        return stored
    with Session(ctx.engine) as session:
        patients = session.exec(select(Patient).where(Patient.phone_e164 == from_number)).all()
    command = parse_command(body)
    if len(patients) > 1 and command.kind in ("stop", "start"):
        # Opting out is about the phone number, not the person: a carer's phone shared by two patients that texts
        # STOP must stop every message to it (and START resume them).
        changes = []
        for patient in patients:
            changes += _act(ctx, patient, command, message_sid, now)[2]
        _record(ctx, message_sid, None, command.kind, None, from_number, now)
        publish_alert_changes(ctx, changes)
        return InboundResult(command.kind, None, None)
    if len(patients) != 1:
        # No patient (or a number shared by several): never guess whose entry it is.
        handled = "unknown_sender" if not patients else "ambiguous_sender"
        _record(ctx, message_sid, None, handled, None, from_number, now)
        return InboundResult(handled, None, None)
    patient = patients[0]
    handled_as, reply, changes = _act(ctx, patient, command, message_sid, now)
    _record(ctx, message_sid, patient.id, handled_as, reply, from_number, now)
    publish_alert_changes(ctx, changes)
    return InboundResult(handled_as, reply, patient.id)


def _store(
    ctx: AppContext, sid: str, from_number: str, to_number: str, body: str, now: datetime
) -> InboundResult | None:
    try:
        with session_scope(ctx.engine) as session:
            existing = session.exec(select(InboundMessage).where(InboundMessage.provider_id == sid)).first()
            if existing is None:
                session.add(
                    InboundMessage(
                        provider_id=sid,
                        from_number=from_number[:40],
                        to_number=to_number[:40],
                        body=(body or "")[:1600],
                        received_at=now,
                    )
                )
                return None
    except IntegrityError:  # the same webhook delivered twice at once: the other request handles it
        return InboundResult("replayed", None, None, replayed=True)
    if existing.handled_as is None:
        if now - existing.received_at < IN_PROGRESS_GRACE:
            # The same webhook again while the first delivery is still being handled (the provider retried, or
            # delivered twice at once): that request answers it; handling it here too could record a second,
            # different outcome over the first's.
            return InboundResult("in_progress", None, existing.patient_id, replayed=True)
        return None  # stored long ago, but the handling did not finish (crash): finish it now, idempotently
    return InboundResult(existing.handled_as, existing.reply, existing.patient_id, replayed=True)


def _record(
    ctx: AppContext, sid: str, patient_id: int | None, handled_as: str, reply: str | None, to: str, now: datetime
) -> None:
    with session_scope(ctx.engine) as session:
        # Compare-and-set: the first handling recorded wins; a concurrent duplicate never overwrites it.
        recorded = session.execute(
            sa.update(InboundMessage)
            .where(InboundMessage.provider_id == sid, InboundMessage.handled_as.is_(None))
            .values(patient_id=patient_id, handled_as=handled_as, reply=reply)
        ).rowcount
        if recorded and reply:
            enqueue_sms(session, kind=MessageKind.REPLY, key=sid, to=to, body=reply, now=now, patient_id=patient_id)


def _act(
    ctx: AppContext, patient: Patient, command: Command, sid: str, now: datetime
) -> tuple[str, str | None, list[AlertChange]]:
    lang = normalize_language(patient.language)
    clinic_name, clinic_phone = _clinic(ctx, patient)
    if command.kind == "stop":
        with session_scope(ctx.engine) as session:
            change = opt_out_of_sms(session, session.get(Patient, patient.id), now, "the patient texted STOP")
        return "stop", None, [change] if change else []
    # YES is one of the provider's opt-in words: from an opted-out number it means START, as the provider reads it.
    if command.kind == "start" or (command.kind == "confirm" and command.word == "YES" and patient.sms_opted_out):
        with session_scope(ctx.engine) as session:
            opt_in_to_sms(session, session.get(Patient, patient.id), now)
        return "start", None, []
    if command.kind == "help":
        return "help", _say(lang, "help", clinic=clinic_name, phone=clinic_phone), []
    key = f"sms:{sid}"
    try:
        if command.kind in ("taken", "missed"):
            return _dose(ctx, patient, command.kind, key, now, lang)
        if command.kind == "weight":
            return _weight(
                ctx, patient, command.value, command.unit or patient.weight_unit, command.confirmed, key, now, lang
            )
        if command.kind == "plan_change":
            return _plan_change(ctx, patient, lang)
        if command.kind == "confirm":
            pending = _unconfirmed_weight(ctx, patient.id, now)
            if pending is None and _plan_change_pending(ctx, patient.id):
                return _plan_change(ctx, patient, lang)
            if pending is None:
                return "confirm_nothing", _say(lang, "nothing_to_confirm"), []
            value, unit = pending
            return _weight(ctx, patient, value, unit, True, key, now, lang)
        if command.kind == "nausea":
            if command.value is None or not 0 <= command.value <= 3:
                return "nausea_invalid", _say(lang, "bad_nausea"), []
            result = entries.record_symptoms(
                ctx,
                patient.id,
                key=key,
                at=now,
                source="sms",
                answers=entries.SymptomAnswers(nausea=int(command.value)),
            )
            return (
                "nausea",
                _join(_say(lang, "nausea", value=int(command.value)), *_advice_words(result.advice, patient, lang)),
                [],
            )
        # Not a command: the answer to a pending schedule teach-back question, if one waits (issue 14 item 2).
        answered = teach_back_sms.answer_by_sms(ctx, patient, command.word, sid, clinic_name, clinic_phone)
        if answered is not None:
            return answered[0], answered[1], []
    except (Conflict, NotFound, FieldError) as exc:  # nothing stored; the patient is pointed to HELP or the clinic
        log.warning("inbound SMS %s for patient %s not recorded: %s", sid, patient.id, exc)
        return "error", _say(lang, "unknown", clinic=clinic_name, phone=clinic_phone), []
    return "unknown", _say(lang, "unknown", clinic=clinic_name, phone=clinic_phone), []


def _dose(ctx: AppContext, patient: Patient, status: str, key: str, now: datetime, lang: str) -> tuple[str, str, list]:
    with Session(ctx.engine) as session:
        setup = schedule_setup(patient, current_plan(session, patient.id))
        today, taken_at = _answered_dose_day(setup, now, timedelta(minutes=ctx.settings.nudge_after_minutes))
        latest = session.exec(
            select(DoseEvent)
            .where(
                DoseEvent.patient_id == patient.id,
                DoseEvent.scheduled_for == today,
                DoseEvent.superseded_at.is_(None),
                DoseEvent.idempotency_key != key,
            )
            .order_by(DoseEvent.at.desc(), DoseEvent.id.desc())
        ).first()
    # Today's dose, once logged, is never the "next" one (P-MISSED, P-VOMITED).
    upcoming = next_dose(setup, next_dose_counted_from(setup, today, now))
    # No next dose: held or stopped, said in the hold / discontinue sentence (issue 10 item 12).
    no_next = (
        ()
        if upcoming is not None
        else render_advice(
            (clinical_advice.next_dose_advice(None, setup.plan.status is PlanStatus.HELD),),
            lang,
            "sms",
            patient.drug_names_in_messages,
        )
    )
    when = render_value(upcoming.local, lang, "sms") if upcoming is not None else ""
    # A T after a vomited dose is a dose swallowed again: stored, so R-WRONG-DAY sees the second dose
    # (clinical-reference: P-VOMITED, R-WRONG-DAY "whatever door it came in by").
    if latest is not None and not (status == "taken" and latest.status == "vomited"):
        return (
            "dose_already_logged",
            _join(_say(lang, "already", next=when) if upcoming else _say(lang, "already_no_next"), *no_next),
            [],
        )
    result = entries.record_dose(
        ctx, patient.id, key=key, status=status, at=taken_at, scheduled_for=today, source="sms"
    )
    reply = _say(lang, status, next=when) if upcoming else _say(lang, f"{status}_no_next")
    return f"dose_{status}", _join(reply, *no_next, *_advice_words(result.advice, patient, lang)), []


def _weight(
    ctx: AppContext, patient: Patient, value: float, unit: str, confirmed: bool, key: str, now: datetime, lang: str
) -> tuple[str, str, list]:
    shown = f"{value:g} {unit}"
    try:
        result = entries.record_weight(
            ctx, patient.id, key=key, at=now, value=value, unit=unit, confirmed=confirmed, source="sms"
        )
    except entries.ConfirmationRequired as exc:
        previous = re.search(r"\(([^)]*)\)", exc.message)
        return (
            "weight_unconfirmed",
            _say(lang, "confirm_weight", value=shown, previous=previous[1] if previous else "?"),
            [],
        )
    except FieldError as exc:
        return "weight_invalid", _say(lang, "bad_weight", message=exc.message.rstrip(".")), []
    return "weight", _join(_say(lang, "weight", value=shown), *_advice_words(result.advice, patient, lang)), []


def _plan_change_pending(ctx: AppContext, patient_id: int) -> bool:
    with Session(ctx.engine) as session:
        return plan_notices.pending_notice(session, patient_id) is not None


def _plan_change(ctx: AppContext, patient: Patient, lang: str) -> tuple[str, str, list]:
    """The patient confirms by SMS that they read the latest plan change (architecture flow 5)."""
    try:
        plan_notices.acknowledge_notice(ctx, patient.id, None, via="sms")
    except NotFound:
        return "plan_change_nothing", _say(lang, "no_plan_change"), []
    return "plan_change_confirmed", _say(lang, "plan_confirmed"), []


def _unconfirmed_weight(ctx: AppContext, patient_id: int, now: datetime) -> tuple[float, str] | None:
    """The latest weight this patient texted that still waits for confirmation (within 24 h), if any."""
    with Session(ctx.engine) as session:
        latest = session.exec(
            select(InboundMessage)
            .where(
                InboundMessage.patient_id == patient_id,
                InboundMessage.handled_as.in_(("weight_unconfirmed", "weight")),
                InboundMessage.received_at >= now - CONFIRM_WINDOW,
            )
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        ).first()
        if latest is None or latest.handled_as != "weight_unconfirmed":
            return None
        patient = session.get(Patient, patient_id)
    command = parse_command(latest.body)
    if command.kind != "weight" or command.value is None:
        return None
    return command.value, command.unit or patient.weight_unit


# What of an entry's advice travels by SMS: the tier words of section 3 and where the next dose is; the self-care
# advice stays in the app (no diagnosis over SMS).
_SMS_ADVICE_IDS = clinical_advice.TIER_IDS | {
    clinical_advice.NOT_EVERY_DAY,
    clinical_advice.ON_HOLD,
    clinical_advice.DISCONTINUED,
}


def _advice_words(advice: entries.Advice, patient: Patient, lang: str) -> list[str]:
    """clinical-reference §3 in SMS words: the tier sentences (honest about clinic hours), the next-dose sentence."""
    items = [item for item in advice.items if item.id in _SMS_ADVICE_IDS]
    return render_advice(items, lang, "sms", patient.drug_names_in_messages)


def _say(lang: str, name: str, **values: object) -> str:
    """One SMS reply of REPLIES in the patient's language."""
    return translate_in(lang, "sms", REPLIES[name], **values)


def _join(*sentences: str) -> str:
    """Sentences of one SMS, each once."""
    out: list[str] = []
    for sentence in sentences:
        if sentence and sentence not in out:
            out.append(sentence)
    return " ".join(out)


def _answered_dose_day(setup, now: datetime, window: timedelta) -> tuple[date, datetime]:
    """The dose day a T or MISSED answers, and when to record it: today and now, or, for a text just after
    midnight that answers yesterday's late-evening dose, that dose's day and scheduled time (it was not taken
    on the new day, and must not read as a dose on a non-dose day)."""
    today = now.astimezone(setup.zone).date()
    if dose_on_local_date(setup, today) is None:
        yesterday = dose_on_local_date(setup, today - timedelta(days=1))
        if yesterday is not None and now - yesterday.utc <= window:
            return today - timedelta(days=1), yesterday.utc
    return today, now


def _clinic(ctx: AppContext, patient: Patient) -> tuple[str, str]:
    with Session(ctx.engine) as session:
        clinic = session.get(Clinic, patient.clinic_id)
    if clinic is None:
        return ctx.settings.clinic_name, ctx.settings.clinic_phone
    return clinic.name, clinic.phone
