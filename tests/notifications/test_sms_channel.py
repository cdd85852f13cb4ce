"""SmsChannel over the real twilio SDK, talking HTTP to the fake provider: every outcome is classified."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from notifications.sms import ConsoleSmsChannel, Outcome, SendResult, SmsChannel
from tests.fakes.sms_provider import FakeSmsProvider

SENDER = "+15550100000"
PATIENT = "+15550123456"
SERVICE_SID = "MG" + "1" * 32


@pytest.fixture
def fake() -> Iterator[FakeSmsProvider]:
    with FakeSmsProvider(seed=11) as provider:
        yield provider


@pytest.fixture
def channel(fake) -> Iterator[SmsChannel]:
    with SmsChannel(fake.account_sid, fake.auth_token, from_number=SENDER, api_base=fake.base_url, timeout=5) as ch:
        yield ch


def test_accepted_message_is_recorded_once_with_its_fields(fake, channel):
    result = channel.send(
        PATIENT, "Time for your evening dose", status_callback="https://companion.example.org/sms/status"
    )

    assert result.outcome is Outcome.ACCEPTED and result.accepted
    assert result.status == "queued" and result.provider_id.startswith("SM")
    [message] = fake.messages
    assert message["sid"] == result.provider_id
    assert (message["to"], message["from"], message["body"]) == (PATIENT, SENDER, "Time for your evening dose")
    assert message["status_callback"] == "https://companion.example.org/sms/status"


def test_channel_default_status_callback_is_sent(fake):
    channel = SmsChannel(
        fake.account_sid,
        fake.auth_token,
        from_number=SENDER,
        api_base=fake.base_url,
        status_callback_url="https://companion.example.org/sms/status",
    )
    channel.send(PATIENT, "x")
    assert fake.messages[0]["status_callback"] == "https://companion.example.org/sms/status"


def test_messaging_service_sid_is_used_instead_of_a_from_number(fake):
    channel = SmsChannel(fake.account_sid, fake.auth_token, messaging_service_sid=SERVICE_SID, api_base=fake.base_url)

    result = channel.send(PATIENT, "hello")

    assert result.outcome is Outcome.ACCEPTED
    assert result.status == "accepted"  # Twilio's first status for Messaging Service sends
    [message] = fake.messages
    assert (message["messaging_service_sid"], message["from"]) == (SERVICE_SID, None)


@pytest.mark.parametrize("sender", [{}, {"from_number": SENDER, "messaging_service_sid": SERVICE_SID}])
def test_exactly_one_sender_is_required(sender):
    with pytest.raises(ValueError):
        SmsChannel("AC" + "0" * 32, "token", **sender)


@pytest.mark.parametrize(("fault", "http_status"), [("500", 500), ("429", 429), ("503", 503), ("reset", None)])
def test_provider_failures_before_acceptance_are_transient(fake, channel, fault, http_status):
    fake.set_failure_rate(0.0, retry_after=7)
    fake.fail_next(fault)

    result = channel.send(PATIENT, "x")

    assert result.outcome is Outcome.TRANSIENT and result.retryable
    assert result.http_status == http_status
    assert result.retry_after == (7.0 if fault == "429" else None)
    assert result.detail
    assert fake.messages == []
    # and the channel keeps working on the next attempt (a fresh connection after a reset)
    assert channel.send(PATIENT, "x").outcome is Outcome.ACCEPTED


def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        channel = SmsChannel("AC" + "0" * 32, "t", from_number=SENDER, api_base=f"http://127.0.0.1:{port}", timeout=2)
        result = channel.send(PATIENT, "x")
    assert result.outcome is Outcome.TRANSIENT
    assert "not sent" in result.detail


def test_opted_out_recipient_is_permanent_and_flagged(fake, channel):
    fake.opt_out(PATIENT)

    result = channel.send(PATIENT, "x")

    assert (result.outcome, result.error_code, result.http_status, result.opted_out) == (
        Outcome.PERMANENT,
        21610,
        400,
        True,
    )
    assert not result.retryable
    assert fake.messages == []


@pytest.mark.parametrize(
    ("arrange", "to", "code"),
    [
        (lambda fake: fake.invalid(PATIENT), PATIENT, 21211),
        (lambda fake: None, "0123", 21211),  # not E.164
        (lambda fake: fake.not_mobile(PATIENT), PATIENT, 21614),
    ],
)
def test_bad_numbers_are_permanent(fake, channel, arrange, to, code):
    arrange(fake)

    result = channel.send(to, "x")

    assert (result.outcome, result.error_code, result.opted_out) == (Outcome.PERMANENT, code, False)


def test_wrong_auth_token_is_a_permanent_configuration_error(fake):
    channel = SmsChannel(fake.account_sid, "wrong-token", from_number=SENDER, api_base=fake.base_url)

    result = channel.send(PATIENT, "x")

    assert (result.outcome, result.http_status, result.error_code) == (Outcome.PERMANENT, 401, 20003)
    assert "credentials" in result.detail
    assert fake.messages == []


def test_read_timeout_after_acceptance_is_ambiguous_and_the_message_exists(fake):
    fake.timeout_after_accept(2.0, times=1)
    channel = SmsChannel(fake.account_sid, fake.auth_token, from_number=SENDER, api_base=fake.base_url, timeout=0.3)

    result = channel.send(PATIENT, "Dose reminder")

    assert result.outcome is Outcome.AMBIGUOUS and not result.retryable
    assert result.provider_id is None
    # the provider did take it: re-sending blindly would deliver the reminder twice
    assert fake.received_bodies == ["Dose reminder"]
    assert channel.send(PATIENT, "next").outcome is Outcome.ACCEPTED


class HalfAnswerServer:
    """Answers every request with headers promising a body, then stalls or hangs up mid-body."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"sid": '
            )
            if self.mode == "stall":
                self.release.wait(5)

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.mark.parametrize("mode", ["stall", "hang_up"])
def test_answer_broken_off_after_headers_is_ambiguous(mode):
    # requests reports a read timeout *in the body* as ConnectionError(ReadTimeoutError), not ReadTimeout,
    # and a short body as ChunkedEncodingError: both mean the provider processed the request.
    server = HalfAnswerServer(mode)
    try:
        channel = SmsChannel("AC" + "0" * 32, "t", from_number=SENDER, api_base=server.base_url, timeout=0.3)
        result = channel.send(PATIENT, "x")
    finally:
        server.close()
    assert result.outcome is Outcome.AMBIGUOUS, result.detail


