"""The fake SMS provider: API shape, webhooks signed like Twilio's, fault switches, control from another process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from twilio.request_validator import RequestValidator

from notifications.sms import Outcome, SmsChannel
from tests.fakes.sms_provider import FakeSmsControl, FakeSmsProvider, segment_count

REPO = Path(__file__).resolve().parents[2]
SENDER = "+15550100000"
PATIENT = "+15550123456"
PUBLIC_BASE = "https://companion.example.org"


class WebhookReceiver:
    """A tiny local HTTP server standing in for the app's webhook routes; records every POST."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
                with receiver.arrived:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "form": form,
                            "raw": raw,
                            "signature": self.headers.get("X-Twilio-Signature"),
                        }
                    )
                    receiver.arrived.notify_all()
                body = b"<Response/>"
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(seed=7) as provider:
        yield provider


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


def channel_for(fake: FakeSmsProvider, **kwargs) -> SmsChannel:
    kwargs.setdefault("from_number", SENDER)
    return SmsChannel(fake.account_sid, fake.auth_token, api_base=fake.base_url, timeout=5, **kwargs)


def test_accepted_message_has_twilio_shape_and_can_be_fetched(fake):
    auth = (fake.account_sid, fake.auth_token)
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    created = httpx.post(url, data={"To": PATIENT, "From": SENDER, "Body": "Hi"}, auth=auth)

    assert created.status_code == 201
    message = created.json()
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert (message["status"], message["to"], message["from"], message["body"]) == ("queued", PATIENT, SENDER, "Hi")
    assert message["account_sid"] == fake.account_sid and message["error_code"] is None
    assert message["date_created"].endswith("+0000")

    fetched = httpx.get(
        f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages/{message['sid']}.json", auth=auth
    )
    assert fetched.status_code == 200 and fetched.json()["sid"] == message["sid"]
    missing = httpx.get(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages/SM{'f' * 32}.json", auth=auth)
    assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_wrong_credentials_get_twilio_401(fake):
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    answer = httpx.post(url, data={"To": PATIENT, "From": SENDER, "Body": "Hi"}, auth=(fake.account_sid, "nope"))

    assert answer.status_code == 401
    assert answer.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert fake.messages == []


def test_missing_body_and_sender_are_rejected_like_twilio(fake):
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    auth = (fake.account_sid, fake.auth_token)
    assert httpx.post(url, data={"To": PATIENT, "From": SENDER}, auth=auth).json()["code"] == 21602
    assert httpx.post(url, data={"To": PATIENT, "Body": "x"}, auth=auth).json()["code"] == 21603
    assert fake.messages == []


def test_status_callback_is_signed_for_the_public_url(fake, receiver):
    public_url = f"{PUBLIC_BASE}/sms/status"
    result = channel_for(fake).send(PATIENT, "Time for your dose", status_callback=public_url)
    assert result.outcome is Outcome.ACCEPTED

    delivery = fake.send_status(result.provider_id, "delivered", post_to=f"{receiver.base_url}/sms/status")

    assert delivery.ok
    [request] = receiver.wait_for(1)
    form = request["form"]
    assert form["MessageSid"] == result.provider_id and form["MessageStatus"] == "delivered"
    assert (form["To"], form["From"], form["AccountSid"]) == (PATIENT, SENDER, fake.account_sid)
    validator = RequestValidator(fake.auth_token)
    assert validator.validate(public_url, form, request["signature"])
    assert not validator.validate(public_url, {**form, "MessageStatus": "failed"}, request["signature"])
    assert not validator.validate(f"{receiver.base_url}/sms/status", form, request["signature"])
    assert not RequestValidator("other-token").validate(public_url, form, request["signature"])
    assert fake.message(result.provider_id)["status"] == "delivered"


def test_failed_status_callback_carries_error_code(fake, receiver):
    result = channel_for(fake).send(PATIENT, "x", status_callback=f"{PUBLIC_BASE}/sms/status")
    fake.route_callbacks(PUBLIC_BASE, receiver.base_url)

    fake.send_status(result.provider_id, "undelivered", error_code=30003)

    [request] = receiver.wait_for(1)
    assert request["path"] == "/sms/status"
    assert request["form"]["ErrorCode"] == "30003" and request["form"]["MessageStatus"] == "undelivered"
    assert RequestValidator(fake.auth_token).validate(
        f"{PUBLIC_BASE}/sms/status", request["form"], request["signature"]
    )


def test_inbound_message_is_signed_for_the_public_url(fake, receiver):
    public_url = f"{PUBLIC_BASE}/sms/inbound"

    delivery = fake.send_inbound(
        PATIENT, "Took my dose 2", post_to=f"{receiver.base_url}/sms/inbound", public_url=public_url
    )

    assert delivery.ok and delivery.response_text == "<Response/>"
    [request] = receiver.wait_for(1)
    form = request["form"]
    assert (form["From"], form["To"], form["Body"], form["NumMedia"]) == (
        PATIENT,
        fake.phone_number,
        "Took my dose 2",
        "0",
    )
    assert form["MessageSid"].startswith("SM") and form["AccountSid"] == fake.account_sid
    validator = RequestValidator(fake.auth_token)
    assert validator.validate(public_url, form, request["signature"])
    assert not validator.validate(public_url, {**form, "Body": "Took my dose 3"}, request["signature"])


def test_stop_reply_opts_the_sender_out_and_start_opts_back_in(fake, receiver):
    fake.set_inbound_webhook(f"{PUBLIC_BASE}/sms/inbound", post_to=f"{receiver.base_url}/sms/inbound")
    channel = channel_for(fake)

    fake.send_inbound(PATIENT, " stop ")
    stopped = channel.send(PATIENT, "reminder")
    fake.send_inbound(PATIENT, "START")
    resumed = channel.send(PATIENT, "reminder")

    assert stopped.outcome is Outcome.PERMANENT and stopped.opted_out
    assert resumed.outcome is Outcome.ACCEPTED
    assert [r["form"]["Body"] for r in receiver.wait_for(2)] == [" stop ", "START"]


def test_auto_deliver_posts_sent_then_delivered_and_undelivered_for_dead_numbers(fake, receiver):
    fake.route_callbacks(PUBLIC_BASE, receiver.base_url)
    fake.set_auto_deliver(True)
    fake.undeliverable("+15550199999", error_code=30005)
    channel = channel_for(fake, status_callback_url=f"{PUBLIC_BASE}/sms/status")

    ok = channel.send(PATIENT, "a")
    dead = channel.send("+15550199999", "b")

    assert fake.wait_for_webhooks(timeout=5)
    requests = receiver.wait_for(4)
    by_sid: dict[str, list[tuple[str, str | None]]] = {}
    for request in requests:
        form = request["form"]
        by_sid.setdefault(form["MessageSid"], []).append((form["MessageStatus"], form.get("ErrorCode")))
        assert RequestValidator(fake.auth_token).validate(f"{PUBLIC_BASE}/sms/status", form, request["signature"])
    assert by_sid[ok.provider_id] == [("sent", None), ("delivered", None)]
    assert by_sid[dead.provider_id] == [("sent", None), ("undelivered", "30005")]


def test_failure_rate_mixes_the_requested_kinds(fake):
    fake.set_failure_rate(1.0, kinds=["500", "503"])
    channel = channel_for(fake)

    results = [channel.send(PATIENT, f"m{i}") for i in range(40)]

    assert all(r.outcome is Outcome.TRANSIENT for r in results)
    assert {r.http_status for r in results} == {500, 503}
    assert fake.messages == []
    assert fake.stats["fault_500"] + fake.stats["fault_503"] == 40


def test_latency_delays_answers(fake):
    fake.set_latency((0.15, 0.2))
    channel = channel_for(fake)
    started = time.perf_counter()
    assert channel.send(PATIENT, "x").outcome is Outcome.ACCEPTED
    assert time.perf_counter() - started >= 0.15


def test_reset_forgets_traffic_and_faults(fake):
    channel = channel_for(fake)
    channel.send(PATIENT, "x")
    fake.opt_out(PATIENT)
    fake.set_failure_rate(1.0)

    fake.reset()

    assert fake.messages == [] and fake.stats == {}
    assert channel.send(PATIENT, "y").outcome is Outcome.ACCEPTED
    assert fake.received_bodies == ["y"]


def test_concurrent_senders_are_all_recorded_once(fake):
    channel = channel_for(fake)
    numbers = [f"+1555020{i:04d}" for i in range(8)]

    def send_all(number: str) -> list[str]:
        return [channel.send(number, f"{number}-{i}").provider_id for i in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = [sid for batch in pool.map(send_all, numbers) for sid in batch]

    assert len(fake.messages) == 400 and len(set(sids)) == 400
    assert {m["sid"] for m in fake.messages} == set(sids)
    for number in numbers:
        assert [m["body"] for m in fake.messages_to(number)] == [f"{number}-{i}" for i in range(50)]


def test_segment_count_follows_gsm7_and_ucs2_limits():
    assert segment_count("a" * 160) == 1
    assert segment_count("a" * 161) == 2
    assert segment_count("é" * 160) == 1  # é is in the GSM-7 alphabet
    assert segment_count("ü" * 70 + "✓") == 2  # one non-GSM character switches the whole body to UCS-2


def test_control_endpoints_drive_a_fake_in_another_process(receiver):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.sms_provider", "--port", "0", "--auth-token", "proc-token"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first_line, (
            proc.stderr.read() if proc.poll() is not None else first_line
        )
        base_url = first_line.rsplit(" ", 1)[1].strip()
        channel = SmsChannel("AC" + "0" * 32, "proc-token", from_number=SENDER, api_base=base_url, timeout=5)

        with FakeSmsControl(base_url) as control:
            assert control.health()["ok"]
            control.opt_out("+15550000001")
            control.fail_next(503)
            assert channel.send(PATIENT, "first").outcome is Outcome.TRANSIENT
            accepted = channel.send(PATIENT, "second", status_callback=f"{PUBLIC_BASE}/sms/status")
            assert accepted.outcome is Outcome.ACCEPTED
            assert channel.send("+15550000001", "third").opted_out

            [message] = control.messages()
            assert (message["sid"], message["body"], message["to"]) == (accepted.provider_id, "second", PATIENT)
            assert control.messages(to="+15550000001") == []
            assert control.stats()["fault_503"] == 1

            delivery = control.send_status(accepted.provider_id, "delivered", post_to=f"{receiver.base_url}/s")
            assert delivery["status_code"] == 200
            [request] = receiver.wait_for(1)
            assert RequestValidator("proc-token").validate(
                f"{PUBLIC_BASE}/sms/status", request["form"], request["signature"]
            )

            control.configure(failure_rate=1.0, failure_kinds=["429"], retry_after=9)
            limited = channel.send(PATIENT, "fourth")
            assert (limited.outcome, limited.retry_after) == (Outcome.TRANSIENT, 9.0)

            control.reset()
            assert control.messages() == []
            assert channel.send(PATIENT, "fifth").outcome is Outcome.ACCEPTED
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_control_endpoints_reject_bad_input_with_400(fake):
    assert httpx.post(f"{fake.base_url}/_fake/config", json={"failure_rat": 0.5}).status_code == 400
    assert httpx.post(f"{fake.base_url}/_fake/fail_next", json={"kind": "418"}).status_code == 400
    assert httpx.post(f"{fake.base_url}/_fake/config", content=b"{not json").status_code == 400
    assert httpx.get(f"{fake.base_url}/_fake/nothing").status_code == 404
