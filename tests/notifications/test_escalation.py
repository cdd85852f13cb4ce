"""Re-escalation of unacknowledged alerts (clinical-reference §3): urgent every 15 min down the on-call chain,
same-day in clinic hours only, then the next business morning; acknowledged alerts are never paged again."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from server.db import session_scope
from server.models import Alert, AlertEvent, OutboundMessage, Staff
from server.services.alerts_escalation import ClinicHours, escalate_due_alerts
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from tests.support.notifications import utc

NY = ZoneInfo("America/New_York")


def _second_on_call(ctx, clinic):
    with session_scope(ctx.engine) as session:
        session.add(
            Staff(
                clinic_id=clinic,
                email="pharm@riverside.test",
                name="Pia Pharmacist",
                role="pharmacist",
                password_hash="x",
                phone_e164="+15550009002",
                on_call_order=2,
                created_at=ctx.clock.now(),
            )
        )


def _pages(ctx) -> list[OutboundMessage]:
    with Session(ctx.engine) as session:
        return list(
            session.exec(
                select(OutboundMessage).where(OutboundMessage.kind == "page").order_by(OutboundMessage.id)
            ).all()
        )


def _alert(ctx, patient_id) -> Alert:
    with Session(ctx.engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient_id)).one()


def test_urgent_alert_pages_the_next_person_every_15_minutes_until_acknowledged(ctx, clinic, make_patient, clock):
    _second_on_call(ctx, clinic)
    clock.set(utc(2026, 3, 3, 3))  # 22:00 in New York: urgent alerts page at any hour
    pid = make_patient()
    record_symptoms(ctx, pid, key="fever-0001", at=clock.now(), answers=SymptomAnswers(temperature_c=38.9))
    assert [p.to_address for p in _pages(ctx)] == ["+15550009001"]

    clock.advance(minutes=14)
    assert escalate_due_alerts(ctx, clock.now()) == 0
    clock.advance(minutes=1)
    assert escalate_due_alerts(ctx, clock.now()) == 1
    assert escalate_due_alerts(ctx, clock.now()) == 0  # the same instant twice pages once
    assert [p.to_address for p in _pages(ctx)] == ["+15550009001", "+15550009002"]

    with session_scope(ctx.engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == pid)).one()
        alert.status, alert.acknowledged_at = "acknowledged", clock.now()
    clock.advance(hours=2)
    assert escalate_due_alerts(ctx, clock.now()) == 0
    assert len(_pages(ctx)) == 2
    with Session(ctx.engine) as session:
        paged = session.exec(select(AlertEvent).where(AlertEvent.kind == "paged")).all()
    assert len(paged) == 2  # every page is recorded on the alert


def test_same_day_alert_pages_in_clinic_hours_and_then_the_next_business_morning(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 3, 15))  # Tuesday 10:00 New York
    pid = make_patient()
    record_weight(ctx, pid, key="weight-loss-1", at=clock.now(), value=61.6, unit="kg", confirmed=True)  # -12%: R-WT-10
    alert = _alert(ctx, pid)
    assert (alert.tier, alert.next_page_at) == ("same_day", utc(2026, 3, 3, 19))  # 4 h later, 14:00
    assert _pages(ctx) == []

    clock.set(utc(2026, 3, 3, 19))
    assert escalate_due_alerts(ctx, clock.now()) == 1
    assert _alert(ctx, pid).next_page_at == utc(2026, 3, 4, 13)  # Wednesday 08:00 New York


def test_same_day_alert_due_outside_clinic_hours_waits_for_monday_morning(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 6, 19))  # Friday 14:00: four hours later the clinic is closed
    pid = make_patient()
    record_weight(ctx, pid, key="weight-loss-2", at=clock.now(), value=61.6, unit="kg", confirmed=True)
    clock.set(utc(2026, 3, 6, 23))
    assert escalate_due_alerts(ctx, clock.now()) == 0
    alert = _alert(ctx, pid)
    assert alert.next_page_at.astimezone(NY) == datetime(2026, 3, 9, 8, 0, tzinfo=NY)  # after the DST change
    clock.set(alert.next_page_at)
    assert escalate_due_alerts(ctx, clock.now()) == 1


def test_clinic_hours_read_from_settings(settings):
    hours = ClinicHours.from_settings(settings)
    assert (hours.opens, hours.closes, hours.days) == (time(8), time(17), frozenset(range(5)))
    assert hours.is_open(utc(2026, 3, 2, 13, 0), NY) and not hours.is_open(utc(2026, 3, 2, 22, 0), NY)
    assert not hours.is_open(utc(2026, 3, 7, 15, 0), NY)  # Saturday
    assert hours.next_opening(utc(2026, 3, 2, 11, 0), NY) == utc(2026, 3, 2, 13, 0)  # 06:00 -> 08:00 today
    assert hours.next_opening(utc(2026, 3, 2, 11, 0), NY, after_today=True) == utc(2026, 3, 3, 13, 0)
    assert date(2026, 3, 2).weekday() == 0
