# Over 400 lines on purpose: the questions, the answers and the results of one teach-back are read together.
"""Schedule teach-back (issue 14 item 2, the PQI's "ensure the patient knows the dosing schedule").

At enrollment and after every plan change (each new plan version), the patient is offered up to three questions built
from their own current plan: on which days they take selinexor, how many tablets each time, and when the anti-nausea
medicine goes (P-ANTIEMETIC, the plan's own offset). Only an active plan is asked about (a held or stopped plan has
no schedule to know). A wrong answer is followed by the right one in words and one more try; wrong twice on a question
opens R-TEACH-BACK (routine: staff call the patient), one open alert per patient in the family "teach_back" (§4d).

The offer never stands in the way: Today offers it only once a plan change is confirmed, below the dose card, and
"Not now" puts it off. Every answer is a `TeachBackAttempt` row (at most two per question and plan version).

By SMS (teach_back_sms.py, for SMS-only patients) the days and tablets questions are asked with word answers; a
teach-back answered only by SMS is complete with those two (SMS_QUESTIONS).

Choice codes (what a form posts and a row stores): days "0-2" (Mondays and Wednesdays, Monday = 0), "1" (Tuesdays
only), "every"; tablets "4"; anti-nausea medicine "before-30", "with", "after", "when-sick".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ...clinical.regimens import Plan, PlanStatus
from ...clinical.rules import RULES, Finding
from ...context import AppContext
from ...db import session_scope
from ...errors import FieldError, NotFound
from ...i18n import N_, WEEKDAYS_PLURAL, normalize_language, translate, translate_plural
from ...models import Patient, TeachBackAttempt, TreatmentPlan
from ..alerts import AlertChange, publish_alert_changes, upsert_alert
from ..patient_state import current_plan
from ..report_status import awaiting_team_alert

QUESTION_NAMES = ("days", "tablets", "antiemetic")
SMS_QUESTIONS = ("days", "tablets")  # asked by text (teach_back_sms.py): word answers stay simple
MAX_ATTEMPTS = 2
CHANNELS = ("app", "sms")
# clinical-reference: R-TEACH-BACK (routine, "patient unsure of schedule": staff call the patient)
RULE_ID = "R-TEACH-BACK"

PROMPTS = {
    "days": N_("On which days do you take selinexor?"),
    "tablets": N_("How many selinexor tablets do you take each time?"),
    # clinical-reference: P-ANTIEMETIC
    "antiemetic": N_("When do you take your anti-nausea medicine?"),
}
EVERY_DAY = N_("Every day")
DAY_ONLY = N_("%(day)s only")
TWO_DAYS = N_("%(first)s and %(second)s")
TAKE_ON_TWO = N_("You take selinexor on %(first)s and %(second)s.")
TAKE_ON_ONE = N_("You take selinexor on %(day)s only.")
ABOUT_BEFORE = N_("About %(minutes)s minutes before selinexor")
WITH_DOSE = N_("At the same time as selinexor")
AFTER_DOSE = N_("After selinexor")
WHEN_SICK = N_("Only when I feel sick")
# clinical-reference: P-ANTIEMETIC (the plan's own timing, set by the care team)
TAKE_ANTIEMETIC_BEFORE = N_("Take your anti-nausea medicine about %(minutes)s minutes before selinexor.")
TAKE_ANTIEMETIC_WITH = N_("Take your anti-nausea medicine at the same time as selinexor.")


@dataclass(frozen=True)
class Choice:
    """One answer offered: its code and its words in the patient's language."""

    value: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question about the patient's own plan, in their language; `right` is the code of the right choice."""

    name: str
    prompt: str
    choices: tuple[Choice, ...]
    right: str
    right_words: str  # the right answer as a sentence: "You take selinexor on Mondays and Wednesdays."

    def label_of(self, value: str) -> str:
        """The words of a choice code (the code itself when it is not one of the choices)."""
        return next((c.label for c in self.choices if c.value == value), value)


