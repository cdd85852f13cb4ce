"""On-call pages link to the alert (issue 12 item 6): the SMS carries a link and no health data; pages raised by the
worker publish a live inbox event; a page already claimed when the alert is acknowledged is cancelled if it has not
reached the provider."""

from __future__ import annotations

import notifications.dispatcher as dispatcher_module
from sqlmodel import Session, select

from server.models import OutboundMessage
from server.services.alerts_escalation import escalate_due_alerts
from server.services.staff import alert_actions

from tests.server.services.test_alerts_escalation import NURSE_PAGER, PHARMACIST_PAGER, _fever, _pages_to, ctx, provider, settings, worker  # noqa: F401
from tests.support.staff import NURSE, ctx_for, sign_in, staff_by_email


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
    assert {"alert_id": alert.id, "patient_id": alert.patient_id, "kind": "paged", "tier": "urgent"} in \
        [data for _, data in published]


def test_a_claimed_page_is_cancelled_when_the_alert_is_acknowledged_before_it_is_sent(ctx, clock, provider, worker,
                                                                                      monkeypatch):
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
