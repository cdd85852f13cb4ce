"""The SMS webhooks: signature checks (403), inbound commands feeding flow 1, delivery receipts (always 200)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from server.db import session_scope
from server.models import (
    Clinic,
    DoseEvent,
    InboundMessage,
    OutboundMessage,
    Patient,
    SymptomReport,
    TreatmentPlan,
    WeightEntry,
)
from server.services.sms_inbound import parse_command
from server.settings import load_settings

TOKEN = "route-test-auth-token"
BASE = "http://testserver.local"
PHONE = "+15552220000"


@pytest.fixture
def settings(database_url, tmp_path):
    return load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL=BASE,
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM_NUMBER="+15005550006",
    )


@pytest.fixture
def patient_id(engine, clock):
    clock.set(datetime(2026, 3, 2, 13, 20, tzinfo=UTC))  # Monday 08:20 New York, a dose day
    now = clock.now()
    with session_scope(engine) as session:
        clinic = Clinic(name="Riverside Oncology", phone="+15555550100", timezone="America/New_York", created_at=now)
        session.add(clinic)
        session.flush()
        patient = Patient(
            clinic_id=clinic.id,
            first_name="A",
            last_name="B",
            date_of_birth=date(1950, 1, 1),
            mrn="R1",
            phone_e164=PHONE,
            timezone="America/New_York",
            baseline_weight_kg=80,
            weight_unit="lb",
            sms_consent=True,
            created_at=now,
        )
        session.add(patient)
        session.flush()
        session.add(
            TreatmentPlan(
                patient_id=patient.id,
                version=1,
                regimen="Xd",
                dose_level=0,
                status="active",
                start_date=date(2026, 3, 2),
                day1_weekday=0,
                day3_weekday=2,
                dose_time=time(8),
                created_at=now,
            )
        )
        return patient.id


_sids = iter(range(10**6))


def post_signed(client, path: str, form: dict, *, token: str = TOKEN, url: str | None = None):
    signature = RequestValidator(token).compute_signature(url or BASE + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def text(client, body: str, sid: str | None = None):
    form = {"MessageSid": sid or f"SM{next(_sids):032d}", "From": PHONE, "To": "+15005550006", "Body": body}
    return post_signed(client, "/sms/inbound", form)


@pytest.mark.parametrize("signature", [None, "forged", "wrong-token", "wrong-url"])
@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
def test_webhooks_refuse_missing_or_wrong_signatures(client, patient_id, path, signature):
    form = {
        "MessageSid": "SM" + "0" * 32,
        "From": PHONE,
        "To": "+15005550006",
        "Body": "T",
        "MessageStatus": "delivered",
    }
    headers = {}
    if signature == "forged":
        headers["X-Twilio-Signature"] = "c2lnbmF0dXJl"
    elif signature == "wrong-token":
        headers["X-Twilio-Signature"] = RequestValidator("other").compute_signature(BASE + path, form)
    elif signature == "wrong-url":
        headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature("https://elsewhere" + path, form)
    response = client.post(path, data=form, headers=headers)
    assert response.status_code == 403
    with Session(client.app.state.ctx.engine) as session:
        assert session.exec(select(InboundMessage)).first() is None


def test_a_changed_body_breaks_the_signature(client, patient_id):
    form = {"MessageSid": "SM" + "1" * 32, "From": PHONE, "To": "+15005550006", "Body": "T"}
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/sms/inbound", form)
    response = client.post("/sms/inbound", data={**form, "Body": "W 20"}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_t_logs_todays_dose_answers_empty_twiml_and_queues_the_reply(client, engine, patient_id):
    response = text(client, "T", sid="SM" + "2" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response></Response>")
    with Session(engine) as session:
        dose = session.exec(select(DoseEvent)).one()
        reply = session.exec(select(OutboundMessage).where(OutboundMessage.kind == "reply")).one()
        inbound = session.exec(select(InboundMessage)).one()
    assert (dose.status, dose.source, dose.idempotency_key) == ("taken", "sms", "sms:SM" + "2" * 32)
    assert dose.scheduled_for == date(2026, 3, 2)
    assert (reply.to_address, reply.status, reply.patient_id) == (PHONE, "pending", patient_id)
    assert reply.body.startswith("Thank you, today's dose is recorded.")
    assert (inbound.handled_as, inbound.patient_id, inbound.reply) == ("dose_taken", patient_id, reply.body)


def test_w_logs_the_weight_in_the_patients_unit_or_the_one_given(client, engine, patient_id):
    text(client, "W 176")  # the patient weighs in pounds
    text(client, "w 79.5 kg")
    with Session(engine) as session:
        weights = session.exec(select(WeightEntry).order_by(WeightEntry.id)).all()
    assert [(w.entered_value, w.entered_unit, w.source) for w in weights] == [(176, "lb", "sms"), (79.5, "kg", "sms")]


def test_missed_and_nausea_and_help(client, engine, patient_id):
    text(client, "missed")
    text(client, "N 2")
    text(client, "help")
    with Session(engine) as session:
        assert session.exec(select(DoseEvent)).one().status == "missed"
        assert session.exec(select(SymptomReport)).one().nausea == 2
        replies = [
            r.body
            for r in session.exec(
                select(OutboundMessage).where(OutboundMessage.kind == "reply").order_by(OutboundMessage.id)
            )
        ]
    assert replies[0].startswith("Recorded as missed. Do not make it up")
    assert "nausea answer (2) is recorded" in replies[1] and "Your team will review." in replies[1]
    assert "reply T when you take your dose" in replies[2] and "+15555550100" in replies[2]


def test_stop_and_start_change_the_opt_out_state_without_a_reply(client, engine, patient_id):
    text(client, "Stop")
    with Session(engine) as session:
        assert session.get(Patient, patient_id).sms_opted_out
    text(client, "START")
    with Session(engine) as session:
        assert not session.get(Patient, patient_id).sms_opted_out
        assert session.exec(select(OutboundMessage).where(OutboundMessage.kind == "reply")).first() is None


def test_a_text_from_an_unknown_number_is_stored_and_not_answered(client, engine, patient_id):
    form = {"MessageSid": "SM" + "3" * 32, "From": "+15559999999", "To": "+15005550006", "Body": "T"}
    assert post_signed(client, "/sms/inbound", form).status_code == 200
    with Session(engine) as session:
        assert session.exec(select(InboundMessage)).one().handled_as == "unknown_sender"
        assert session.exec(select(OutboundMessage)).first() is None
        assert session.exec(select(DoseEvent)).first() is None


def test_status_callbacks_for_unknown_messages_get_200(client, patient_id):
    form = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "delivered", "To": PHONE}
    assert post_signed(client, "/sms/status?r=12345", form, url=BASE + "/sms/status?r=12345").status_code == 200
    assert post_signed(client, "/sms/status", form).status_code == 200


def test_webhooks_are_refused_when_no_auth_token_is_configured(client, patient_id, settings):
    settings.twilio_auth_token = type(settings.twilio_auth_token)("")
    assert text(client, "T").status_code == 403


@pytest.mark.parametrize(
    ("body", "kind", "value", "unit", "confirmed"),
    [
        ("t", "taken", None, None, False),
        (" Taken. ", "taken", None, None, False),
        ("1", "unknown", None, None, False),
        ("TOMADA", "taken", None, None, False),
        ("missed", "missed", None, None, False),
        ("no tomada", "missed", None, None, False),
        ("W 72.4", "weight", 72.4, None, False),
        ("w160lb", "weight", 160, "lb", False),
        ("P 72,4", "weight", 72.4, None, False),
        ("W 61.6 ok", "weight", 61.6, None, True),
        ("peso 70 kg", "weight", 70, "kg", False),
        ("N 3", "nausea", 3, None, False),
        ("n0", "nausea", 0, None, False),
        ("N 7", "nausea", 7, None, False),
        ("AYUDA", "help", None, None, False),
        ("STOP", "stop", None, None, False),
        ("parar", "stop", None, None, False),
        ("START", "start", None, None, False),
        ("OK", "confirm", None, None, False),
        ("W", "unknown", None, None, False),
        ("hello there", "unknown", None, None, False),
    ],
)
def test_parse_command(body, kind, value, unit, confirmed):
    command = parse_command(body)
    assert (command.kind, command.value, command.unit, command.confirmed) == (kind, value, unit, confirmed)