@dataclass(frozen=True)
class TeachBackResult:
    """The latest teach-back of a patient, for the staff page and the quality report (see teach_back_results)."""

    plan_id: int
    passed: bool | None  # None: not every question answered yet (and none wrong twice)
    answered_at: datetime | None
    wrong_twice: bool
    second_try: bool = False  # passed, with at least one question right only on the second try


@dataclass(frozen=True)
class AnswerOutcome:
    """What the patient is told after an answer: right, wrong (try again), or wrong twice (the team will call)."""

    question: str
    result: str  # right | wrong | wrong_twice | already
    attempt: int
    alert: AlertChange | None = None


# --------------------------------------------------------------------------------------------------------------------
# The questions, from the plan
# --------------------------------------------------------------------------------------------------------------------


def _days_code(days: Sequence[int]) -> str:
    return "-".join(str(d % 7) for d in days)


def _day_names(code: str, lang: str) -> list[str]:
    return [translate(lang, WEEKDAYS_PLURAL[int(d)]) for d in code.split("-")]


def _days_label(code: str, lang: str) -> str:
    """A choice: 'Mondays and Wednesdays', 'Tuesdays only', 'Every day' (a capital first: Spanish 'Lunes y ...')."""
    if code == "every":
        return translate(lang, EVERY_DAY)
    names = _day_names(code, lang)
    if len(names) == 1:
        text = translate(lang, DAY_ONLY, day=names[0])
    else:
        text = translate(lang, TWO_DAYS, first=names[0], second=names[1])
    return text[:1].upper() + text[1:]


def _days_sentence(code: str, lang: str) -> str:
    """The right answer in words: 'You take selinexor on Mondays and Wednesdays.'"""
    names = _day_names(code, lang)
    if len(names) == 1:
        return translate(lang, TAKE_ON_ONE, day=names[0])
    return translate(lang, TAKE_ON_TWO, first=names[0], second=names[1])


def _days_question(plan: TreatmentPlan, clinical: Plan, lang: str) -> Question:
    day1, day3 = plan.day1_weekday % 7, plan.day3_weekday % 7
    if clinical.dose_level.twice_weekly:  # clinical-reference: section 1 ("Days 1 and 3" are two weekdays)
        right = _days_code((day1, day3))
        wrong = [_days_code((day1,)), _days_code((day1 + 1, day3 + 1))]
    else:  # once weekly uses Day 1
        right = _days_code((day1,))
        wrong = [_days_code((day1, day1 + 2)), _days_code((day1 + 1,))]
    codes = sorted({right, *wrong} - {"every"}, key=lambda c: (int(c.split("-")[0]), len(c))) + ["every"]
    return Question(
        "days",
        translate(lang, PROMPTS["days"]),
        tuple(Choice(c, _days_label(c, lang)) for c in codes),
        right,
        _days_sentence(right, lang),
    )


def _tablets_label(count: int, strength_mg: int, lang: str) -> str:
    return translate_plural(
        lang, "%(num)s tablet of %(strength)s mg", "%(num)s tablets of %(strength)s mg", count, strength=strength_mg
    )


def _tablets_question(patient: Patient, clinical: Plan, lang: str) -> Question:
    right = clinical.tablets  # dose / the patient's own strength (clinical-reference: section 1)
    counts = [n for n in (right - 1, right, right + 1, right + 2) if n >= 1][:3]
    return Question(
        "tablets",
        translate(lang, PROMPTS["tablets"]),
        tuple(Choice(str(n), _tablets_label(n, patient.tablet_strength_mg, lang)) for n in counts),
        str(right),
        translate_plural(
            lang,
            "You take %(num)s tablet of %(strength)s mg each time.",
            "You take %(num)s tablets of %(strength)s mg each time.",
            right,
            strength=patient.tablet_strength_mg,
        ),
    )


