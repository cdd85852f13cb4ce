"""No 500 on any input (issue 13, items 9 and 10): each input the adversarial review found answers 4xx naming the
field with nothing stored; a 500 that still happens is logged with its traceback and a request id; a no-JS retry
answers "already saved"; duplicate SMS webhooks never overwrite the first one's record."""

from __future__ import annotations

import logging

import pytest
from litestar import get
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.context import AppContext
from server.db import session_scope
from server.models import DoseEvent, InboundMessage, OutboundMessage, PushSubscription
from server.services import sms_inbound
from tests.support.patient import BASE_URL, stored


def _dose(key: str, **fields) -> dict:
    return {"idempotency_key": key, "status": "taken", **fields}


@pytest.mark.parametrize(
    "body, field",
    [
        (_dose("key-corrects-big", corrects_id=2**70), "corrects_id"),
        (_dose("key-corrects-64", corrects_id=2**63), "corrects_id"),
        (_dose("key-year-one", at="0001-01-01T00:00:00Z"), "at"),
        (_dose("key-year-9999", at="9999-12-31T23:59:59Z"), "at"),
        ({"idempotency_key": "key-missed-9999", "status": "missed", "scheduled_for": "9999-12-31"}, "scheduled_for"),
        ({"idempotency_key": "key-missed-0001", "status": "missed", "scheduled_for": "0001-01-01"}, "scheduled_for"),
        (_dose("key-with-\x00-nul"), "idempotency_key"),
    ],
)
def test_odd_entry_values_answer_422_naming_the_field_and_store_nothing(phone, engine, patient, body, field):
    answer = phone.api("POST", "/api/doses", body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    assert stored(engine, DoseEvent, patient.id) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_nan_and_infinity_are_not_weights(phone, value):
    api = phone.api("POST", "/api/weights", {"idempotency_key": f"weight-{value}", "value": value, "unit": "kg"})
    form = phone.form("/log/weight", {"idempotency_key": f"weight-form-{value}", "value": value, "unit": "kg"})
    assert api.status_code == 422 and api.json()["field"] == "value"
    assert form.status_code == 422


def test_a_nul_in_a_push_endpoint_is_refused_by_field(phone, engine, patient):
    answer = phone.api(
        "POST",
        "/api/push-subscriptions",
        {"endpoint": "https://fcm.googleapis.com/x\x00y", "keys": {"p256dh": "a", "auth": "b"}},
    )
    assert answer.status_code == 422 and answer.json()["field"] == "endpoint"
    assert stored(engine, PushSubscription, patient.id) == []


def test_ids_beyond_64_bits_in_paths_are_refused_not_500(phone):
    for entry_id in (2**63, 2**70):
        assert phone.api("GET", f"/api/entries/dose/{entry_id}").status_code in (400, 404)


def test_json_nested_100k_deep_is_a_400(phone):
    deep = "[" * 100_000 + "]" * 100_000
    answer = phone.client.post(
        "/api/doses", content=deep, headers={"content-type": "application/json", "x-csrftoken": phone.csrf}
    )
    assert answer.status_code == 400


def test_404_bodies_never_show_paths(client):
    for path in ("/static/a%00b.js", "/static/no-such-file.js", "/no/such/page"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "no-such-file" not in answer.text and "/static" not in answer.text and "web" not in answer.text


def test_an_unexpected_error_is_logged_with_its_traceback_and_a_request_id(app, caplog):
    @get("/boom-for-test", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    app.register(boom)
    with TestClient(app, base_url=BASE_URL) as client, caplog.at_level(logging.ERROR, logger="server.errors"):
        answer = client.get("/boom-for-test")
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    [record] = [r for r in caplog.records if r.name == "server.errors"]
    assert request_id in record.getMessage() and record.exc_info and "a bug" in str(record.exc_info[1])
    assert "a bug" not in answer.text


def test_a_no_js_retry_without_a_time_answers_already_saved_and_stores_one_dose(phone, engine, patient, clock):
    form = {"idempotency_key": "no-js-dose-key-1", "status": "taken"}
    first = phone.form("/log/dose", form)
    clock.advance(minutes=3)  # the retry comes later: the form fills in a different "now"
    again = phone.form("/log/dose", form)
    assert first.status_code == again.status_code == 200, again.text
    assert len(stored(engine, DoseEvent, patient.id)) == 1


def test_a_duplicate_sms_webhook_while_the_first_is_handled_never_overwrites_it(settings, engine, clock, patient):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    with session_scope(engine) as session:  # the first delivery: stored, still being handled
        session.add(
            InboundMessage(
                provider_id="SM-dup-1",
                from_number=patient.phone_e164,
                to_number="+1555",
                body="T",
                received_at=clock.now(),
            )
        )
    duplicate = sms_inbound.handle_inbound_sms(
        ctx, message_sid="SM-dup-1", from_number=patient.phone_e164, to_number="+1555", body="T"
    )
    assert duplicate.replayed and duplicate.handled_as == "in_progress"
    with Session(engine) as session:
        assert session.exec(select(InboundMessage)).one().handled_as is None  # left for the first one
        assert session.exec(select(DoseEvent)).all() == []
    sms_inbound._record(ctx, "SM-dup-1", patient.id, "dose_taken", "Saved.", patient.phone_e164, clock.now())
    sms_inbound._record(
        ctx, "SM-dup-1", patient.id, "unknown", "Did not understand.", patient.phone_e164, clock.now()
    )  # a late second writer
    with Session(engine) as session:
        message = session.exec(select(InboundMessage)).one()
        replies = session.exec(select(OutboundMessage).where(OutboundMessage.kind == "reply")).all()
    assert (message.handled_as, message.reply) == ("dose_taken", "Saved.") and len(replies) == 1


def test_an_sms_with_a_nul_byte_gets_its_normal_reply(settings, engine, clock, patient):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    result = sms_inbound.handle_inbound_sms(
        ctx, message_sid="SM-nul\x00-1", from_number=patient.phone_e164, to_number="+1555", body="HEL\x00P"
    )
    assert result.handled_as and not result.replayed
    with Session(engine) as session:
        message = session.exec(select(InboundMessage)).one()
    assert "\x00" not in message.body + message.provider_id
