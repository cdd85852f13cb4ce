"""Issue 14 item 2 by SMS: an SMS-only patient gets the schedule teach-back as a text (once per plan version, never at
night), answers with words, and two wrong answers open the same R-TEACH-BACK alert as the app. Over real HTTP: the
fake provider posts signed webhooks to the app, and the questions and replies go out through the twilio SDK."""

from __future__ import annotations

from datetime import time

from sqlmodel import Session, select

from notifications.dispatcher import dispatch_once
from server.db import session_scope
from server.models import Alert, DoseEvent, InboundMessage, OutboundMessage, Patient, TeachBackAttempt
from server.services.entries import record_weight
from server.services.patient_state import current_plan
from server.services.plan_notices import acknowledge_notice
from server.services.plans import change_plan
from server.services.pqi.teach_back import teach_back_results
from server.services.pqi.teach_back_sms import queue_question
from tests.support.notifications import clinician_id, reminders_of, utc

PHONE = "+15551230042"
CLINIC_PHONE = "+15555550100"  # Riverside Oncology (tests/notifications/conftest.py)
DAYS_EN = "Reply MON, MON-WED, TUE-THU or EVERYDAY."
TABLETS_EN = "How many tablets do you take for each dose? Reply THREE, FOUR or FIVE."


def _ask(ctx, pid: int) -> bool:
    """What enrollment does for the patient (make_patient writes plan v1 directly)."""
    with session_scope(ctx.engine) as session:
        patient = session.get(Patient, pid)
        plan = current_plan(session, pid)
        return queue_question(session, patient, plan, ctx.clock.now(), default_clinic="Clinic")


def _questions(ctx, pid: int) -> list[OutboundMessage]:
    return reminders_of(ctx.engine, pid, kind="teach_back")


def _texts(provider, number=PHONE) -> list[str]:
    return [m["body"] for m in provider.messages_to(number)]


def _send(ctx, channels, clock, provider, text: str, number=PHONE, **kwargs) -> str:
    """The patient texts `text`; returns our reply as sent through the provider."""
    before = len(provider.messages_to(number))
    assert provider.send_inbound(number, text, **kwargs).ok
    dispatch_once(ctx, channels)
    after = _texts(provider, number)
    assert len(after) == before + 1, after[before:]
    return after[-1]


def _asked(ctx, channels, clock, provider, pid: int) -> str:
    """The question goes out QUESTION_DELAY later; returns its text."""
    assert _ask(ctx, pid)
    clock.advance(minutes=5)
    dispatch_once(ctx, channels)
    [question] = [t for t in _texts(provider) if "quick check" in t or "pregunta rápida" in t]
    return question


def _handled(ctx, pid: int) -> list[str]:
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(InboundMessage).where(InboundMessage.patient_id == pid).order_by(InboundMessage.id)
        ).all()
        return [m.handled_as for m in rows]


def _alerts(ctx, pid: int) -> list[Alert]:
    with Session(ctx.engine) as session:
        return list(session.exec(select(Alert).where(Alert.patient_id == pid, Alert.rule == "R-TEACH-BACK")).all())


def _result(ctx, pid: int):
    with Session(ctx.engine) as session:
        return teach_back_results(session, [pid])[pid]


# ------------------------------------------------------------------------------------------------ asking


def test_one_question_per_plan_version_for_an_sms_patient_after_a_few_minutes(ctx, channels, make_patient, clock):
    clock.set(utc(2026, 3, 2, 15))  # Monday 10:00 in New York
    pid = make_patient(phone=PHONE)
    assert _ask(ctx, pid) and _ask(ctx, pid)  # asked twice: still one row (dedupe key per plan version)
    [row] = _questions(ctx, pid)
    with Session(ctx.engine) as session:
        plan_id = current_plan(session, pid).id
    assert row.dedupe_key == f"teach_back:{pid}:{plan_id}" and row.channel == "sms" and row.status == "pending"
    assert row.send_at == utc(2026, 3, 2, 15, 5) and row.expires_at == utc(2026, 3, 3, 3, 5)
    assert (
        row.body
        == f"Riverside Oncology: a quick check of your schedule. On which days do you take your dose? {DAYS_EN}"
    )


def test_never_at_night_in_the_patients_zone(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 3, 2, 30))  # Monday 21:30 in New York, after quiet hours began (21:00)
    pid = make_patient(phone=PHONE)
    assert _ask(ctx, pid)
    [row] = _questions(ctx, pid)
    assert row.send_at == utc(2026, 3, 3, 12)  # Tuesday 07:00 in New York, when quiet hours end


