"""The dispatcher against a misbehaving provider: retries, ambiguous answers, opt-outs, push, stopping cleanly."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from notifications.channels import build_channels
from notifications.dispatcher import ReminderDispatcher, dispatch_once
from notifications.planner import run_planner
from notifications.sms.channel import SmsChannel
from notifications.worker import Worker
from server.context import AppContext
from server.db import session_scope
from server.models import Alert, OutboundMessage, Patient, PushSubscription
from server.services.outbox.outcomes import RetryPolicy
from tests.support.notifications import companion_settings, free_port, reminder_id, reminders_of, run_until, utc


@pytest.fixture
def patients(make_patient, clock):
    """Twenty patients planned at Monday 06:00 New York."""
    clock.set(utc(2026, 3, 2, 11))
    return [make_patient(phone=f"+1555300{i:04d}") for i in range(20)]


def test_with_30_percent_provider_errors_every_reminder_is_sent_exactly_once(
    ctx, make_patient, sms_provider, clock, database_url, tmp_path, engine
):
    ctx = AppContext(
        companion_settings(database_url, tmp_path / "var", sms_provider, SEND_MAX_ATTEMPTS="15"), engine, clock
    )
    channels = build_channels(ctx)
    clock.set(utc(2026, 3, 2, 11))
    ids = [make_patient(phone=f"+1555300{i:04d}") for i in range(30)]
    opted_out = make_patient(phone="+15553009999")
    sms_provider.opt_out("+15553009999")  # texted STOP to the provider directly: sends answer 21610
    sms_provider.set_failure_rate(0.3)  # 500, 429 (Retry-After), 503 and connection resets

    run_until(ctx, channels, clock, utc(2026, 3, 2, 20))

    stats = sms_provider.stats
    assert stats["fault_500"] and stats["fault_429"] and stats["fault_reset"]  # the faults really happened
    with Session(engine) as session:
        due = session.exec(
            select(OutboundMessage).where(
                OutboundMessage.send_at <= clock.now(), OutboundMessage.patient_id != opted_out
            )
        ).all()
        stopped = session.get(Patient, opted_out)
        alert = session.exec(select(Alert).where(Alert.patient_id == opted_out)).one()
    assert stopped.sms_opted_out and (alert.rule, alert.facts) == ("R-NO-DELIVERY", "the patient opted out of SMS")
    assert [r.status for r in reminders_of(engine, opted_out, status="failed")] == ["failed"]
    assert {r.status for r in due} <= {"sent", "expired", "cancelled"}
    sent = [r for r in due if r.status == "sent"]
    assert len(sent) >= 3 * len(ids)  # blood test, weight prompt, dose (+ nudges) for every patient
    counts = Counter(reminder_id(m) for m in sms_provider.messages)
    assert set(counts) == {r.id for r in sent} and set(counts.values()) == {1}
    assert any(r.attempts > 1 for r in sent)
    # Only rows that could no longer be useful expired (the antiemetic before 08:00 can meet a long back-off).
    assert {r.kind for r in due if r.status == "expired"} <= {"antiemetic"}
    channels.close()


def test_opted_out_number_21610_sets_opt_out_and_tells_the_care_team(
    ctx, channels, patients, sms_provider, clock, published
):
    with Session(ctx.engine) as session:
        phone = session.get(Patient, patients[0]).phone_e164
    sms_provider.opt_out(phone)
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))  # the blood-test reminders are due

    report = dispatch_once(ctx, channels)

    assert report["failed"] == 1 and report["sent"] == len(patients) - 1
    [row] = reminders_of(ctx.engine, patients[0], status="failed")
    assert "21610" in row.last_error and row.attempts == 1
    with Session(ctx.engine) as session:
        patient = session.get(Patient, patients[0])
        alert = session.exec(select(Alert).where(Alert.patient_id == patients[0])).one()
    assert patient.sms_opted_out and patient.sms_opted_out_at == clock.now()
    assert (alert.rule, alert.tier, alert.action) == ("R-NO-DELIVERY", "routine", "evaluate")
    inbox_event = {"alert_id": alert.id, "patient_id": patients[0], "kind": "created", "tier": "routine"}
    assert ("inbox", inbox_event) in published
    clock.set(utc(2026, 3, 2, 13, 0))
    dispatch_once(ctx, channels)  # nothing more goes to the opted-out number
    assert sms_provider.stats["error_21610"] == 1


def test_invalid_number_fails_without_retry_and_raises_an_alert(ctx, channels, patients, sms_provider, clock):
    with Session(ctx.engine) as session:
        phone = session.get(Patient, patients[1]).phone_e164
    sms_provider.invalid(phone)
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))
    dispatch_once(ctx, channels)
    [row] = reminders_of(ctx.engine, patients[1], status="failed")
    assert "21211" in row.last_error
    with Session(ctx.engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == patients[1])).one()
        assert not session.get(Patient, patients[1]).sms_opted_out
    assert alert.rule == "R-NO-DELIVERY" and "21211" in alert.facts


def test_connection_refused_is_retried_with_backoff(ctx, patients, clock):
    closed = SmsChannel(
        ctx.settings.twilio_account_sid,
        "test-token",
        from_number="+15005550006",
        api_base=f"http://127.0.0.1:{free_port()}",
        timeout=1,
    )
    channels = build_channels(ctx)
    channels.sms = closed
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))
    report = ReminderDispatcher(ctx, channels, rng=__import__("random").Random(1)).dispatch_once()
    assert report["retry"] == len(patients)
    rows = [r for pid in patients for r in reminders_of(ctx.engine, pid, kind="blood_test") if r.attempts]
    assert {r.status for r in rows} == {"pending"} and {r.attempts for r in rows} == {1}
    delays = {(r.next_attempt_at - clock.now()).total_seconds() for r in rows}
    assert all(15 <= d <= 30 for d in delays) and len(delays) > 1  # first back-off: 30 s with jitter
    assert "could not connect" in rows[0].last_error


def test_retry_policy_backs_off_exponentially_up_to_the_cap_and_honours_retry_after():
    import random

    policy = RetryPolicy(
        max_attempts=10,
        base=__import__("datetime").timedelta(seconds=30),
        cap=__import__("datetime").timedelta(minutes=15),
    )
    rng = random.Random(3)
    ceilings = [policy.delay(n, rng=rng).total_seconds() for n in range(1, 9)]
    assert all(c <= 900 for c in ceilings) and ceilings[-1] >= 450
    assert 15 <= ceilings[0] <= 30 and 60 <= ceilings[2] <= 120
    assert policy.delay(1, retry_after=120, rng=rng).total_seconds() == 120


def test_timeout_after_acceptance_becomes_unknown_is_never_resent_and_a_receipt_resolves_it(
    ctx, channels, patients, sms_provider, live_server, clock
):
    run_planner(ctx)
    sms_provider.timeout_after_accept(3, times=1)  # the client gives up after 2 s; the message exists anyway
    clock.set(utc(2026, 3, 2, 12, 0))
    report = dispatch_once(ctx, channels)
    assert report["unknown"] == 1 and report["sent"] == len(patients) - 1
    [row] = [r for pid in patients for r in reminders_of(ctx.engine, pid, status="unknown")]
    assert row.provider_id is None and row.last_error.startswith("not re-sent: timed out")

    for _ in range(3):
        clock.advance(minutes=30)
        dispatch_once(ctx, channels)
    mine = [m for m in sms_provider.messages if reminder_id(m) == row.id]
    assert len(mine) == 1  # accepted once by the provider, never sent again

    sms_provider.send_status(mine[0]["sid"], "delivered")  # the receipt carries ?r=<row id>
    with Session(ctx.engine) as session:
        resolved = session.get(OutboundMessage, row.id)
    assert (resolved.status, resolved.provider_id, resolved.delivery_status) == ("sent", mine[0]["sid"], "delivered")


# ---------------------------------------------------------------------------------------------------- Web Push


class _PushService(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[str, dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if status == 201:
            self.send_header("Location", f"{self.path}/messages/1")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def push_service():
    _PushService.answers, _PushService.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PushService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _PushService
    server.shutdown()


def _subscribe(ctx, patient_id: int, endpoint: str):
    """What a browser's PushManager.subscribe() would hand the patient app (keys the test can decrypt with)."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    with session_scope(ctx.engine) as session:
        session.add(
            PushSubscription(
                patient_id=patient_id, endpoint=endpoint, p256dh=b64(point), auth=b64(auth), created_at=ctx.clock.now()
            )
        )
    return key, auth


