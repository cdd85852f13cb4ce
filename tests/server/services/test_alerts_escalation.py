"""Escalation end to end with an injected clock: an urgent alert pages the on-call number at the (fake) SMS
provider at once, the next person 15 minutes later if nobody acknowledged, and nobody after acknowledgement.
The real twilio SDK talks HTTP to tests.fakes.sms_provider through the worker's dispatcher."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

import notifications.dispatcher as dispatcher_module
from notifications.channels import build_channels
from notifications.dispatcher import dispatch_once
from server.context import AppContext
from server.models import Alert, AlertEvent, OutboundMessage
from server.services.alerts_escalation import escalate_due_alerts
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from server.services.staff import alert_actions
from server.settings import load_settings
from tests.fakes.sms_provider import FakeSmsProvider
from tests.support.staff import NURSE, ctx_for, patient_by_mrn, post_form, seed, sign_in, staff_by_email

NURSE_PAGER, PHARMACIST_PAGER = "+15555550111", "+15555550112"  # the demo's on-call chain: 1 nurse, 2 pharmacist


@pytest.fixture
def provider(clock):
    with FakeSmsProvider(seed=11, clock=clock.now) as fake:
        yield fake


@pytest.fixture
def settings(database_url, tmp_path, provider):
    return load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL="http://testserver.local",
        TWILIO_ACCOUNT_SID=provider.account_sid,
        TWILIO_AUTH_TOKEN=provider.auth_token,
        TWILIO_FROM_NUMBER="+15005550006",
        TWILIO_API_BASE=provider.base_url,
        SMS_TIMEOUT_SECONDS="2",
    )


@pytest.fixture
def ctx(settings, engine, clock):
    seed(engine, settings, clock)
    return AppContext(settings=settings, engine=engine, clock=clock)


@pytest.fixture
def worker(ctx, clock):
    """One tick of the worker's two jobs that matter here: escalate, then dispatch the outbox."""
    channels = build_channels(ctx)

    def tick() -> int:
        pages = escalate_due_alerts(ctx, clock.now())
        dispatch_once(ctx, channels, clock.now())
        return pages

    yield tick
    channels.close()


def _pages_to(provider: FakeSmsProvider, number: str, alert_id: int) -> list[str]:
    return [m["body"] for m in provider.messages_to(number) if f"#{alert_id} " in m["body"]]


def _fever(ctx, clock, mrn: str, key: str) -> Alert:
    patient = patient_by_mrn(ctx.engine, mrn)
    record_symptoms(ctx, patient.id, key=key, at=clock.now(), answers=SymptomAnswers(temperature_c=38.8))
    with Session(ctx.engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.family == "fever")).one()


def test_an_urgent_alert_pages_on_call_at_once_then_the_next_person_after_15_minutes(ctx, clock, provider, worker):
    alert = _fever(ctx, clock, "DEMO-001", "esc-fever-1")
    worker()
    [page] = _pages_to(provider, NURSE_PAGER, alert.id)
    assert "urgent alert" in page and "Maria" not in page and "Lopez" not in page  # names no patient
    assert _pages_to(provider, PHARMACIST_PAGER, alert.id) == []

    clock.advance(minutes=14)
    assert worker() == 0
    assert _pages_to(provider, PHARMACIST_PAGER, alert.id) == []
    clock.advance(minutes=1)
    assert worker() == 1
    assert len(_pages_to(provider, PHARMACIST_PAGER, alert.id)) == 1  # the next person in the chain
    with Session(ctx.engine) as session:
        paged = session.exec(
            select(AlertEvent).where(AlertEvent.alert_id == alert.id, AlertEvent.kind == "paged")
        ).all()
        sent = session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id)).all()
    assert [e.detail for e in paged] == ["page 1 to Nora Nurse (nurse)", "page 2 to Paul Pharmacist (pharmacist)"]
    assert {r.status for r in sent} == {"sent"} and all(r.provider_id for r in sent)


def test_no_one_is_paged_again_after_acknowledgement(ctx, clock, provider, worker, app, client):
    alert = _fever(ctx, clock, "DEMO-001", "esc-fever-2")
    worker()
    assert len(_pages_to(provider, NURSE_PAGER, alert.id)) == 1
    clock.advance(minutes=6)
    sign_in(client, NURSE)
    assert post_form(client, f"/staff/alerts/{alert.id}/acknowledge", {"back": "/staff/inbox"}).status_code == 200
    with Session(ctx.engine) as session:
        acknowledged = session.get(Alert, alert.id)
    assert acknowledged.status == "acknowledged" and acknowledged.next_page_at is None
    for _ in range(8):  # two hours of worker ticks
        clock.advance(minutes=15)
        assert worker() == 0
    assert _pages_to(provider, PHARMACIST_PAGER, alert.id) == []
    assert len(_pages_to(provider, NURSE_PAGER, alert.id)) == 1
    with Session(ctx.engine) as session:
        kinds = [
            e.kind
            for e in session.exec(
                select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)
            ).all()
        ]
    assert kinds == ["created", "paged", "acknowledged"]  # every page and acknowledgement is on the alert


