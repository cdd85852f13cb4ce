"""Issue 14 item 2: the schedule teach-back is built from the patient's own plan; two wrong answers to a question open
one routine R-TEACH-BACK alert; a new plan version asks again; teach_back_results sums it up for staff."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from server.db import session_scope
from server.errors import FieldError
from server.models import Alert, Patient, TeachBackAttempt, TreatmentPlan
from server.services.entries import record_weight
from server.services.patient_state import current_plan
from server.services.plans import change_plan
from server.services.pqi import teach_back
from server.services.pqi.teach_back import build_questions, record_answer, teach_back_results
from server.services.report_status import awaiting_team_alert
from tests.support.patient import make_patient, stored
from tests.support.staff import PHARMACIST, ctx_for, seed, staff_by_email


def _questions(engine, patient_id: int, lang: str = "en") -> dict[str, teach_back.Question]:
    with Session(engine) as session:
        patient = session.get(Patient, patient_id)
        return {q.name: q for q in build_questions(patient, current_plan(session, patient_id), lang)}


def _plan_id(engine, patient_id: int) -> int:
    with Session(engine) as session:
        return current_plan(session, patient_id).id


def _labels(question: teach_back.Question) -> list[str]:
    return [c.label for c in question.choices]


@pytest.fixture
def published() -> list:
    return []


@pytest.fixture
def ctx(settings, engine, clock, published):
    return ctx_for(settings, engine, clock, published)


def test_days_1_and_3_ask_for_the_two_weekdays(engine, settings, clock):
    ana = make_patient(engine, settings, clock.now(), day1=0)  # Xd level 0: 80 mg Mondays and Wednesdays
    days = _questions(engine, ana.id)["days"]
    assert days.prompt == "On which days do you take selinexor?"
    assert days.right == "0-2" and days.label_of(days.right) == "Mondays and Wednesdays"
    assert _labels(days) == ["Mondays only", "Mondays and Wednesdays", "Tuesdays and Thursdays", "Every day"]
    assert days.right_words == "You take selinexor on Mondays and Wednesdays."
    spanish = _questions(engine, ana.id, "es")["days"]
    assert spanish.label_of("0-2") == "Lunes y miércoles" and spanish.label_of("every") == "Todos los días"
    assert spanish.right_words == "Usted toma selinexor los lunes y los miércoles."


def test_once_weekly_asks_for_day_1_only(engine, settings, clock):
    bea = make_patient(engine, settings, clock.now(), regimen="XVd", day1=1)  # 100 mg once weekly on Tuesdays
    days = _questions(engine, bea.id)["days"]
    assert days.right == "1" and days.label_of("1") == "Tuesdays only"
    assert _labels(days) == ["Tuesdays only", "Tuesdays and Thursdays", "Wednesdays only", "Every day"]
    assert days.right_words == "You take selinexor on Tuesdays only."
    assert _questions(engine, bea.id, "es")["days"].right_words == "Usted toma selinexor solo los martes."


@pytest.mark.parametrize(("strength", "right", "offered"), [(20, "4", ["3", "4", "5"]), (40, "2", ["1", "2", "3"])])
def test_the_tablet_count_follows_the_patients_strength(engine, settings, clock, strength, right, offered):
    ana = make_patient(engine, settings, clock.now())  # 80 mg
    with session_scope(engine) as session:
        session.get(Patient, ana.id).tablet_strength_mg = strength
    tablets = _questions(engine, ana.id)["tablets"]
    assert tablets.right == right and [c.value for c in tablets.choices] == offered
    assert tablets.label_of(right) == f"{right} tablets of {strength} mg"
    assert tablets.right_words == f"You take {right} tablets of {strength} mg each time."


def test_one_tablet_is_never_offered_as_zero(engine, settings, clock):
    ana = make_patient(engine, settings, clock.now(), regimen="XVd", level=3)  # 40 mg once weekly
    with session_scope(engine) as session:
        session.get(Patient, ana.id).tablet_strength_mg = 40
    tablets = _questions(engine, ana.id)["tablets"]
    assert [c.value for c in tablets.choices] == ["1", "2", "3"]
    assert tablets.right_words == "You take 1 tablet of 40 mg each time."


def test_the_antiemetic_question_uses_the_plans_own_offset(engine, settings, clock):
    ana = make_patient(engine, settings, clock.now())
    with session_scope(engine) as session:
        session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == ana.id)).one().antiemetic_offset_min = 45
    question = _questions(engine, ana.id)["antiemetic"]
    assert question.right == "before-45"
    assert _labels(question) == ["About 45 minutes before selinexor", "After selinexor", "Only when I feel sick"]
    assert question.right_words == "Take your anti-nausea medicine about 45 minutes before selinexor."


def test_a_held_plan_has_no_questions(engine, settings, clock):
    ana = make_patient(engine, settings, clock.now(), status="held")
    assert _questions(engine, ana.id) == {}


def test_right_wrong_and_wrong_twice_open_exactly_one_routine_alert(engine, settings, clock, ctx, published):
    ana = make_patient(engine, settings, clock.now())
    plan_id = _plan_id(engine, ana.id)

    def answer(question: str, value: str) -> str:
        return record_answer(ctx, ana.id, plan_id=plan_id, question=question, answer=value, channel="app").result

    assert answer("tablets", "4") == "right"
    assert answer("days", "every") == "wrong"
    with Session(engine) as session:
        assert session.exec(select(Alert)).all() == []
    assert answer("days", "0") == "wrong_twice"
    assert answer("days", "0-2") == "already"  # finished: a third answer is not stored
    assert answer("antiemetic", "after") == "wrong"
    assert answer("antiemetic", "when-sick") == "wrong_twice"  # updates the open alert, never a second one
    with Session(engine) as session:
        alerts = session.exec(select(Alert).where(Alert.patient_id == ana.id)).all()
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.family, alert.tier, alert.action) == ("R-TEACH-BACK", "teach_back", "routine", "evaluate")
    assert alert.facts == (
        "Patient unsure of schedule: When do you take your anti-nausea medicine? answered Only when I feel sick; "
        "right: About 30 minutes before selinexor"
    )
    rows = stored(engine, TeachBackAttempt, ana.id)
    assert [(r.question, r.answer, r.correct, r.attempt, r.channel) for r in rows] == [
        ("tablets", "4", True, 1, "app"),
        ("days", "every", False, 1, "app"),
        ("days", "0", False, 2, "app"),
        ("antiemetic", "after", False, 1, "app"),
        ("antiemetic", "when-sick", False, 2, "app"),
    ]
    assert [d["kind"] for c, d in published if c == "inbox"] == ["created", "updated"]
    with Session(engine) as session:
        result = teach_back_results(session, [ana.id])[ana.id]
    assert result == teach_back.TeachBackResult(plan_id, False, clock.now(), True)


def test_the_first_wrong_alert_says_which_question(engine, settings, clock, ctx):
    ana = make_patient(engine, settings, clock.now())
    plan_id = _plan_id(engine, ana.id)
    for value in ("every", "1-3"):
        record_answer(ctx, ana.id, plan_id=plan_id, question="days", answer=value, channel="app")
    with Session(engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == ana.id)).one()
    assert alert.facts == (
        "Patient unsure of schedule: On which days do you take selinexor? answered Tuesdays and Thursdays; "
        "right: Mondays and Wednesdays"
    )


def test_a_choice_not_offered_is_refused_and_nothing_stored(engine, settings, clock, ctx):
    ana = make_patient(engine, settings, clock.now())
    plan_id = _plan_id(engine, ana.id)
    with pytest.raises(FieldError) as refused:
        record_answer(ctx, ana.id, plan_id=plan_id, question="tablets", answer="9", channel="app")
    assert refused.value.field == "answer"
    with pytest.raises(FieldError):
        record_answer(ctx, ana.id, plan_id=plan_id, question="colour", answer="4", channel="app")
    assert stored(engine, TeachBackAttempt, ana.id) == []


def test_passed_when_every_question_is_answered_right_and_a_new_plan_version_asks_again(engine, settings, clock, ctx):
    seed(engine, settings, clock)
    pharmacist = staff_by_email(engine, PHARMACIST)
    ana = make_patient(engine, settings, clock.now())
    plan_id = _plan_id(engine, ana.id)
    with Session(engine) as session:
        assert teach_back_results(session, [ana.id])[ana.id] == teach_back.TeachBackResult(plan_id, None, None, False)
    record_answer(ctx, ana.id, plan_id=plan_id, question="days", answer="every", channel="app")
    for question, value in (("days", "0-2"), ("tablets", "4"), ("antiemetic", "before-30")):
        clock.advance(minutes=1)
        assert record_answer(ctx, ana.id, plan_id=plan_id, question=question, answer=value, channel="app").result == (
            "right"
        )
    with Session(engine) as session:
        patient = session.get(Patient, ana.id)
        assert teach_back_results(session, [ana.id])[ana.id] == teach_back.TeachBackResult(
            plan_id,
            True,
            clock.now(),
            False,
            second_try=True,  # the days question was right on the second try
        )
        assert not teach_back.is_offered(session, patient, current_plan(session, ana.id))
    change_plan(ctx, ana.id, staff_id=pharmacist.id, operation="reduce", reason="R-WT-10: one level lower")
    new_plan_id = _plan_id(engine, ana.id)
    with Session(engine) as session:
        patient = session.get(Patient, ana.id)
        assert teach_back.is_offered(session, patient, current_plan(session, ana.id))
        assert teach_back_results(session, [ana.id])[ana.id] == teach_back.TeachBackResult(
            new_plan_id, None, None, False
        )
    # Now 100 mg once weekly (Xd level 1): Mondays only, 5 tablets.
    questions = _questions(engine, ana.id)
    assert questions["days"].right == "0" and questions["tablets"].right == "5"
    # An answer to the old version's question (a form left open) stores nothing.
    late = record_answer(ctx, ana.id, plan_id=plan_id, question="tablets", answer="4", channel="app")
    assert late.result == "already"
    assert len(stored(engine, TeachBackAttempt, ana.id)) == 4


def test_results_for_many_patients_in_two_queries(engine, settings, clock, ctx):
    from tests.statements import count_statements

    patients = [make_patient(engine, settings, clock.now(), mrn=f"M-{n}", phone=None) for n in range(4)]
    held = make_patient(engine, settings, clock.now(), mrn="H-1", status="held", phone=None)
    with Session(engine) as session, count_statements(engine) as statements:
        results = teach_back_results(session, [p.id for p in patients] + [held.id, 999_999])
    assert statements.count == 2
    assert set(results) == {p.id for p in patients} | {held.id}
    assert all(r.passed is None for r in results.values())


def _told_to_wait(ctx, patient_id: int) -> None:
    """12% below the 70 kg baseline: R-WT-10 (interrupt, same day): Today says "Wait for your care team"."""
    record_weight(
        ctx, patient_id, key=f"wait-weight-{patient_id:04d}", at=ctx.clock.now(), value=61.6, unit="kg", confirmed=True
    )
    with Session(ctx.engine) as session:
        assert awaiting_team_alert(session, patient_id) is not None


def test_no_question_is_offered_or_accepted_while_the_patient_waits_for_the_care_team(engine, settings, clock, ctx):
    seed(engine, settings, clock)
    ana = make_patient(engine, settings, clock.now())
    plan_id = _plan_id(engine, ana.id)
    _told_to_wait(ctx, ana.id)
    with Session(engine) as session:
        patient, plan = session.get(Patient, ana.id), current_plan(session, ana.id)
        assert teach_back.is_offered(session, patient, plan) is False
    outcome = record_answer(ctx, ana.id, plan_id=plan_id, question="days", answer="0-2", channel="app")
    assert outcome.result == "already"  # nothing restates the schedule the advice has just stopped
    assert stored(engine, TeachBackAttempt, ana.id) == []
    # The team acts (a new plan version): the wait ends and the new version is asked about.
    pharmacist = staff_by_email(engine, PHARMACIST)
    clock.advance(minutes=10)
    change_plan(ctx, ana.id, staff_id=pharmacist.id, operation="reduce", reason="R-WT-10: one level lower")
    with Session(engine) as session:
        patient, plan = session.get(Patient, ana.id), current_plan(session, ana.id)
        assert teach_back.is_offered(session, patient, plan) is True
