"""The schedule teach-back by SMS, for patients who chose text messages (issue 14 item 2: "in the app, and by SMS for
SMS-only patients, at enrollment and after every plan change").

When: a few minutes after enrollment (after the invite), and a few minutes after the patient confirmed a plan-change
notice by SMS (`OK` / `ENTENDIDO`: services/plan_notices.acknowledge_notice), never in the patient's quiet hours
(deferred to their end, in the patient's zone, as the planned reminders are). One outbox row of kind `teach_back` per
plan version (dedupe key `teach_back:<patient>:<plan>`), only for a patient whose channel is SMS, who consented to SMS
and did not text STOP (the dispatcher checks consent and STOP again at send time), about an active plan with
questions left. A newer plan version cancels a question about an older one that has not gone out yet.

What: the days question, then the tablets question (teach_back.SMS_QUESTIONS), each answered with WORDS in the
patient's language (clinical-reference section 5: SMS keywords are words, never a bare digit): "Reply MON-WED, TUE or
EVERYDAY", "Reply THREE, FOUR or FIVE" (LUN-MIE, MAR, DIARIO; TRES, CUATRO, CINCO in Spanish). The keywords are
catalog entries (context "sms"), so what a message offers and what a reply is read as come from the same words.
A message names the medicine only when the patient allowed it (`drug_names_in_messages`).

Reading the replies (services/sms_inbound.py): only while a question is pending, i.e. the question of the current
plan version went out in the last ANSWER_WINDOW and an SMS question is left; and only for a text that is none of
the usual commands (STOP, HELP, T, MISSED, W, N, OK...), which keep their meaning. A recognized answer is recorded
through teach_back.record_answer (channel "sms", key "sms:<MessageSid>"): right -> "That's right" and the next
question; wrong -> the right answer in words and one more try; wrong twice -> the right answer, "your care team will
call you" (R-TEACH-BACK, the same alert as the app) and the next question. Anything else while pending -> a short
help text with the words to reply.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ...clinical.regimens import PlanStatus
from ...context import AppContext
from ...i18n import NP_, WEEKDAYS_PLURAL, normalize_language, translate, translate_in
from ...models import Clinic, OutboundMessage, Patient, TreatmentPlan
from ..outbox.enqueue import insert_ignoring_duplicates
from ..outbox.planning import defer_past_quiet_hours
from ..outbox.vocabulary import MessageKind, MessageStatus
from ..patient_state import current_plan
from . import teach_back
from .teach_back import SMS_QUESTIONS, AnswerOutcome, Question

# After the invite (or the reply to the patient's OK), not on top of it.
QUESTION_DELAY = timedelta(minutes=5)
# A question that could not go out within this after its send time is dropped (the app still offers it).
QUESTION_TTL = timedelta(hours=12)
# Replies are read as answers for this long after the question went out.
ANSWER_WINDOW = timedelta(hours=48)

# Reply words (catalog, context "sms"): Monday = 0, as the plan's weekdays.
DAY_WORDS = (
    NP_("sms", "MON"),
    NP_("sms", "TUE"),
    NP_("sms", "WED"),
    NP_("sms", "THU"),
    NP_("sms", "FRI"),
    NP_("sms", "SAT"),
    NP_("sms", "SUN"),
)
EVERY_DAY_WORD = NP_("sms", "EVERYDAY")
NUMBER_WORDS = (  # tablets 1..10 (the largest dose is 5 tablets; a choice goes one above)
    NP_("sms", "ONE"),
    NP_("sms", "TWO"),
    NP_("sms", "THREE"),
    NP_("sms", "FOUR"),
    NP_("sms", "FIVE"),
    NP_("sms", "SIX"),
    NP_("sms", "SEVEN"),
    NP_("sms", "EIGHT"),
    NP_("sms", "NINE"),
    NP_("sms", "TEN"),
)
# Words a reply may add around its answer ("MON AND WED", "FOUR TABLETS").
FILLER = frozenset({"AND", "Y", "ONLY", "SOLO", "TABLET", "TABLETS", "COMPRIMIDO", "COMPRIMIDOS"})

LIST_OR = NP_("sms", "%(choices)s or %(last)s")
INTRO = NP_("sms", "%(clinic)s: a quick check of your schedule.")
ASK = {
    ("days", True): NP_("sms", "On which days do you take selinexor? Reply %(choices)s."),
    ("days", False): NP_("sms", "On which days do you take your dose? Reply %(choices)s."),
    ("tablets", True): NP_("sms", "How many selinexor tablets do you take each time? Reply %(choices)s."),
    ("tablets", False): NP_("sms", "How many tablets do you take for each dose? Reply %(choices)s."),
}
TAKE_ON_TWO_UNNAMED = NP_("sms", "You take your dose on %(first)s and %(second)s.")
TAKE_ON_ONE_UNNAMED = NP_("sms", "You take your dose on %(day)s only.")
RIGHT = NP_("sms", "That's right.")
NOT_QUITE = NP_("sms", "Not quite.")
TRY_AGAIN = NP_("sms", "Please answer once more: reply %(choices)s.")
TEAM_WILL_CALL = NP_("sms", "Your care team will call you to go over your schedule.")
ALL_DONE = NP_("sms", "Thank you, that was the last question.")
HELP = NP_(
    "sms",
    "%(clinic)s: to answer the question, reply %(choices)s. For the other replies, reply HELP, or call %(phone)s.",
)
# A text longer than this that has none of the answer words is no attempt at an answer ("I keep throwing up, can't
# keep anything down"): it gets the usual "not understood ... or call <clinic>" reply, never the quiz's help.
ATTEMPT_MAX_WORDS = 3


# --------------------------------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------------------------------


def _word(lang: str, msgid: str) -> str:
    return translate_in(lang, "sms", msgid)


def choice_word(question: str, code: str, lang: str) -> str:
    """The reply word of a choice: "MON-WED", "TUE", "EVERYDAY", "FOUR" (Spanish "LUN-MIE", "DIARIO", "CUATRO")."""
    if question == "tablets":
        return _word(lang, NUMBER_WORDS[int(code) - 1])
    if code == "every":
        return _word(lang, EVERY_DAY_WORD)
    return "-".join(_word(lang, DAY_WORDS[int(d)]) for d in code.split("-"))


def _askable(question: Question) -> bool:
    return question.name in SMS_QUESTIONS and all(
        question.name != "tablets" or 1 <= int(c.value) <= len(NUMBER_WORDS) for c in question.choices
    )


def _choices(question: Question, lang: str) -> str:
    words = [choice_word(question.name, c.value, lang) for c in question.choices]
    return translate_in(lang, "sms", LIST_OR, choices=", ".join(words[:-1]), last=words[-1])


def _ask(question: Question, lang: str, named: bool) -> str:
    return translate_in(lang, "sms", ASK[(question.name, named)], choices=_choices(question, lang))


def _right_words(question: Question, lang: str, named: bool) -> str:
    """The right answer as a sentence, without the medicine's name unless the patient allowed it."""
    if question.name != "days" or named:
        return question.right_words
    names = [translate(lang, WEEKDAYS_PLURAL[int(d)]) for d in question.right.split("-")]
    if len(names) == 1:
        return translate_in(lang, "sms", TAKE_ON_ONE_UNNAMED, day=names[0])
    return translate_in(lang, "sms", TAKE_ON_TWO_UNNAMED, first=names[0], second=names[1])


