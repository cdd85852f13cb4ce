"""Two-way SMS over real HTTP: the fake provider posts signed webhooks to the app served by uvicorn, and the app's
replies and reminders go back out through the dispatcher and the twilio SDK."""

from __future__ import annotations

from collections import Counter

import httpx
from sqlmodel import Session, select

from notifications.dispatcher import dispatch_once
from notifications.planner import run_planner
from server.models import Alert, DoseEvent, InboundMessage, OutboundMessage, Patient, WeightEntry
from tests.support.notifications import clinician_id, reminders_of, utc

PHONE = "+15551230002"


def _dispatch(ctx, channels, clock, minutes=0):
    if minutes:
        clock.advance(minutes=minutes)
    run_planner(ctx)
    return dispatch_once(ctx, channels)


def _patient(engine, pid) -> Patient:
    with Session(engine) as session:
        return session.get(Patient, pid)


def _replies(provider, number=PHONE) -> list[str]:
    return [m["body"] for m in provider.messages_to(number) if "/sms/status?r=" in (m["status_callback"] or "")]


def test_reply_t_logs_todays_dose_and_w_logs_the_weight(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 13, 10))  # Monday 08:10 in New York, a dose day
    pid = make_patient(phone=PHONE)

    taken = sms_provider.send_inbound(PHONE, "T")
    weight = sms_provider.send_inbound(PHONE, "W 69.5")
    assert taken.ok and weight.ok

    with Session(ctx.engine) as session:
        [dose] = session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).all()
        [kg] = session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid)).all()
    assert (dose.status, dose.source, str(dose.scheduled_for)) == ("taken", "sms", "2026-03-02")
    assert dose.idempotency_key == f"sms:{taken.params['MessageSid']}"
    assert (kg.kg, kg.source, kg.entered_unit) == (69.5, "sms", "kg")

    _dispatch(ctx, channels, clock)
    replies = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any(
        body.startswith("Thank you, today's dose is recorded. Next dose: Wednesday, March 4 at 8:00 AM")
        for body in replies
    )
    assert any("your weight (69.5 kg) is recorded" in body for body in replies)


def test_t_just_after_midnight_answers_the_late_evening_dose(ctx, make_patient, sms_provider, live_server, clock):
    from datetime import time

    clock.set(utc(2026, 3, 3, 5, 20))  # Tuesday 00:20 in New York; Monday's dose was at 22:00
    pid = make_patient(phone=PHONE, dose_time=time(22, 0), quiet_start=time(23, 0))
    assert sms_provider.send_inbound(PHONE, "T").ok
    with Session(ctx.engine) as session:
        [dose] = session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).all()
        assert str(dose.scheduled_for) == "2026-03-02"
        assert session.exec(select(Alert).where(Alert.rule == "R-WRONG-DAY")).first() is None


def test_a_replayed_message_sid_is_handled_once(ctx, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 13, 10))
    pid = make_patient(phone=PHONE)
    first = sms_provider.send_inbound(PHONE, "T", sid="SM" + "a" * 32)
    again = sms_provider.send_inbound(PHONE, "T", sid="SM" + "a" * 32)
    assert first.ok and again.ok
    with Session(ctx.engine) as session:
        assert len(session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).all()) == 1
        assert len(session.exec(select(InboundMessage)).all()) == 1
        assert len(session.exec(select(OutboundMessage).where(OutboundMessage.kind == "reply")).all()) == 1


def test_a_second_t_on_the_same_day_is_not_a_second_dose(ctx, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 13, 10))
    pid = make_patient(phone=PHONE)
    sms_provider.send_inbound(PHONE, "T")
    clock.advance(hours=3)
    sms_provider.send_inbound(PHONE, "taken")
    with Session(ctx.engine) as session:
        assert len(session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).all()) == 1
        assert session.exec(select(Alert).where(Alert.rule == "R-WRONG-DAY")).first() is None
        handled = [m.handled_as for m in session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()]
    assert handled == ["dose_taken", "dose_already_logged"]


