"""Issue 14 item 2: the schedule teach-back in the patient app: offered on Today (never in the way), one question a
screen as plain forms, the right answer in words after a wrong one, 422 and nothing stored for a bad choice."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from sqlmodel import Session, select

from server.models import Alert, TeachBackAttempt
from server.services.entries import record_weight
from server.services.patient_state import current_plan
from server.services.plan_notices import acknowledge_notice
from server.services.plans import change_plan
from tests.support.patient import make_patient, stored
from tests.support.staff import PHARMACIST, ctx_for, seed, staff_by_email, text_of


@pytest.fixture
def seeded(engine, settings, clock):
    """The demo clinic's staff, before the patient fixture (the same clinic)."""
    return seed(engine, settings, clock)


def _plan_id(engine, patient_id: int) -> int:
    with Session(engine) as session:
        return current_plan(session, patient_id).id


def _answer(phone, engine, patient, question: str, answer: str, **kwargs):
    data = {"plan_id": _plan_id(engine, patient.id), "question": question, "answer": answer}
    return phone.form("/teach-back", data, **kwargs)


def test_today_offers_the_questions_after_the_plan_card_and_not_now_puts_it_off(phone):
    today = phone.get("/today").text
    assert 'id="teach-back"' in today and "Do you know your schedule?" in today
    assert today.index('id="plan-title"') < today.index('id="teach-back"')  # the dose comes first
    later = phone.form("/teach-back/later", {}, follow_redirects=False)
    assert later.status_code == 303 and later.headers["location"] == "/today"
    today = phone.get("/today")
    assert today.status_code == 200 and 'id="teach-back"' not in today.text
    assert "I took my selinexor now" in today.text  # Today and its logging are untouched


def test_a_wrong_answer_shows_the_right_one_and_a_second_wrong_opens_the_alert(phone, engine, patient):
    page = phone.get("/teach-back")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Question 1 of 3" in text and "On which days do you take selinexor?" in text
    assert re.findall(r'name="answer" value="([^"]+)"', page.text) == ["0", "0-2", "1-3", "every"]
    first = _answer(phone, engine, patient, "days", "every", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/teach-back?after=days&result=wrong"
    again = text_of(phone.get(first.headers["location"]).text)
    assert "Not quite. You take selinexor on Mondays and Wednesdays." in again
    assert "Please answer once more." in again and "On which days do you take selinexor?" in again
    second = _answer(phone, engine, patient, "days", "1-3", follow_redirects=True)
    text = text_of(second.text)
    assert "You take selinexor on Mondays and Wednesdays." in text
    assert "Your care team will call you to go over your schedule." in text
    assert "Question 2 of 3" in text and "How many selinexor tablets do you take each time?" in text
    with Session(engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == patient.id)).one()
    assert (alert.rule, alert.tier) == ("R-TEACH-BACK", "routine")
    assert "answered Tuesdays and Thursdays; right: Mondays and Wednesdays" in alert.facts
    right = text_of(_answer(phone, engine, patient, "tablets", "4", follow_redirects=True).text)
    assert "That is right. You take 4 tablets of 20 mg each time." in right
    done = text_of(_answer(phone, engine, patient, "antiemetic", "before-30", follow_redirects=True).text)
    assert "Take your anti-nausea medicine about 30 minutes before selinexor." in done
    assert "Thank you. You have answered every question." in done
    assert 'id="teach-back"' not in phone.get("/today").text  # finished: no longer offered


def test_the_questions_in_spanish(engine, settings, clock, app):
    from litestar.testing import TestClient

    from tests.support.patient import BASE_URL, PatientBrowser, sign_in_link

    luz = make_patient(engine, settings, clock.now(), language="es", mrn="ES-1", phone="+15555550388")
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, luz, clock.now()))
        assert "¿Conoce su horario de tratamiento?" in phone.get("/today").text
        page = text_of(phone.get("/teach-back").text)
        assert "¿Qué días toma selinexor?" in page and "Lunes y miércoles" in page and "Ahora no" in page


def test_bad_choices_are_refused_with_a_plain_sentence_and_nothing_stored(phone, engine, patient):
    for data in (
        {"question": "tablets", "answer": "9"},
        {"question": "tablets"},
        {"question": "colour", "answer": "4"},
        {"question": "days", "answer": "<script>"},
        {"question": "days", "answer": "every", "plan_id": "x"},
    ):
        answer = phone.form("/teach-back", {"plan_id": _plan_id(engine, patient.id), **data})
        assert answer.status_code == 422, data
        assert "Please choose one of the answers." in answer.text
        assert "On which days do you take selinexor?" in text_of(answer.text)  # the question again
    assert stored(engine, TeachBackAttempt, patient.id) == []


def test_an_answer_needs_the_csrf_token(phone, engine, patient):
    data = {"plan_id": _plan_id(engine, patient.id), "question": "days", "answer": "0-2"}
    assert phone.client.post("/teach-back", data=data).status_code == 403
    assert phone.client.post("/teach-back/later", data={}).status_code == 403
    assert stored(engine, TeachBackAttempt, patient.id) == []


def test_another_patients_plan_is_not_found(phone, engine, settings, clock, patient):
    other = make_patient(engine, settings, clock.now(), mrn="OTHER-1", phone="+15555550399")
    answer = phone.form("/teach-back", {"plan_id": _plan_id(engine, other.id), "question": "days", "answer": "0-2"})
    assert answer.status_code == 404
    assert stored(engine, TeachBackAttempt, patient.id) == [] and stored(engine, TeachBackAttempt, other.id) == []