# --------------------------------------------------------------------------------------------------------------------
# Asking
# --------------------------------------------------------------------------------------------------------------------


def question_key(patient_id: int, plan_id: int) -> str:
    """The outbox dedupe key of the teach-back question about one plan version (one per version, ever)."""
    return f"{MessageKind.TEACH_BACK}:{patient_id}:{plan_id}"


def _wants_sms(patient: Patient) -> bool:
    return (
        patient.channel_preference == "sms"
        and bool(patient.phone_e164)
        and patient.sms_consent
        and not patient.sms_opted_out
    )


def _sms_questions(session: Session, patient: Patient, plan: TreatmentPlan, lang: str) -> list[Question]:
    """The SMS questions about this plan version not yet answered right or twice (by any channel)."""
    attempts = teach_back.attempts_for(session, patient.id, plan.id)
    return [
        q
        for q in teach_back.build_questions(patient, plan, lang)
        if _askable(q) and teach_back.next_question([q], attempts) is not None
    ]


def cancel_stale_questions(session: Session, patient_id: int, plan_id: int, now: datetime) -> None:
    """Cancel a teach-back question about an older plan version that has not gone out yet (caller's transaction)."""
    for row in session.exec(
        select(OutboundMessage).where(
            OutboundMessage.patient_id == patient_id,
            OutboundMessage.kind == MessageKind.TEACH_BACK,
            OutboundMessage.status.in_((MessageStatus.PENDING, MessageStatus.CLAIMED)),
            OutboundMessage.dedupe_key != question_key(patient_id, plan_id),
        )
    ).all():
        row.status, row.cancel_reason = (
            MessageStatus.CANCELLED,
            "the plan changed: the question was about an older plan",
        )
        row.claim_token, row.next_attempt_at, row.updated_at = None, None, now
        session.add(row)