def test_push_patient_gets_an_encrypted_push_and_no_sms(ctx, channels, make_patient, sms_provider, push_service, clock):
    base, service = push_service
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone="+15553000900", channel_preference="push")
    key, auth = _subscribe(ctx, pid, f"{base}/push/abc")
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))
    dispatch_once(ctx, channels)

    [(path, headers, body)] = service.received
    assert path == "/push/abc", headers
    assert {k.lower(): v for k, v in headers.items()}["authorization"].startswith("vapid t=")
    message = json.loads(http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm"))
    assert message["title"] == "Riverside Oncology" and message["body"] == (
        "You have blood tests today. Have them done before your 8:00 AM dose."
    )
    assert message["url"] == "http://testserver.local/"
    [row] = reminders_of(ctx.engine, pid, status="sent")
    assert row.channel == "push" and row.delivery_updated_at == clock.now()
    assert sms_provider.messages == []
    with Session(ctx.engine) as session:
        assert session.exec(select(PushSubscription)).one().last_success_at == clock.now()


def test_expired_push_subscription_is_removed_and_the_patient_falls_back_to_sms(
    ctx, channels, make_patient, sms_provider, push_service, clock
):
    base, service = push_service
    service.answers = [410]
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone="+15553000901", channel_preference="push")
    _subscribe(ctx, pid, f"{base}/push/gone")
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))
    dispatch_once(ctx, channels)

    assert len(service.received) == 1
    [row] = reminders_of(ctx.engine, pid, status="sent")
    assert row.channel == "sms"
    assert [m["body"] for m in sms_provider.messages_to("+15553000901")] == [
        "Riverside Oncology: You have blood tests today. Have them done before your 8:00 AM dose. "
        "http://testserver.local/"
    ]
    with Session(ctx.engine) as session:
        assert session.exec(select(PushSubscription)).first() is None


# ---------------------------------------------------------------------------------------------------- stopping


def test_worker_stop_lets_in_flight_sends_finish_and_releases_the_rest(ctx, channels, patients, sms_provider, clock):
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 12, 0))  # 20 blood-test reminders due
    sms_provider.set_latency(0.4)
    worker = Worker(ctx, channels=channels)
    worker.start()
    deadline = time.monotonic() + 10
    while len(sms_provider.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()  # what SIGTERM does

    with Session(ctx.engine) as session:
        rows = session.exec(
            select(OutboundMessage).where(OutboundMessage.kind == "blood_test", OutboundMessage.send_at <= clock.now())
        ).all()
    statuses = Counter(r.status for r in rows)
    assert set(statuses) <= {"sent", "pending"} and statuses["pending"] > 0  # nothing left claimed or sending
    assert statuses["sent"] == len(sms_provider.messages)  # every request that left was recorded
    assert {r.claim_token for r in rows if r.status == "pending"} == {None}