def test_no_question_for_app_patients_opted_out_or_unconsenting_ones(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 2, 15))
    app_user = make_patient(channel_preference="push")
    stopped = make_patient(sms_opted_out=True)
    no_consent = make_patient(sms_consent=False)
    held = make_patient(status="held")
    assert [_ask(ctx, pid) for pid in (app_user, stopped, no_consent, held)] == [False] * 4
    assert [_questions(ctx, pid) for pid in (app_user, stopped, no_consent, held)] == [[]] * 4


def test_enrollment_asks_by_sms_only(ctx, clinic, clock):
    from server.models import Staff
    from server.services.enrollment import EnrollmentForm, enroll_patient

    clock.set(utc(2026, 3, 2, 15))
    with Session(ctx.engine) as session:
        nurse = session.exec(select(Staff)).first()
    base = {
        "first_name": "Ana",
        "last_name": "Ruiz",
        "date_of_birth": "1950-05-17",
        "phone": "+1 202 555 0147",
        "language": "es",
        "timezone": "America/Chicago",
        "regimen": "Xd",
        "start_level": "0",
        "start_date": "2026-03-04",
        "day1_weekday": "2",
        "day3_weekday": "4",
        "dose_time": "09:30",
        "antiemetic_name": "ondansetron 8 mg",
        "antiemetic_offset_min": "45",
        "dexamethasone_instruction": "",
        "baseline_weight": "70",
        "weight_unit": "kg",
        "usual_stools_per_day": "2",
        "sms_consent": "on",
    }
    by_sms = enroll_patient(
        ctx, nurse, EnrollmentForm.model_validate({**base, "mrn": "T-1", "channel_preference": "sms"}), ip=None
    )
    by_app = enroll_patient(
        ctx,
        nurse,
        EnrollmentForm.model_validate({**base, "mrn": "T-2", "phone": "+1 202 555 0148", "channel_preference": "push"}),
        ip=None,
    )
    [question] = _questions(ctx, by_sms.patient_id)
    assert question.body == (
        "Riverside Oncology: una pregunta rápida sobre su horario. ¿Qué días toma su dosis? "
        "Responda MIE, MIE-VIE, JUE-SAB o DIARIO."
    )
    assert _questions(ctx, by_app.patient_id) == []