def _antiemetic_question(plan: TreatmentPlan, lang: str) -> Question:
    # clinical-reference: P-ANTIEMETIC (about N minutes before each dose, N set per patient by the care team)
    minutes = plan.antiemetic_offset_min
    if minutes > 0:
        right = f"before-{minutes}"
        choices = [Choice(right, translate(lang, ABOUT_BEFORE, minutes=minutes))]
        right_words = translate(lang, TAKE_ANTIEMETIC_BEFORE, minutes=minutes)
    else:
        right = "with"
        choices = [Choice(right, translate(lang, WITH_DOSE))]
        right_words = translate(lang, TAKE_ANTIEMETIC_WITH)
    choices += [Choice("after", translate(lang, AFTER_DOSE)), Choice("when-sick", translate(lang, WHEN_SICK))]
    return Question("antiemetic", translate(lang, PROMPTS["antiemetic"]), tuple(choices), right, right_words)


def build_questions(patient: Patient, plan: TreatmentPlan, lang: str | None = None) -> list[Question]:
    """The questions about this plan version in the patient's language (none unless the plan is active)."""
    if plan.status != PlanStatus.ACTIVE.value:
        return []
    lang = normalize_language(lang or patient.language)
    clinical = Plan(
        regimen=plan.regimen,
        level=plan.dose_level,
        status=PlanStatus(plan.status),
        tablet_strength_mg=patient.tablet_strength_mg,
    )
    return [
        _days_question(plan, clinical, lang),
        _tablets_question(patient, clinical, lang),
        _antiemetic_question(plan, lang),
    ]


# --------------------------------------------------------------------------------------------------------------------
# Progress and answers
# --------------------------------------------------------------------------------------------------------------------


def attempts_for(session: Session, patient_id: int, plan_id: int) -> list[TeachBackAttempt]:
    """The patient's answers about one plan version, oldest first."""
    return list(
        session.exec(
            select(TeachBackAttempt)
            .where(TeachBackAttempt.patient_id == patient_id, TeachBackAttempt.plan_id == plan_id)
            .order_by(TeachBackAttempt.at, TeachBackAttempt.id)
        ).all()
    )


def _finished(attempts: Sequence[TeachBackAttempt], question: str) -> bool:
    mine = [a for a in attempts if a.question == question]
    return any(a.correct for a in mine) or len(mine) >= MAX_ATTEMPTS


def next_question(questions: Sequence[Question], attempts: Sequence[TeachBackAttempt]) -> Question | None:
    """The first question not yet answered right or twice (None: the teach-back is finished)."""
    return next((q for q in questions if not _finished(attempts, q.name)), None)


def attempt_number(attempts: Sequence[TeachBackAttempt], question: str) -> int:
    """Which try the next answer to this question is (1 or 2)."""
    return sum(1 for a in attempts if a.question == question) + 1


def waiting_for_team(session: Session, patient_id: int) -> bool:
    """Whether the patient is told to wait for the care team before the next dose (Today's wait state): no questions
    then, since every right answer restates the schedule the advice has just stopped (clinical-reference section 3,
    "The patient's screens never contradict the advice")."""
    return awaiting_team_alert(session, patient_id) is not None


def questions_left(session: Session, patient: Patient, plan: TreatmentPlan) -> int:
    """How many questions about this plan version the patient has left (0: none offered, e.g. a held plan or while
    waiting for the care team; the caller checks the plan-change notice)."""
    if plan.status != PlanStatus.ACTIVE.value or waiting_for_team(session, patient.id):
        return 0
    attempts = attempts_for(session, patient.id, plan.id)
    return sum(1 for q in build_questions(patient, plan) if not _finished(attempts, q.name))


def is_offered(session: Session, patient: Patient, plan: TreatmentPlan) -> bool:
    """Whether the patient has questions left about this plan version and is not waiting for the care team (the
    caller checks the plan-change notice)."""
    return questions_left(session, patient, plan) > 0