def test_an_sms_weight_loss_of_twelve_percent_is_confirmed_then_raises_the_same_alert_as_the_app(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    clock.set(utc(2026, 3, 3, 15))  # Tuesday
    pid = make_patient(phone=PHONE)  # baseline 70 kg
    sms_provider.send_inbound(PHONE, "W 70")
    clock.advance(hours=1)
    sms_provider.send_inbound(PHONE, "W 61.6")  # -12%: more than 5% from the last weight, so we ask first
    with Session(ctx.engine) as session:
        assert [w.kg for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid))] == [70.0]
    clock.advance(minutes=2)
    sms_provider.send_inbound(PHONE, "OK")

    with Session(ctx.engine) as session:
        assert sorted(w.kg for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid))) == [
            61.6,
            70.0,
        ]
        alert = session.exec(select(Alert).where(Alert.patient_id == pid, Alert.family == "weight")).one()
    assert (alert.rule, alert.tier) == ("R-WT-10", "same_day")
    _dispatch(ctx, channels, clock)
    replies = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any("61.6 kg is more than 5% away from your last weight (70 kg)" in r and "reply OK" in r for r in replies)
    assert any("Your care team will contact you today. Do not take your next dose until they do." in r for r in replies)
    assert not any("selinexor" in r.lower() for r in replies)


def test_stop_stops_everything_and_start_resumes(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 11))  # Monday 06:00
    pid = make_patient(phone=PHONE)
    run_planner(ctx)

    assert sms_provider.send_inbound(PHONE, "STOP").ok
    assert _patient(ctx.engine, pid).sms_opted_out
    with Session(ctx.engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == pid)).one()
    assert (alert.rule, alert.facts) == ("R-NO-DELIVERY", "the patient opted out of SMS")

    clock.set(utc(2026, 3, 2, 16, 30))  # past Monday's antiemetic, dose, weight prompt and nudge
    for _ in range(6):
        _dispatch(ctx, channels, clock, minutes=30)
    assert sms_provider.messages_to(PHONE) == []  # not even a reply to STOP
    monday = [r for r in reminders_of(ctx.engine, pid) if '"2026-03-02"' in (r.payload or "")]
    assert monday and all(r.status in ("cancelled", "expired") for r in monday)
    assert "opted out of SMS" in " ".join(r.cancel_reason or "" for r in monday)

    clock.set(utc(2026, 3, 3, 15))
    assert sms_provider.send_inbound(PHONE, "START").ok
    assert not _patient(ctx.engine, pid).sms_opted_out
    clock.set(utc(2026, 3, 4, 12, 30))  # Wednesday 07:30
    _dispatch(ctx, channels, clock)
    clock.set(utc(2026, 3, 4, 13, 0))
    _dispatch(ctx, channels, clock)
    bodies = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any("anti-nausea" in b for b in bodies) and any("80 mg (4 tablets)" in b for b in bodies)


def test_stop_from_a_number_shared_by_two_patients_opts_both_out(ctx, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 11))
    first, second = make_patient(phone=PHONE), make_patient(phone=PHONE)  # a carer's phone
    assert sms_provider.send_inbound(PHONE, "STOP").ok
    assert _patient(ctx.engine, first).sms_opted_out and _patient(ctx.engine, second).sms_opted_out
    assert sms_provider.send_inbound(PHONE, "START").ok
    assert not _patient(ctx.engine, first).sms_opted_out and not _patient(ctx.engine, second).sms_opted_out


def test_webhooks_without_a_valid_signature_get_403(ctx, make_patient, sms_provider, live_server, clock):
    pid = make_patient(phone=PHONE)
    form = {"MessageSid": "SM" + "b" * 32, "From": PHONE, "To": "+15005550006", "Body": "T"}
    unsigned = httpx.post(f"{live_server}/sms/inbound", data=form)
    forged = httpx.post(f"{live_server}/sms/inbound", data=form, headers={"X-Twilio-Signature": "bm90IGl0"})
    # Signed by the provider, but for another URL than our PUBLIC_BASE_URL (e.g. a replay against another host).
    wrong_url = sms_provider.send_inbound(
        PHONE, "T", public_url="http://attacker.example/sms/inbound", post_to=f"{live_server}/sms/inbound"
    )
    status = httpx.post(f"{live_server}/sms/status", data={"MessageSid": "SMx", "MessageStatus": "delivered"})
    assert [unsigned.status_code, forged.status_code, wrong_url.status_code, status.status_code] == [403] * 4
    with Session(ctx.engine) as session:
        assert session.exec(select(DoseEvent).where(DoseEvent.patient_id == pid)).first() is None
        assert session.exec(select(InboundMessage)).first() is None