def test_a_plan_change_confirmed_by_sms_asks_again_and_cancels_an_unsent_older_question(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    assert _ask(ctx, pid)  # not sent yet (five minutes)
    change_plan(ctx, pid, staff_id=clinician_id(ctx), operation="reduce", reason="platelets 60")
    [old] = _questions(ctx, pid)
    assert old.status == "cancelled" and "older plan" in old.cancel_reason  # it would teach the old schedule
    dispatch_once(ctx, channels)
    assert _send(ctx, channels, clock, sms_provider, "OK").startswith("Thank you: your care team can see")
    # Nothing left to confirm: no second question.
    assert _send(ctx, channels, clock, sms_provider, "UNDERSTOOD").startswith("There is no change waiting")
    rows = _questions(ctx, pid)
    assert [r.status for r in rows] == ["cancelled", "pending"]
    with Session(ctx.engine) as session:
        assert rows[1].dedupe_key == f"teach_back:{pid}:{current_plan(session, pid).id}"
    clock.advance(minutes=5)
    dispatch_once(ctx, channels)
    # Level 1 of Xd: 100 mg (5 tablets) on Mondays only
    assert [t for t in _texts(sms_provider) if "quick check" in t] == [
        "Riverside Oncology: a quick check of your schedule. On which days do you take your dose? "
        "Reply MON, MON-WED, TUE or EVERYDAY."
    ]
    assert _send(ctx, channels, clock, sms_provider, "mon") == (
        "That's right. You take your dose on Mondays only. How many tablets do you take for each dose? "
        "Reply FOUR, FIVE or SIX."
    )


def test_a_plan_change_confirmed_in_the_app_asks_nothing_by_sms(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    change_plan(ctx, pid, staff_id=clinician_id(ctx), operation="reduce", reason="platelets 60")
    acknowledge_notice(ctx, pid, None, via="app")
    assert _questions(ctx, pid) == []  # Today offers the teach-back in the app


def test_a_stop_before_the_question_goes_out_cancels_it(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    assert _ask(ctx, pid)
    assert sms_provider.send_inbound(PHONE, "STOP").ok
    clock.advance(minutes=5)
    dispatch_once(ctx, channels)
    [row] = _questions(ctx, pid)
    assert row.status == "cancelled" and "opted out" in row.cancel_reason
    assert _texts(sms_provider) == []


# ------------------------------------------------------------------------------------------------ answering


def test_right_answers_in_words_pass_the_teach_back(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    question = _asked(ctx, channels, clock, sms_provider, pid)
    assert question.endswith(DAYS_EN) and "selinexor" not in question.lower()
    assert _send(ctx, channels, clock, sms_provider, "Mon - Wed") == (
        f"That's right. You take your dose on Mondays and Wednesdays. {TABLETS_EN}"
    )
    assert _send(ctx, channels, clock, sms_provider, "four.") == (
        "That's right. You take 4 tablets of 20 mg each time. Thank you, that was the last question."
    )
    assert _handled(ctx, pid) == ["teach_back_right", "teach_back_right"]
    result = _result(ctx, pid)
    assert (result.passed, result.wrong_twice, result.answered_at) == (True, False, clock.now())
    with Session(ctx.engine) as session:
        attempts = session.exec(select(TeachBackAttempt).where(TeachBackAttempt.patient_id == pid)).all()
    assert [(a.question, a.answer, a.channel) for a in attempts] == [("days", "0-2", "sms"), ("tablets", "4", "sms")]
    # Finished: a text that is no command is "not understood" again, as before the teach-back.
    assert _send(ctx, channels, clock, sms_provider, "MON").startswith(
        "Riverside Oncology: sorry, we did not understand"
    )


def test_wrong_then_right_shows_the_right_answer_in_words_and_asks_once_more(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    _asked(ctx, channels, clock, sms_provider, pid)
    assert _send(ctx, channels, clock, sms_provider, "EVERYDAY") == (
        "Not quite. You take your dose on Mondays and Wednesdays. Please answer once more: reply MON, MON-WED, "
        "TUE-THU or EVERYDAY."
    )
    assert _send(ctx, channels, clock, sms_provider, "monday and wednesday").startswith("That's right.")
    assert _alerts(ctx, pid) == [] and _result(ctx, pid).passed is None  # the tablets question is left


def test_wrong_twice_opens_exactly_one_routine_alert_and_moves_on(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    _asked(ctx, channels, clock, sms_provider, pid)
    _send(ctx, channels, clock, sms_provider, "TUE-THU")
    # A day set the choices do not list is an answer all the same (a wrong one), not "not understood".
    assert _send(ctx, channels, clock, sms_provider, "THU") == (
        "Not quite. You take your dose on Mondays and Wednesdays. Your care team will call you to go over your "
        f"schedule. {TABLETS_EN}"
    )
    [alert] = _alerts(ctx, pid)
    assert (alert.tier, alert.family) == ("routine", "teach_back")
    assert "answered Thursdays only" in alert.facts and "right: Mondays and Wednesdays" in alert.facts
    _send(ctx, channels, clock, sms_provider, "THREE")
    assert _send(ctx, channels, clock, sms_provider, "SIX").startswith("Not quite. You take 4 tablets of 20 mg")
    assert len(_alerts(ctx, pid)) == 1  # one open alert per patient and family
    result = _result(ctx, pid)
    assert (result.passed, result.wrong_twice) == (False, True)
    assert _handled(ctx, pid) == [
        "teach_back_wrong",
        "teach_back_wrong_twice",
        "teach_back_wrong",
        "teach_back_wrong_twice",
    ]


def test_dose_and_other_keywords_keep_their_meaning_while_a_question_waits(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 13, 10))  # Monday 08:10 in New York, a dose day
    pid = make_patient(phone=PHONE)
    assert sms_provider.send_inbound(PHONE, "MON-WED").ok  # no question yet: not an answer
    _asked(ctx, channels, clock, sms_provider, pid)
    assert _send(ctx, channels, clock, sms_provider, "T").startswith("Thank you, today's dose is recorded.")
    assert _send(ctx, channels, clock, sms_provider, "W 70").startswith("Thank you, your weight")
    # A bare digit is never an answer (clinical-reference section 5): the teach-back's help with the words.
    assert _send(ctx, channels, clock, sms_provider, "2") == (
        "Riverside Oncology: to answer the question, reply MON, MON-WED, TUE-THU or EVERYDAY. For the other "
        f"replies, reply HELP, or call {CLINIC_PHONE}."
    )
    assert _send(ctx, channels, clock, sms_provider, "HELP").startswith("Riverside Oncology: reply T when you take")
    assert _send(ctx, channels, clock, sms_provider, "MON-WED").startswith("That's right.")
    assert _handled(ctx, pid) == ["unknown", "dose_taken", "weight", "teach_back_help", "help", "teach_back_right"]
    with Session(ctx.engine) as session:
        assert len(session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).all()) == 1


def test_a_replayed_answer_is_one_answer(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    _asked(ctx, channels, clock, sms_provider, pid)
    sid = "SM" + "b" * 32
    assert sms_provider.send_inbound(PHONE, "TUE-THU", sid=sid).ok
    assert sms_provider.send_inbound(PHONE, "TUE-THU", sid=sid).ok
    with Session(ctx.engine) as session:
        [attempt] = session.exec(select(TeachBackAttempt).where(TeachBackAttempt.patient_id == pid)).all()
    assert (attempt.attempt, attempt.source_key) == (1, f"sms:{sid}") and _alerts(ctx, pid) == []


def test_spanish_words_for_a_spanish_patient(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE, language="es")
    question = _asked(ctx, channels, clock, sms_provider, pid)
    assert question == (
        "Riverside Oncology: una pregunta rápida sobre su horario. ¿Qué días toma su dosis? "
        "Responda LUN, LUN-MIE, MAR-JUE o DIARIO."
    )
    assert _send(ctx, channels, clock, sms_provider, "lun-mié") == (
        "Es correcto. Usted toma su dosis los lunes y los miércoles. ¿Cuántos comprimidos toma en cada dosis? "
        "Responda TRES, CUATRO o CINCO."
    )
    assert _send(ctx, channels, clock, sms_provider, "cinco") == (
        "No es correcto. Usted toma 4 comprimidos de 20 mg cada vez. Por favor, responda una vez más: TRES, "
        "CUATRO o CINCO."
    )
    assert _send(ctx, channels, clock, sms_provider, "CUATRO").endswith("Gracias, esa era la última pregunta.")
    assert _result(ctx, pid).passed is True


def test_the_medicine_is_named_only_when_the_patient_allowed_it(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE, drug_names_in_messages=True, dose_time=time(8, 0))
    question = _asked(ctx, channels, clock, sms_provider, pid)
    assert question.endswith(f"On which days do you take selinexor? {DAYS_EN}")
    assert _send(ctx, channels, clock, sms_provider, "EVERYDAY").startswith(
        "Not quite. You take selinexor on Mondays and Wednesdays."
    )
    assert _send(ctx, channels, clock, sms_provider, "MON-WED").endswith(
        "How many selinexor tablets do you take each time? Reply THREE, FOUR or FIVE."
    )


# ------------------------------------------------------------------------------------------------ waiting for the team


def _told_to_wait(ctx, pid: int) -> None:
    """12% below the 70 kg baseline: R-WT-10 (interrupt, same day): "wait for your care team" (Today's wait state)."""
    record_weight(ctx, pid, key=f"sms-wait-weight-{pid:04d}", at=ctx.clock.now(), value=61.6, unit="kg", confirmed=True)


def test_no_question_is_queued_or_sent_while_the_patient_waits_for_the_care_team(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    queued = make_patient(phone=PHONE)
    assert _ask(ctx, queued)  # queued before the wait began
    _told_to_wait(ctx, queued)
    clock.advance(minutes=5)
    dispatch_once(ctx, channels)
    [row] = _questions(ctx, queued)
    assert row.status == "cancelled" and "wait for the care team" in row.cancel_reason
    assert [t for t in _texts(sms_provider) if "quick check" in t] == []
    later = make_patient(phone="+15551230043")
    _told_to_wait(ctx, later)
    assert _ask(ctx, later) is False and _questions(ctx, later) == []


def test_a_text_is_not_read_as_an_answer_while_the_patient_waits_for_the_care_team(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    _asked(ctx, channels, clock, sms_provider, pid)
    _told_to_wait(ctx, pid)
    reply = _send(ctx, channels, clock, sms_provider, "MON-WED")
    assert "Mondays and Wednesdays" not in reply and reply.startswith(
        "Riverside Oncology: sorry, we did not understand"
    )
    with Session(ctx.engine) as session:
        assert session.exec(select(TeachBackAttempt).where(TeachBackAttempt.patient_id == pid)).all() == []


def test_a_text_that_is_no_attempt_at_an_answer_gets_the_usual_reply_with_the_clinics_number(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    _asked(ctx, channels, clock, sms_provider, pid)
    reply = _send(ctx, channels, clock, sms_provider, "I keep throwing up, cant keep anything down")
    assert reply == (
        f"Riverside Oncology: sorry, we did not understand. Reply HELP for the list of replies, or call {CLINIC_PHONE}."
    )
    # A longer text with an answer word in it is an attempt: the quiz's help, with the number too.
    reply = _send(ctx, channels, clock, sms_provider, "i take it every monday i think")
    assert reply.startswith("Riverside Oncology: to answer the question") and reply.endswith(f"call {CLINIC_PHONE}.")
    assert _handled(ctx, pid) == ["unknown", "teach_back_help"]


def test_the_spanish_quiz_help_names_the_clinics_number(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE, language="es")
    _asked(ctx, channels, clock, sms_provider, pid)
    reply = _send(ctx, channels, clock, sms_provider, "no sé")
    assert reply.startswith("Riverside Oncology: para responder a la pregunta") and reply.endswith(
        f"responda AYUDA, o llame al {CLINIC_PHONE}."
    )