def queue_question(
    session: Session, patient: Patient, plan: TreatmentPlan, now: datetime, *, default_clinic: str
) -> bool:
    """Put the teach-back question about this plan version in the outbox for an SMS patient (caller's transaction).

    Returns whether a question is (or already was) queued; a second call for the same version adds nothing.
    `default_clinic` names the sender when the patient has no clinic row (settings.clinic_name).
    """
    cancel_stale_questions(session, patient.id, plan.id, now)
    if not _wants_sms(patient) or plan.status != PlanStatus.ACTIVE.value:
        return False
    if teach_back.waiting_for_team(session, patient.id):
        return False  # told to wait for the care team: no question restates the schedule (the app still offers later)
    lang = normalize_language(patient.language)
    questions = _sms_questions(session, patient, plan, lang)
    if not questions:
        return False  # answered already (in the app): nothing to ask
    zone = ZoneInfo(patient.timezone)
    send_at = defer_past_quiet_hours((now + QUESTION_DELAY).astimezone(zone), patient.quiet_start, patient.quiet_end)
    send_at = send_at.astimezone(UTC)
    clinic_row = session.get(Clinic, patient.clinic_id) if patient.clinic_id is not None else None
    clinic = clinic_row.name if clinic_row is not None else default_clinic
    intro = translate_in(lang, "sms", INTRO, clinic=clinic)
    body = f"{intro} {_ask(questions[0], lang, patient.drug_names_in_messages)}"
    insert_ignoring_duplicates(
        session,
        [
            {
                "dedupe_key": question_key(patient.id, plan.id),
                "patient_id": patient.id,
                "kind": MessageKind.TEACH_BACK,
                "channel": "sms",
                "to_address": None,  # the patient's number at send time
                "body": body[:1600],
                "scheduled_for": now,
                "send_at": send_at,
                "expires_at": send_at + QUESTION_TTL,
                "status": MessageStatus.PENDING,
                "next_attempt_at": send_at,
                "attempts": 0,
                "payload": json.dumps({"plan_id": plan.id}),
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    return True


# --------------------------------------------------------------------------------------------------------------------
# Reading the replies
# --------------------------------------------------------------------------------------------------------------------


def pending_question(session: Session, patient: Patient, now: datetime) -> tuple[TreatmentPlan, Question] | None:
    """The SMS question the patient's next text may answer (None: no teach-back is waiting for a text, or the patient
    is told to wait for the care team: a text then is never read as an answer)."""
    if teach_back.waiting_for_team(session, patient.id):
        return None
    plan = current_plan(session, patient.id)
    asked = session.exec(
        select(OutboundMessage.id).where(
            OutboundMessage.dedupe_key == question_key(patient.id, plan.id),
            OutboundMessage.status.in_((MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNKNOWN)),
            OutboundMessage.send_at >= now - ANSWER_WINDOW,
        )
    ).first()
    if asked is None:
        return None
    questions = _sms_questions(session, patient, plan, normalize_language(patient.language))
    return (plan, questions[0]) if questions else None


def _plain(text: str) -> list[str]:
    """Upper case, accents dropped, split on anything but letters: "Lun - Mié." -> ["LUN", "MIE"]."""
    decomposed = unicodedata.normalize("NFKD", text.upper())
    letters = "".join(
        ch if ch.isalpha() and ch.isascii() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return [token for token in letters.split() if token not in FILLER]


def _reply_languages(lang: str) -> tuple[str, ...]:
    # English words are understood from everyone; Spanish ones from Spanish speakers ("ONCE" is eleven only there).
    return ("en",) if lang == "en" else (lang, "en")


def read_answer(question: Question, text: str, lang: str) -> str | None:
    """The choice code a text answers with ("0-2", "every", "4"), or None when it is not an answer in words."""
    tokens = _plain(text)
    if not tokens:
        return None
    langs = _reply_languages(lang)
    if question.name == "tablets":
        numbers = {_plain(_word(code, w))[0]: n for code in langs for n, w in enumerate(NUMBER_WORDS, start=1)}
        return str(numbers[tokens[0]]) if len(tokens) == 1 and tokens[0] in numbers else None
    every = {"".join(_plain(_word(code, EVERY_DAY_WORD))) for code in langs}
    if "".join(tokens) in every:
        return "every"
    day_of: dict[str, int] = {}
    for code in langs:
        for day, word in enumerate(DAY_WORDS):
            day_of[_plain(_word(code, word))[0]] = day
            full = "".join(_plain(translate(code, WEEKDAYS_PLURAL[day])))  # MONDAYS, LUNES, SABADOS
            day_of[full] = day
            day_of[full.removesuffix("S")] = day  # MONDAY, SABADO
    if not all(token in day_of for token in tokens):
        return None
    days = {day_of[token] for token in tokens}
    offered = next(
        (c.value for c in question.choices if c.value != "every" and set(map(int, c.value.split("-"))) == days), None
    )
    return offered or "-".join(str(d) for d in sorted(days))


def _answer_words(lang: str) -> set[str]:
    """Every reply word of the questions (days, EVERYDAY, numbers) in the languages a reply is read in, as _plain."""
    words: set[str] = set()
    for code in _reply_languages(lang):
        for msgid in (*DAY_WORDS, EVERY_DAY_WORD, *NUMBER_WORDS):
            words.update(_plain(_word(code, msgid)))
        for plural in WEEKDAYS_PLURAL:
            full = "".join(_plain(translate(code, plural)))
            words.update({full, full.removesuffix("S")})
    return words


def looks_like_an_attempt(text: str, lang: str) -> bool:
    """Whether a text reads as an attempt at an answer: one to three words, or one of the answer words in it."""
    if len(text.split()) <= ATTEMPT_MAX_WORDS:
        return True
    return not _answer_words(lang).isdisjoint(_plain(text))


def answer_by_sms(
    ctx: AppContext, patient: Patient, text: str, sid: str, clinic: str, phone: str
) -> tuple[str, str] | None:
    """Read a text as the answer to the pending question: (handled_as, reply), or None when none is pending or the
    text is no attempt at an answer (the caller then gives its usual reply to an unreadable text)."""
    now = ctx.clock.now()
    lang = normalize_language(patient.language)
    named = patient.drug_names_in_messages
    with Session(ctx.engine) as session:
        pending = pending_question(session, patient, now)
    if pending is None:
        return None
    plan, question = pending
    answer = read_answer(question, text, lang)
    if answer is None:
        if not looks_like_an_attempt(text, lang):
            return None
        help_text = translate_in(lang, "sms", HELP, clinic=clinic, choices=_choices(question, lang), phone=phone)
        return "teach_back_help", help_text
    outcome = teach_back.record_answer(
        ctx, patient.id, plan_id=plan.id, question=question.name, answer=answer, channel="sms", key=f"sms:{sid}"
    )
    return f"teach_back_{outcome.result}", _reply(ctx, patient, question, outcome, lang, named)


def _reply(
    ctx: AppContext, patient: Patient, question: Question, outcome: AnswerOutcome, lang: str, named: bool
) -> str:
    """Right / wrong in words, then the next question (or the same one once more, or the end)."""
    right = _right_words(question, lang, named)
    if outcome.result == "wrong":
        return " ".join(
            [_word(lang, NOT_QUITE), right, translate_in(lang, "sms", TRY_AGAIN, choices=_choices(question, lang))]
        )
    sentences: list[str] = []
    if outcome.result == "right":
        sentences = [_word(lang, RIGHT), right]
    elif outcome.result == "wrong_twice":
        sentences = [_word(lang, NOT_QUITE), right, _word(lang, TEAM_WILL_CALL)]
    with Session(ctx.engine) as session:
        plan = current_plan(session, patient.id)
        left = _sms_questions(session, patient, plan, lang)
    sentences.append(_ask(left[0], lang, named) if left else _word(lang, ALL_DONE))
    return " ".join(sentences)