def test_delivery_receipts_move_forward_only_and_count_as_delivered(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    from server.services.patient_state import last_delivered_at

    clock.set(utc(2026, 3, 2, 12, 30))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    sms_provider.set_auto_deliver(True)
    dispatch_once(ctx, channels)
    assert sms_provider.wait_for_webhooks(5)
    [row] = reminders_of(ctx.engine, pid, status="sent")
    assert (row.delivery_status, row.delivery_updated_at) == ("delivered", clock.now())
    late = sms_provider.send_status(row.provider_id, "sent")  # out of order: must not undo "delivered"
    assert late.status_code == 200
    assert reminders_of(ctx.engine, pid, status="sent")[0].delivery_status == "delivered"
    with Session(ctx.engine) as session:
        assert last_delivered_at(session, pid) == clock.now()


def test_an_undelivered_receipt_tells_the_care_team(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 12, 30))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    sms_provider.undeliverable(PHONE, 30003)
    sms_provider.set_auto_deliver(True)
    dispatch_once(ctx, channels)
    assert sms_provider.wait_for_webhooks(5)
    [row] = reminders_of(ctx.engine, pid, status="sent")
    assert row.delivery_status == "undelivered" and "30003" in row.last_error
    with Session(ctx.engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == pid)).one()
    assert alert.rule == "R-NO-DELIVERY" and "reported undelivered with error 30003" in alert.facts


def test_spanish_commands_and_help(ctx, channels, make_patient, sms_provider, live_server, clock):
    clock.set(utc(2026, 3, 2, 13, 10))
    pid = make_patient(phone=PHONE, language="es")
    for text in ("tomada", "P 69,8", "N 1", "AYUDA", "hola"):
        assert sms_provider.send_inbound(PHONE, text).ok
    _dispatch(ctx, channels, clock)
    with Session(ctx.engine) as session:
        handled = [m.handled_as for m in session.exec(select(InboundMessage).order_by(InboundMessage.id))]
        assert session.exec(select(WeightEntry).where(WeightEntry.patient_id == pid)).one().kg == 69.8
    assert handled == ["dose_taken", "weight", "nausea", "help", "unknown"]
    replies = " | ".join(m["body"] for m in sms_provider.messages_to(PHONE))
    assert "la dosis de hoy quedó registrada. Próxima dosis: miércoles 4 de marzo a las 8:00" in replies
    assert "su peso (69.8 kg)" in replies and "Responda AYUDA" in replies and "OLVIDADA" in replies
    assert Counter(m["to"] for m in sms_provider.messages) == {PHONE: 5}  # five replies, no reminder
    weight_prompt = [r for r in reminders_of(ctx.engine, pid, kind="weight") if '"2026-03-02"' in r.payload]
    assert weight_prompt[0].cancel_reason == "not needed: a weight was already logged that day"


def test_an_sms_only_patient_gets_a_plan_change_by_text_and_confirms_it_by_replying_ok(
    ctx, channels, make_patient, sms_provider, live_server, clock
):
    from server.models import PlanChangeNotice
    from server.services.plans import change_plan

    clock.set(utc(2026, 3, 2, 15))  # Monday 10:00 in New York, after the 08:00 dose
    pid = make_patient(phone=PHONE)
    _dispatch(ctx, channels, clock)
    sms_provider.reset()
    change_plan(ctx, pid, staff_id=clinician_id(ctx), operation="reduce", reason="platelets 60")
    _dispatch(ctx, channels, clock)
    [notice_sms] = [m["body"] for m in sms_provider.messages_to(PHONE) if "changed" in m["body"]]
    assert notice_sms.startswith(
        "Riverside Oncology: Your dose changed: now 5 tablets on Mondays only (before: 4 "
        "tablets on Mondays and Wednesdays). Reply OK"
    )
    assert "selinexor" not in notice_sms.lower()  # no drug name: the patient did not opt in
    assert sms_provider.send_inbound(PHONE, "OK").ok
    with Session(ctx.engine) as session:
        [notice] = session.exec(select(PlanChangeNotice).where(PlanChangeNotice.patient_id == pid)).all()
        [inbound] = session.exec(select(InboundMessage).where(InboundMessage.patient_id == pid)).all()
    assert (notice.acknowledged_at, notice.acknowledged_via) == (clock.now(), "sms")
    assert inbound.handled_as == "plan_change_confirmed"
    _dispatch(ctx, channels, clock)
    assert "Thank you: your care team can see that you have read the change." in _replies(sms_provider)
    # Nothing left to confirm: another OK is answered as such, and a bare digit never confirms anything.
    sms_provider.send_inbound(PHONE, "ENTENDIDO")
    with Session(ctx.engine) as session:
        handled = [m.handled_as for m in session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()]
    assert handled[-1] == "plan_change_nothing"
