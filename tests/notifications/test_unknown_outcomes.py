"""Unknown outcomes (issue 13, item 3): a row is `sending` only while its request is really going out, so a crash
sends rows that never left back to pending; every `unknown` dose reminder or page raises a staff-visible alert, and
the staff timeline never titles it "Sent"."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.channels import Channels
from notifications.dispatcher import ReminderDispatcher, dispatch_once
from notifications.planner import run_planner
from server.db import session_scope
from server.models import Alert, OutboundMessage, Staff
from server.services.outbox.claims import reap_stale_claims
from server.services.staff.patient_record import timeline
from tests.support.notifications import utc


class _GatedSms:
    """Holds every send until the test opens the gate (so the test can look at the table mid-send)."""

    def __init__(self, inner) -> None:
        self.inner, self.started, self.gate, self.calls = inner, threading.Event(), threading.Event(), 0

    def send(self, *args, **kwargs):
        self.calls += 1
        self.started.set()
        assert self.gate.wait(20)
        return self.inner.send(*args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def _statuses(engine, now) -> Counter:
    with Session(engine) as session:
        return Counter(
            session.exec(
                select(OutboundMessage.status).where(
                    OutboundMessage.kind == "blood_test", OutboundMessage.send_at <= now
                )
            ).all()
        )


def test_only_the_request_really_going_out_is_sending_and_a_crash_sends_the_rest_again(
    ctx, channels, make_patient, clock
):
    clock.set(utc(2026, 3, 2, 11))
    for i in range(6):
        make_patient(phone=f"+1555310{i:04d}")
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))  # six blood-test reminders due
    gated = _GatedSms(channels.sms)
    dispatcher = ReminderDispatcher(
        ctx,
        Channels(sms=gated, push=None, sms_name="sms", status_callback_url=channels.status_callback_url),
        concurrency=1,
    )
    worker = threading.Thread(target=dispatcher.dispatch_once)
    worker.start()
    try:
        assert gated.started.wait(20)
        during = _statuses(ctx.engine, clock.now())
        # A crash now: the reaper would make `sending` rows unknown and return `claimed` ones to pending.
        assert during["sending"] == 1, during  # the one request at the provider, not the one queued behind it
        assert during["claimed"] == 5, during
    finally:
        gated.gate.set()
        worker.join(30)
        dispatcher.close()
    assert _statuses(ctx.engine, clock.now()) == Counter({"sent": 6})


def _due_row(ctx, patient_id: int, kind: str, status: str, **fields) -> int:
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        row = OutboundMessage(
            dedupe_key=f"test:{kind}:{patient_id}:{status}",
            patient_id=patient_id,
            kind=kind,
            channel="sms",
            scheduled_for=now,
            send_at=now,
            expires_at=now + timedelta(hours=4),
            status=status,
            next_attempt_at=now,
            attempts=1 if status == "sending" else 0,
            claim_token="dead-worker" if status == "sending" else None,
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id


def _open_alerts(ctx, patient_id: int) -> list[Alert]:
    with Session(ctx.engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient_id, Alert.status != "resolved")).all()


def test_a_dose_reminder_reaped_as_unknown_raises_an_alert_and_is_not_titled_sent(ctx, channels, make_patient, clock):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient()
    row = _due_row(ctx, pid, "dose", "sending", body="Time for your dose", to_address="+15553109999")
    clock.advance(minutes=30)  # the dead worker's lease is long gone
    report = dispatch_once(ctx, channels)
    assert report.reaped_unknown == 1
    [alert] = _open_alerts(ctx, pid)
    assert alert.rule == "R-NO-DELIVERY" and "dose message" in alert.facts and f"#{row}" in alert.facts
    with Session(ctx.engine) as session:
        staff = session.exec(select(Staff)).first()
        items = [i for i in timeline(session, staff, pid, clock.now()) if i.kind == "message"]
    [item] = items
    assert not item.title.startswith("Sent") and "unknown" in item.title.lower()


def test_an_ambiguous_send_of_a_page_raises_an_alert_but_a_weight_prompt_does_not(
    ctx, channels, make_patient, sms_provider, clock
):
    clock.set(utc(2026, 3, 2, 11))
    paged, weighed = make_patient(), make_patient()
    _due_row(ctx, paged, "page", "pending", body="URGENT: call the patient", to_address="+15553108888")
    _due_row(ctx, weighed, "weight", "pending", body="Please weigh yourself", to_address="+15553107777")
    sms_provider.timeout_after_accept(3, times=2)  # both requests leave and no answer comes back
    report = dispatch_once(ctx, channels)
    assert report["unknown"] == 2
    [alert] = _open_alerts(ctx, paged)
    assert alert.rule == "R-NO-DELIVERY" and "urgent page" in alert.facts
    assert _open_alerts(ctx, weighed) == []


def test_reaper_reports_which_rows_became_unknown(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 2, 11))
    row = _due_row(ctx, make_patient(), "dose", "sending", body="x", to_address="+15553106666")
    result = reap_stale_claims(ctx.engine, clock.now() + timedelta(minutes=1))
    assert result.unknown_ids == (row,)
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(OutboundMessage.status).where(OutboundMessage.id == row)).scalar() == "unknown"