def test_a_page_not_yet_sent_is_cancelled_by_a_quick_acknowledgement(ctx, clock, provider, worker):
    alert = _fever(ctx, clock, "DEMO-001", "esc-fever-3")
    nurse = staff_by_email(ctx.engine, NURSE)
    alert_actions.acknowledge_alert(ctx, nurse, alert.id, ip="127.0.0.1")  # before the worker's next tick
    worker()
    assert _pages_to(provider, NURSE_PAGER, alert.id) == []
    with Session(ctx.engine) as session:
        [page] = session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id)).all()
    assert page.status == "cancelled" and "acknowledged by Nora Nurse" in page.cancel_reason


def test_a_worse_entry_raises_the_tier_and_pages_even_after_acknowledgement(ctx, clock, provider, worker):
    robert = patient_by_mrn(ctx.engine, "DEMO-002")
    with Session(ctx.engine) as session:
        [alert] = session.exec(select(Alert).where(Alert.patient_id == robert.id)).all()  # the demo's R-WT-10
    assert alert.tier == "same_day"
    alert_actions.acknowledge_alert(ctx, staff_by_email(ctx.engine, NURSE), alert.id, ip=None)
    clock.advance(hours=2)
    record_weight(ctx, robert.id, key="esc-weight-1", at=clock.now(), value=64.0, unit="kg", confirmed=True)  # -22%
    worker()
    with Session(ctx.engine) as session:
        raised = session.get(Alert, alert.id)
    assert (raised.rule, raised.tier, raised.status) == ("R-WT-20", "urgent", "open")  # a person must look again
    assert len(_pages_to(provider, NURSE_PAGER, alert.id)) == 1


def test_a_same_day_alert_pages_after_four_hours_in_clinic_hours(ctx, clock, provider, worker):
    robert = patient_by_mrn(ctx.engine, "DEMO-002")
    with Session(ctx.engine) as session:
        [alert] = session.exec(select(Alert).where(Alert.patient_id == robert.id)).all()
    worker()
    assert _pages_to(provider, NURSE_PAGER, alert.id) == []  # same day: no page at once
    clock.advance(hours=3, minutes=59)  # opened 09:00 in New York
    assert worker() == 0
    clock.advance(minutes=1)
    assert worker() == 1
    assert len(_pages_to(provider, NURSE_PAGER, alert.id)) == 1


# --------------------------------------------------------------------------------------------------------------------
# On-call pages link to the alert (issue 12 item 6): the SMS carries a link and no health data; pages raised by the
# worker publish a live inbox event; a page already claimed when the alert is acknowledged is cancelled if it has not
# reached the provider.
# --------------------------------------------------------------------------------------------------------------------


def test_the_page_links_to_the_alert_and_names_no_patient(ctx, clock, provider, worker, client):
    alert = _fever(ctx, clock, "DEMO-001", "link-fever-1")
    worker()
    [page] = _pages_to(provider, NURSE_PAGER, alert.id)
    assert page.endswith(f" http://testserver.local/staff/alerts/{alert.id}")
    assert "Maria" not in page and "Lopez" not in page and "38.8" not in page and "fever" not in page.lower()
    sign_in(client, NURSE)
    landing = client.get(f"/staff/alerts/{alert.id}", follow_redirects=False)
    assert landing.status_code == 302
    assert landing.headers["location"] == f"/staff/patients/{alert.patient_id}#alert-{alert.id}"


def test_a_page_raised_by_the_worker_publishes_a_live_inbox_event(ctx, settings, engine, clock, provider, worker):
    alert = _fever(ctx, clock, "DEMO-001", "link-fever-2")
    worker()
    published: list = []
    worker_ctx = ctx_for(settings, engine, clock, published)
    clock.advance(minutes=15)
    assert escalate_due_alerts(worker_ctx, clock.now()) == 1
    assert {"alert_id": alert.id, "patient_id": alert.patient_id, "kind": "paged", "tier": "urgent"} in [
        data for _, data in published
    ]


def test_a_claimed_page_is_cancelled_when_the_alert_is_acknowledged_before_it_is_sent(
    ctx, clock, provider, worker, monkeypatch
):
    alert = _fever(ctx, clock, "DEMO-001", "link-fever-3")
    nurse = staff_by_email(ctx.engine, NURSE)
    real_load = dispatcher_module.load_recipients

    def acknowledged_meanwhile(bind, claims, default_clinic):
        # The nurse acknowledges after the worker claimed the page and before it reaches the provider.
        alert_actions.acknowledge_alert(ctx, nurse, alert.id, ip="127.0.0.1")
        return real_load(bind, claims, default_clinic)

    monkeypatch.setattr(dispatcher_module, "load_recipients", acknowledged_meanwhile)
    worker()
    assert _pages_to(provider, NURSE_PAGER, alert.id) == [] and _pages_to(provider, PHARMACIST_PAGER, alert.id) == []
    with Session(ctx.engine) as session:
        [page] = session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id)).all()
    assert page.status == "cancelled" and "acknowledged before this page reached the provider" in page.cancel_reason
