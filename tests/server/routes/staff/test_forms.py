"""Staff forms that Litestar refuses before a handler runs are shown again (422) with the plain-language
message naming the field, exactly like a refusal from a service."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from server.models import Alert, Staff, TreatmentPlan
from tests.support.staff import ADMIN, NURSE, patient_by_mrn, post_form, seed, sign_in, text_of


@pytest.fixture
def demo(engine, settings, clock):
    return seed(engine, settings, clock)


def test_a_refused_plan_form_names_the_field_in_words(client, demo, engine):
    sign_in(client, NURSE)
    maria = patient_by_mrn(engine, "DEMO-001")
    answer = post_form(
        client, f"/staff/patients/{maria.id}/plan", {"operation": "pause", "reason": "x", "dose_time": "soon"}
    )
    assert answer.status_code == 422
    assert "operation: Choose one of: hold, resume, reduce, discontinue, change_schedule." in text_of(answer.text)
    assert "Input should" not in answer.text and "Validation failed" not in answer.text
    with Session(engine) as session:
        assert len(session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == maria.id)).all()) == 1


def test_a_refused_alert_form_shows_the_inbox_again(client, demo, engine):
    sign_in(client, NURSE)
    with Session(engine) as session:
        alert = session.exec(select(Alert)).first()
    assert alert is not None  # the demo clinic has open alerts
    answer = post_form(client, f"/staff/alerts/{alert.id}/assign", {"assignee_id": "someone", "back": "/staff/inbox"})
    assert answer.status_code == 422
    assert "Choose a member of the care team." in text_of(answer.text)
    assert "Input should" not in answer.text


def test_a_refused_new_account_keeps_what_was_typed_but_the_password(client, demo, engine):
    sign_in(client, ADMIN)
    answer = post_form(
        client,
        "/staff/admin/staff",
        {
            "email": "x@demo.clinic",
            "name": "Xavier",
            "role": "nurse",
            "password": "long-enough-password",
            "on_call_order": "first",
        },
    )
    assert answer.status_code == 422
    assert "On-call order must be a whole number (1 = paged first)." in text_of(answer.text)
    assert 'value="Xavier"' in answer.text and "long-enough-password" not in answer.text
    with Session(engine) as session:
        assert session.exec(select(Staff).where(Staff.email == "x@demo.clinic")).first() is None


def test_a_refused_form_for_an_unknown_patient_or_alert_is_not_found(client, demo):
    sign_in(client, NURSE)
    assert post_form(client, "/staff/patients/999999/plan", {"operation": "pause"}).status_code == 404
    assert post_form(client, "/staff/patients/999999/labs", {"collected_on": "soon"}).status_code == 404
    note = post_form(client, "/staff/alerts/999999/note", {"note": "", "back": "/staff/patients/999999"})
    assert note.status_code == 404