def _well_formed(question: str, answer: str) -> bool:
    """An answer a text may give that the choices do not list (a day set, a tablet count): a wrong answer all the same."""
    if question == "days":
        return answer == "every" or re.fullmatch(r"[0-6](-[0-6]){0,6}", answer) is not None
    return question == "tablets" and re.fullmatch(r"[1-9][0-9]?", answer) is not None


def _answer_words(question: Question, answer: str) -> str:
    """An answer in English words for the care team (a texted answer may be one the choices do not list)."""
    if any(c.value == answer for c in question.choices) or not _well_formed(question.name, answer):
        return question.label_of(answer)
    return _days_label(answer, "en") if question.name == "days" else f"{answer} tablets"


def _unsure_finding(question: Question, answer: str) -> Finding:
    # clinical-reference: R-TEACH-BACK (routine: the care team calls to go over the schedule); facts in English
    facts = f"Patient unsure of schedule: {question.prompt} answered {_answer_words(question, answer)}; right: " + (
        question.label_of(question.right)
    )
    rule = RULES[RULE_ID]
    return Finding(
        rule=rule.id,
        family=rule.family,
        tier=rule.tier,
        action=rule.action,
        facts=facts[:2000],
        advice=(),
        resume_level=None,
        resume_dose=None,
    )


