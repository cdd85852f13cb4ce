"""Honest advice (clinical-reference section 3 "Say only what will happen", issue 10 items 10 and 12), through the
services: a same-day finding outside clinic hours or days never promises "today"; every urgent result carries the
emergency number from the settings; a held patient who logs a dose is told selinexor is on hold, on the page and by SMS.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.context import AppContext
from server.demo import seed_demo
from server.i18n import render_advice
from server.services.entries import SymptomAnswers, record_dose, record_symptoms, record_weight
from server.services.plans import change_plan
from server.services.sms_inbound import handle_inbound_sms

MARIA = 1  # DEMO-001: Spanish, baseline 68.0 kg, Xd level 0, Mon/Wed 08:00 New York, phone +15555550201
ROBERT = 2  # DEMO-002: English, Xd level 1 (once weekly on Tuesday), 09:00 Chicago


@pytest.fixture
def ctx(settings, engine, clock):
    settings = settings.model_copy(update={"clinic_after_hours_phone": "+15555550999", "emergency_number": "112"})
    seed_demo(engine, settings, clock.now())
    return AppContext(settings=settings, engine=engine, clock=clock, publish=lambda channel, data: None)


def _weight_loss(ctx, clock, key="key-weight-timing") -> tuple[str, list[str]]:
    """A 12% loss (R-WT-10, same_day interrupt) for Maria; the advice in English and in her Spanish."""
    result = record_weight(ctx, MARIA, key=key, at=clock.now(), value=59.8, unit="kg", confirmed=True)
    assert result.advice.tier == "same_day"
    return " ".join(result.advice.messages), render_advice(result.advice.items, "es")


def test_in_clinic_hours_a_same_day_finding_says_today(ctx, clock):
    english, _ = _weight_loss(ctx, clock)  # Monday 09:00 in New York
    assert "Your care team will contact you today." in english
    assert "closed" not in english


def test_after_hours_a_same_day_finding_names_the_next_business_morning_not_today(ctx, clock):
    clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # Monday 18:30 in New York: closed
    english, spanish = _weight_loss(ctx, clock)
    assert "today" not in english.lower()
    assert english.startswith("The clinic is closed now. A nurse will call you on Tuesday morning.")
    assert "Do not take your next selinexor dose until they do." in english
    assert "call the after-hours line: +15555550999." in english and "If you feel worse, call 112." in english
    assert spanish[:2] == ["La clínica está cerrada ahora.", "Una enfermera le llamará el martes por la mañana."]
    assert "hoy" not in " ".join(spanish).lower()


def test_on_a_weekend_the_clinic_calls_on_monday_morning(ctx, clock):
    clock.set(datetime(2026, 3, 7, 15, 0, tzinfo=UTC))  # Saturday 10:00 in New York
    english, _ = _weight_loss(ctx, clock, key="key-weight-weekend")
    assert "The clinic is closed now. A nurse will call you on Monday morning." in english
    assert "today" not in english.lower()


def test_after_hours_the_page_heading_does_not_promise_today(ctx, clock):
    # the route helper that turns advice into the banner's words (moved to server/routes/patient/advice.py)
    from server.routes.patient.advice import advice_view as _advice_view

    clock.set(datetime(2026, 3, 7, 15, 0, tzinfo=UTC))
    result = record_weight(ctx, MARIA, key="key-weight-page", at=clock.now(), value=59.8, unit="kg", confirmed=True)
    view = _advice_view(ctx, None, result, "en")
    assert view.heading == "The clinic is closed now." and not view.clinic_open
    assert view.messages[0] == "A nurse will call you on Monday morning."
    assert not any("today" in m.lower() for m in view.messages)


def test_every_urgent_result_carries_the_emergency_number_from_the_settings(ctx, clock):
    for answers in (SymptomAnswers(temperature_c=38.6), SymptomAnswers(nausea=3)):
        result = record_symptoms(ctx, MARIA, key=f"key-urgent-{answers.nausea}", at=clock.now(), answers=answers)
        assert result.advice.call_now
        assert "If you cannot reach them right away, call 112." in result.advice.messages


def test_a_held_patient_who_logs_a_dose_is_told_selinexor_is_on_hold(ctx, clock):
    change_plan(
        ctx, MARIA, staff_id=1, operation="hold", reason="test", hold_rule="R-WT-10", dexamethasone_on_hold="continue"
    )
    result = record_dose(ctx, MARIA, key="key-held-dose", at=clock.now(), status="taken")
    english = " ".join(result.advice.messages)
    spanish = " ".join(render_advice(result.advice.items, "es"))
    assert "Selinexor is on hold: do not take it until your care team tells you to." in english
    assert "on hold until" not in english and "next scheduled" not in english
    assert "El selinexor está en pausa: no lo tome hasta que su equipo de atención se lo indique." in spanish
    assert "es el en pausa" not in spanish


def test_a_held_patient_who_texts_t_is_told_the_dose_is_on_hold(ctx, clock):
    change_plan(
        ctx, MARIA, staff_id=1, operation="hold", reason="test", hold_rule="R-WT-10", dexamethasone_on_hold="continue"
    )
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "h" * 32, from_number="+15555550201", to_number="+15005550006", body="T"
    )
    assert "Su dosis está en pausa: no la tome hasta que su equipo de atención se lo indique." in result.reply
    assert "en pausa hasta" not in result.reply and "Próxima dosis" not in result.reply


def test_sms_advice_is_honest_about_clinic_hours_too(ctx, clock):
    clock.set(datetime(2026, 3, 7, 15, 0, tzinfo=UTC))  # Saturday
    handle_inbound_sms(
        ctx, message_sid="SM" + "w" * 32, from_number="+15555550201", to_number="+15005550006", body="W 68"
    )
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "x" * 32, from_number="+15555550201", to_number="+15005550006", body="W 59.8 OK"
    )
    assert "La clínica está cerrada ahora. Una enfermera le llamará el lunes por la mañana." in result.reply
    assert "+15555550999" in result.reply and "112" in result.reply and "hoy" not in result.reply.lower()