def test_retrying_transient_failures_sends_every_message_exactly_once(fake, channel):
    fake.set_failure_rate(0.3)  # a mix of 500, 429, 503 and connection resets
    bodies = [f"reminder {i}" for i in range(200)]
    outcomes: Counter[Outcome] = Counter()

    for body in bodies:
        for _attempt in range(30):
            result = channel.send(PATIENT, body)
            outcomes[result.outcome] += 1
            if result.outcome is not Outcome.TRANSIENT:
                break
        assert result.outcome is Outcome.ACCEPTED, result

    assert outcomes[Outcome.TRANSIENT] > 20  # the faults really happened
    assert set(outcomes) == {Outcome.ACCEPTED, Outcome.TRANSIENT}
    assert fake.received_bodies == bodies  # each once, in order: no duplicates


def test_one_channel_is_safe_to_share_across_threads(fake, channel):
    fake.set_latency((0.0, 0.005))
    jobs = [(f"+1555030{i % 10:04d}", f"message {i}") for i in range(400)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: channel.send(*job), jobs))

    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    by_sid = {m["sid"]: m for m in fake.messages}
    assert len(by_sid) == 400
    # every caller got the sid of its own message, not another thread's answer
    for (to, body), result in zip(jobs, results):
        assert (by_sid[result.provider_id]["to"], by_sid[result.provider_id]["body"]) == (to, body)


def test_console_channel_prints_and_accepts(capsys):
    result = ConsoleSmsChannel().send(PATIENT, "Time for your dose")

    assert capsys.readouterr().out == f"[SMS to {PATIENT}] Time for your dose\n"
    assert result.outcome is Outcome.ACCEPTED and result.provider_id.startswith("console-")


def test_send_result_is_immutable():
    result = SendResult(Outcome.TRANSIENT, "x")
    with pytest.raises(AttributeError):
        result.outcome = Outcome.ACCEPTED  # type: ignore[misc]
    assert result.outcome == "transient"