def record_answer(
    ctx: AppContext,
    patient_id: int,
    *,
    plan_id: int,
    question: str,
    answer: str,
    channel: str,
    key: str | None = None,
) -> AnswerOutcome:
    """Store one answer about the patient's current plan; the second wrong answer to a question opens R-TEACH-BACK.

    An answer about an older plan version, or to a question already finished, or while the patient is told to wait
    for the care team (Today's wait state), stores nothing (`already`); a choice
    the question does not offer is a FieldError (422, nothing stored), except a well-formed texted answer (a day set,
    a tablet count), which is a wrong answer; another patient's plan is NotFound. `key` (e.g. "sms:<MessageSid>")
    makes a repeated call with the same key return the first outcome and store nothing.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    now = ctx.clock.now()
    outcome: AnswerOutcome
    with session_scope(ctx.engine) as session:
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise NotFound("No such patient.")
        plan = current_plan(session, patient_id)
        questions = {q.name: q for q in build_questions(patient, plan, "en")}
        asked = questions.get(question)
        if question not in QUESTION_NAMES:
            raise FieldError("question", N_("Please choose one of the answers."))
        if plan.id != plan_id:
            older = session.get(TreatmentPlan, plan_id)
            if older is None or older.patient_id != patient_id:
                raise NotFound("No such plan.")  # another patient's plan is not found (the session says whose)
            return AnswerOutcome(question, "already", 0)  # the plan changed meanwhile: ask about the new one
        if asked is None:
            return AnswerOutcome(question, "already", 0)  # held or stopped: nothing to ask
        if waiting_for_team(session, patient_id):
            return AnswerOutcome(question, "already", 0)  # told to wait for the care team: no schedule to restate
        if answer not in {c.value for c in asked.choices} and not (channel == "sms" and _well_formed(question, answer)):
            raise FieldError("answer", N_("Please choose one of the answers."))
        attempts = attempts_for(session, patient_id, plan.id)
        if key is not None and (done := next((a for a in attempts if a.source_key == key), None)) is not None:
            return _outcome_of(done)  # the same text handled again (a webhook retried after a crash)
        if _finished(attempts, question):
            return AnswerOutcome(question, "already", attempt_number(attempts, question) - 1)
        attempt = attempt_number(attempts, question)
        correct = answer == asked.right
        try:
            with session.begin_nested():  # a double-posted form: the first answer counts
                session.add(
                    TeachBackAttempt(
                        patient_id=patient_id,
                        plan_id=plan.id,
                        question=question,
                        answer=answer,
                        correct=correct,
                        attempt=attempt,
                        channel=channel,
                        at=now,
                        source_key=key,
                    )
                )
                session.flush()
        except IntegrityError:
            return AnswerOutcome(question, "already", attempt)
        if correct:
            outcome = AnswerOutcome(question, "right", attempt)
        elif attempt < MAX_ATTEMPTS:
            outcome = AnswerOutcome(question, "wrong", attempt)
        else:
            change = upsert_alert(session, patient, _unsure_finding(asked, answer), now)
            outcome = AnswerOutcome(question, "wrong_twice", attempt, change)
    if outcome.alert is not None:
        publish_alert_changes(ctx, [outcome.alert])
    return outcome


def _outcome_of(row: TeachBackAttempt) -> AnswerOutcome:
    """What an answer already stored was (right, wrong, or wrong twice), without its alert."""
    if row.correct:
        return AnswerOutcome(row.question, "right", row.attempt)
    return AnswerOutcome(row.question, "wrong" if row.attempt < MAX_ATTEMPTS else "wrong_twice", row.attempt)


# --------------------------------------------------------------------------------------------------------------------
# Results (the staff page, the checklist, the quality report)
# --------------------------------------------------------------------------------------------------------------------


def teach_back_results(session: Session, patient_ids: Sequence[int]) -> dict[int, TeachBackResult]:
    """Each patient's latest teach-back, in two queries whatever the number of patients.

    It is about the current plan version when that is active (the one to be asked about) or has answers; otherwise
    (held or stopped) about the latest version answered, if any. passed: True when every question was answered
    right (first or second try), False when one was answered wrong twice, None while questions remain.
    """
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return {}
    plans = session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id.in_(ids)).order_by(TreatmentPlan.version.desc())
    ).all()
    current: dict[int, TreatmentPlan] = {}
    for plan in plans:
        current.setdefault(plan.patient_id, plan)
    return teach_back_results_of(session, current)


def teach_back_results_of(session: Session, current: Mapping[int, Any]) -> dict[int, TeachBackResult]:
    """teach_back_results for patients whose current plan version the caller already read (one query)."""
    if not current:
        return {}
    ids = list(current)
    attempts: dict[int, dict[int, list[TeachBackAttempt]]] = {}
    for row in session.exec(
        select(TeachBackAttempt)
        .where(TeachBackAttempt.patient_id.in_(ids))
        .order_by(TeachBackAttempt.at, TeachBackAttempt.id)
    ).all():
        attempts.setdefault(row.patient_id, {}).setdefault(row.plan_id, []).append(row)
    results: dict[int, TeachBackResult] = {}
    for patient_id in ids:
        plan = current.get(patient_id)
        if plan is None:
            continue
        by_plan = attempts.get(patient_id, {})
        plan_id = plan.id
        if plan.status != PlanStatus.ACTIVE.value and plan_id not in by_plan and by_plan:
            plan_id = max(by_plan, key=lambda pid: by_plan[pid][-1].at)
        results[patient_id] = _result(plan_id, by_plan.get(plan_id, []))
    return results


def _result(plan_id: int, rows: Sequence[TeachBackAttempt]) -> TeachBackResult:
    asked = {row.question for row in rows}
    wrong_twice = any(not r.correct and r.attempt >= MAX_ATTEMPTS for r in rows)
    needed = SMS_QUESTIONS if rows and all(r.channel == "sms" for r in rows) else QUESTION_NAMES
    all_right = asked >= set(needed) and all(_finished(rows, q) for q in needed)
    passed = False if wrong_twice else (True if all_right else None)
    answered_at = rows[-1].at if rows and passed is not None else None
    second_try = bool(passed) and any(r.correct and r.attempt > 1 for r in rows)
    return TeachBackResult(
        plan_id=plan_id, passed=passed, answered_at=answered_at, wrong_twice=wrong_twice, second_try=second_try
    )