def test_after_a_plan_change_the_questions_wait_for_the_confirmation(
    seeded, app, phone, engine, settings, clock, patient
):
    ctx = ctx_for(settings, engine, clock)
    for question, value in (("days", "0-2"), ("tablets", "4"), ("antiemetic", "before-30")):
        _answer(phone, engine, patient, question, value)
    assert 'id="teach-back"' not in phone.get("/today").text
    change_plan(ctx, patient.id, staff_id=staff_by_email(engine, PHARMACIST).id, operation="reduce", reason="R-WT-10")
    today = phone.get("/today").text
    assert "I understand" in today and 'id="teach-back"' not in today  # the change is confirmed first
    acknowledge_notice(ctx, patient.id, None, via="app")
    assert 'id="teach-back"' in phone.get("/today").text
    page = text_of(phone.get("/teach-back").text)
    assert "Question 1 of 3" in page and "Mondays only" in page  # 100 mg once weekly now


def test_the_staff_page_shows_the_latest_result(seeded, app, engine, settings, clock, patient, phone):
    from litestar.testing import TestClient

    from tests.support.staff import NURSE, sign_in

    with TestClient(app, base_url="http://testserver.local") as staff_client:
        sign_in(staff_client, NURSE)
        page = text_of(staff_client.get(f"/staff/patients/{patient.id}").text)
        assert "Schedule teach-back Not answered yet (plan v1)" in page
        for value in ("every", "0"):
            _answer(phone, engine, patient, "days", value)
        page = text_of(staff_client.get(f"/staff/patients/{patient.id}").text)
        assert "Unsure of the schedule: a question answered wrong twice, Mon 02 Mar 09:00 (plan v1)" in page


def test_no_questions_while_today_says_wait_for_your_care_team(phone, engine, settings, clock, patient):
    """REFERENCE section 3: the patient's screens never contradict the advice. A right answer would say "You take
    selinexor on Mondays and Wednesdays" while Today says to wait for the care team before the next dose."""
    ctx = ctx_for(settings, engine, clock)
    # 12% below the 70 kg baseline: R-WT-10 (interrupt, same day): the wait for the care team.
    record_weight(ctx, patient.id, key="tb-wait-weight-1", at=clock.now(), value=61.6, unit="kg", confirmed=True)
    today = phone.get("/today").text
    assert "Wait for your care team before your next selinexor dose." in text_of(today)
    assert 'id="teach-back"' not in today
    page = text_of(phone.get("/teach-back").text)
    assert "On which days do you take selinexor?" not in page and "There are no questions for you now." in page
    answer = _answer(phone, engine, patient, "days", "0-2", follow_redirects=True)
    assert "Mondays and Wednesdays" not in text_of(answer.text)
    assert stored(engine, TeachBackAttempt, patient.id) == []


def test_today_says_how_many_questions_are_left(phone, engine, patient):
    assert "Answer 3 short questions about how you take your treatment." in text_of(phone.get("/today").text)
    _answer(phone, engine, patient, "days", "0-2")
    assert "Answer 2 short questions about how you take your treatment." in text_of(phone.get("/today").text)
    _answer(phone, engine, patient, "tablets", "4")
    assert "Answer 1 short question about how you take your treatment." in text_of(phone.get("/today").text)


@pytest.mark.parametrize(
    "answers, words",
    [
        ((("days", "0-2"), ("tablets", "4"), ("antiemetic", "before-30")), "Passed, right first time:"),
        (
            (("days", "every"), ("days", "0-2"), ("tablets", "4"), ("antiemetic", "before-30")),
            "Passed, right on the second try:",
        ),
    ],
)
def test_the_staff_page_tells_right_first_time_from_right_on_the_second_try(
    seeded, app, engine, patient, phone, answers, words
):
    from litestar.testing import TestClient

    from tests.support.staff import NURSE, sign_in

    for question, value in answers:
        _answer(phone, engine, patient, question, value)
    with TestClient(app, base_url="http://testserver.local") as staff_client:
        sign_in(staff_client, NURSE)
        page = text_of(staff_client.get(f"/staff/patients/{patient.id}").text)
    assert words in page
    assert ("second try" in page) is ("second try" in words)


@pytest.fixture
def browser_for(app, engine, clock):
    """Opens a signed-in phone for a patient per call; every one is closed (its app lifespan ended) after the test."""
    from litestar.testing import TestClient

    from tests.support.patient import BASE_URL, PatientBrowser, sign_in_link

    with ExitStack() as clients:

        def open_browser(patient):
            browser = PatientBrowser(clients.enter_context(TestClient(app, base_url=BASE_URL)))
            browser.sign_in(sign_in_link(engine, patient, clock.now()))
            return browser

        yield open_browser


def test_a_patient_without_a_phone_number_is_contacted_not_called(engine, settings, clock, app, browser_for):
    ana = make_patient(engine, settings, clock.now(), mrn="NOPHONE-1", phone=None)
    phone = browser_for(ana)
    _answer(phone, engine, ana, "days", "every")
    text = text_of(_answer(phone, engine, ana, "days", "1-3", follow_redirects=True).text)
    assert "Your care team will contact you to go over your schedule." in text
    assert "will call you" not in text


def test_the_spanish_words_for_the_schedule_and_a_wrong_answer(engine, settings, clock, app, browser_for):
    luz = make_patient(engine, settings, clock.now(), language="es", mrn="ES-2", phone="+15555550389")
    phone = browser_for(luz)
    wrong = text_of(_answer(phone, engine, luz, "days", "every", follow_redirects=True).text)
    assert "No es correcto. Usted toma selinexor los lunes y los miércoles." in wrong
    assert "Su horario" in wrong and "calendario" not in wrong
    twice = text_of(_answer(phone, engine, luz, "days", "1-3", follow_redirects=True).text)
    assert "Su equipo de atención le llamará para repasar su horario." in twice
