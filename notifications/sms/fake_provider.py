"""A local stand-in for Twilio's Messages API, for development, tests and benchmarks.

The real twilio SDK talks HTTP to it (see ``SmsChannel(api_base=...)``), so the code under test is the code
that runs in production. It speaks the subset of the API the companion uses:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic auth) -> 201 message JSON
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> 200 message JSON

and it plays the provider's side of the webhooks: signed status callbacks and signed inbound messages.

Faults (failure rate, latency, "accepted but answered too late", per-number error codes) are set from Python
(``FakeSmsProvider``) or, from another process, through the JSON control endpoints under ``/_fake/``
(``FakeSmsControl`` wraps them). Run it standalone with ``python -m notifications.sms.fake_provider --port 8099``.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import logging
import random
import re
import signal
import socket
import struct
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "test-token"
# Twilio's magic "valid, SMS-capable" test number; the fake's own number for inbound messages.
DEFAULT_PHONE_NUMBER = "+15005550006"
API_VERSION = "2010-04-01"

MESSAGE_STATUSES = ("accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read")
# Twilio's default opt-out / opt-in keywords (Advanced Opt-Out defaults), matched on the whole trimmed body.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


class Fault(StrEnum):
    """What the fake does instead of answering normally when a fault is injected."""

    SERVER_ERROR = "500"
    RATE_LIMITED = "429"
    UNAVAILABLE = "503"
    RESET = "reset"  # connection reset (RST) after reading the request, nothing recorded


ALL_FAULTS: tuple[Fault, ...] = tuple(Fault)


@dataclass(frozen=True)
class NumberRule:
    """An error answered for every message to one number (Twilio's 4xx with an error code)."""

    code: int
    message: str
    status: int = 400


@dataclass
class WebhookDelivery:
    """One signed POST the fake made to the app (status callback or inbound message)."""

    kind: str  # "status" or "inbound"
    url: str  # where it was physically sent
    public_url: str  # what the signature covers
    params: dict[str, str]
    signature: str
    status_code: int | None = None
    response_text: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


_FAULT_ANSWERS: dict[Fault, tuple[int, int, str]] = {
    Fault.SERVER_ERROR: (500, 20500, "Internal Server Error"),
    Fault.RATE_LIMITED: (429, 20429, "Too Many Requests"),
    Fault.UNAVAILABLE: (503, 20503, "Service Unavailable"),
}


def segment_count(body: str) -> int:
    """How many SMS segments Twilio would bill for this body (GSM-7 or UCS-2)."""
    if not body:
        return 1
    if all(ch in _GSM7 for ch in body):
        single, multi, length = 160, 153, len(body)
    else:
        single, multi, length = 70, 67, len(body.encode("utf-16-le")) // 2
    return 1 if length <= single else -(-length // multi)


def _parse_kinds(kinds: Iterable[str | int | Fault] | None) -> tuple[Fault, ...]:
    if kinds is None:
        return ALL_FAULTS
    parsed = tuple(Fault(str(kind)) for kind in kinds)
    if not parsed:
        raise ValueError("kinds must name at least one fault")
    return parsed


def _parse_latency(latency: float | tuple[float, float] | list[float] | None) -> tuple[float, float] | None:
    if latency is None:
        return None
    if isinstance(latency, (int, float)):
        lo = hi = float(latency)
    else:
        lo, hi = (float(v) for v in latency)
    if lo < 0 or hi < lo:
        raise ValueError(f"latency must be >= 0 and lo <= hi, got {latency!r}")
    return None if hi == 0 else (lo, hi)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that can drop every open keep-alive connection when it stops."""

    daemon_threads = True
    block_on_close = False  # do not join handler threads (keep-alive clients may hold them open)
    request_queue_size = 1024  # several client processes connect at once; the default backlog is 5

    def __init__(self, address: tuple[str, int], provider: FakeSmsProvider) -> None:
        self.provider = provider
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # type: ignore[override]
        # Clients that gave up (timeouts) make writes fail with broken pipes; that is expected here.
        logger.debug("fake SMS provider: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # no per-request logging: the benchmark sends tens of thousands of requests

    def do_GET(self) -> None:
        self.server.provider._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.provider._handle(self, "POST")

    def do_DELETE(self) -> None:
        self.server.provider._handle(self, "DELETE")


class _Reset(Exception):
    """Raised inside request handling to drop the connection without an answer."""


class FakeSmsProvider:
    """A fake Twilio Messages API on a local port, with injectable faults and signed webhooks."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        phone_number: str = DEFAULT_PHONE_NUMBER,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
        opt_out_keywords: bool = True,
        callback_workers: int = 4,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.phone_number = phone_number
        self.opt_out_keywords = opt_out_keywords
        self._clock = clock or (lambda: datetime.now(UTC))
        self._validator = RequestValidator(auth_token)
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._callback_workers = callback_workers

        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._pending: set[Future] = set()

        # Wiring that survives reset(): where webhooks go.
        self._inbound_public_url: str | None = None
        self._inbound_post_to: str | None = None
        self._callback_routes: list[tuple[str, str]] = []
        self._auto_deliver = False
        self._auto_deliver_delay = 0.0
        self._clear_state()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSmsProvider:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._executor = ThreadPoolExecutor(max_workers=self._callback_workers, thread_name_prefix="fake-sms-webhooks")
        self._http = httpx.Client(timeout=10.0, trust_env=False)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-sms-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, wake delayed answers and finish queued webhooks."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()
        self._server = self._thread = self._executor = self._http = None

    def __enter__(self) -> FakeSmsProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the SDK should send its requests (``SmsChannel(api_base=...)``)."""
        if self._server is None:
            raise RuntimeError("FakeSmsProvider is not started")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ recorded traffic

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A snapshot of every accepted message, oldest first."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def received_bodies(self) -> list[str]:
        with self._lock:
            return [m["body"] for m in self._messages]

    def messages_to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._by_to.get(number, ())]

    def message(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._by_sid.get(sid)
            return dict(found) if found else None

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook the fake posted (status callbacks and inbound), in completion order."""
        with self._lock:
            return list(self._deliveries)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: requests, accepted, faults by kind, number errors, auth failures."""
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        """Forget recorded traffic and every fault or number rule (webhook wiring is kept)."""
        with self._lock:
            self._clear_state()

    def _clear_state(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._by_to: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._deliveries: list[WebhookDelivery] = []
        self._number_rules: dict[str, NumberRule] = {}
        self._undeliverable: dict[str, int] = {}
        self._failure_rate = 0.0
        self._failure_kinds: tuple[Fault, ...] = ALL_FAULTS
        self._retry_after = 1
        self._latency: tuple[float, float] | None = None
        self._late_answer_seconds: float | None = None
        self._late_answer_remaining: int | None = None
        self._fail_next: deque[Fault] = deque()
        self._stats: dict[str, int] = defaultdict(int)

    # ------------------------------------------------------------------ faults and rules

    def set_failure_rate(
        self, rate: float, kinds: Iterable[str | int | Fault] | None = None, *, retry_after: int = 1
    ) -> None:
        """Fail this fraction (0..1) of message requests, picking uniformly among ``kinds`` (default: all)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {rate}")
        parsed = _parse_kinds(kinds)
        with self._lock:
            self._failure_rate = float(rate)
            self._failure_kinds = parsed
            self._retry_after = int(retry_after)

    def fail_next(self, kind: str | int | Fault, count: int = 1) -> None:
        """Fail exactly the next ``count`` message requests with ``kind`` (deterministic, before the rate)."""
        fault = Fault(str(kind))
        with self._lock:
            self._fail_next.extend([fault] * count)

    def set_latency(self, latency: float | tuple[float, float] | None) -> None:
        """Wait this long (seconds, or a uniform (lo, hi) range) before answering any API request."""
        parsed = _parse_latency(latency)
        with self._lock:
            self._latency = parsed

    def timeout_after_accept(self, seconds: float | None, *, times: int | None = None) -> None:
        """Record messages as accepted but answer only after ``seconds`` (None turns it off).

        Set ``seconds`` beyond the client's timeout to produce an ambiguous outcome: the client gives up,
        yet the message exists. ``times`` limits it to the next N accepted messages.
        """
        with self._lock:
            self._late_answer_seconds = seconds
            self._late_answer_remaining = times if seconds is not None else None

    def set_number_error(self, number: str, code: int, message: str | None = None, *, status: int = 400) -> None:
        """Answer every message to ``number`` with this Twilio error."""
        with self._lock:
            self._number_rules[number] = NumberRule(code, message or f"Error {code}", status)

    def opt_out(self, number: str) -> None:
        """The recipient texted STOP: sending to them answers 400 / 21610."""
        self.set_number_error(number, 21610, "Attempt to send to unsubscribed recipient")

    def opt_in(self, number: str) -> None:
        """The recipient texted START: clears an opt-out."""
        self.clear_number(number)

    def invalid(self, number: str) -> None:
        """Sending to ``number`` answers 400 / 21211 (invalid 'To' number)."""
        self.set_number_error(number, 21211, f"Invalid 'To' Phone Number: {number}")

    def not_mobile(self, number: str) -> None:
        """Sending to ``number`` answers 400 / 21614 (landline or unreachable carrier)."""
        self.set_number_error(number, 21614, "'To' number is not a valid mobile number")

    def undeliverable(self, number: str, error_code: int = 30003) -> None:
        """Accept messages to ``number`` but report them undelivered when auto-delivering."""
        with self._lock:
            self._undeliverable[number] = error_code

    def clear_number(self, number: str) -> None:
        with self._lock:
            self._number_rules.pop(number, None)
            self._undeliverable.pop(number, None)

    # ------------------------------------------------------------------ webhook wiring

    def set_inbound_webhook(self, public_url: str | None, post_to: str | None = None) -> None:
        """Where inbound messages go: signed for ``public_url``, physically posted to ``post_to`` (default: same)."""
        with self._lock:
            self._inbound_public_url = public_url
            self._inbound_post_to = post_to

    def route_callbacks(self, public_prefix: str, local_prefix: str) -> None:
        """Physically post webhooks whose public URL starts with ``public_prefix`` to ``local_prefix`` instead.

        The signature still covers the public URL, as the app validates against its PUBLIC_BASE_URL.
        """
        with self._lock:
            self._callback_routes = [(p, l) for p, l in self._callback_routes if p != public_prefix]
            self._callback_routes.append((public_prefix, local_prefix))

    def set_auto_deliver(self, enabled: bool = True, *, delay: float = 0.0) -> None:
        """After accepting a message with a StatusCallback, post ``sent`` then ``delivered`` (in the background).

        Numbers marked ``undeliverable`` get ``undelivered`` with their error code instead of ``delivered``.
        The callbacks may reach the app before the 201 reaches the sender, as with the real provider.
        """
        with self._lock:
            self._auto_deliver = enabled
            self._auto_deliver_delay = delay

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until queued background webhooks (auto-delivery) were posted; False on timeout."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = wait_futures(pending, timeout=timeout)
        return not not_done

    def _physical_url(self, public_url: str) -> str:
        with self._lock:
            routes = list(self._callback_routes)
        for public_prefix, local_prefix in routes:
            if public_url.startswith(public_prefix):
                return local_prefix + public_url[len(public_prefix):]
        return public_url

    # ------------------------------------------------------------------ outgoing webhooks

    def sign(self, public_url: str, params: Mapping[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send for these form params posted to ``public_url``."""
        return self._validator.compute_signature(public_url, dict(params))

    def send_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        post_to: str | None = None,
        public_url: str | None = None,
    ) -> WebhookDelivery:
        """Post a signed status callback for an accepted message and record its new status.

        ``public_url`` defaults to the StatusCallback the message carried; ``post_to`` to that URL after
        ``route_callbacks`` rewriting.
        """
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        with self._lock:
            message = self._by_sid.get(sid)
            if message is None:
                raise KeyError(f"no accepted message {sid}")
            message["status"] = status
            if error_code is not None:
                message["error_code"] = error_code
            public_url = public_url or message["status_callback"]
            params = self._status_params(message, status, error_code)
        if not public_url:
            raise ValueError(f"message {sid} carried no StatusCallback; pass public_url=")
        return self._post_webhook("status", public_url, post_to or self._physical_url(public_url), params)

    def send_inbound(
        self,
        from_: str,
        body: str,
        *,
        to: str | None = None,
        post_to: str | None = None,
        public_url: str | None = None,
        sid: str | None = None,
    ) -> WebhookDelivery:
        """Post a signed inbound SMS (a patient's reply) to the app's inbound webhook.

        ``public_url`` defaults to ``set_inbound_webhook``'s; the signature covers it even when the POST
        physically goes to ``post_to``. STOP/START keywords opt the sender out/in, as Twilio does.
        """
        with self._lock:
            public_url = public_url or self._inbound_public_url
            post_to = post_to or self._inbound_post_to
        if not public_url:
            raise ValueError("no inbound webhook: pass public_url= or call set_inbound_webhook()")
        message_sid = sid or _new_sid("SM")
        params = {
            "MessageSid": message_sid,
            "SmsMessageSid": message_sid,
            "SmsSid": message_sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to or self.phone_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(segment_count(body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        keyword = body.strip().upper()
        if self.opt_out_keywords and keyword in OPT_OUT_KEYWORDS:
            self.opt_out(from_)
        elif self.opt_out_keywords and keyword in OPT_IN_KEYWORDS:
            self.opt_in(from_)
        return self._post_webhook("inbound", public_url, post_to or self._physical_url(public_url), params)

    def _status_params(self, message: Mapping[str, Any], status: str, error_code: int | None) -> dict[str, str]:
        params = {
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "To": message["to"],
            "From": message["from"] or self.phone_number,
            "ApiVersion": API_VERSION,
        }
        if message.get("messaging_service_sid"):
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    def _post_webhook(self, kind: str, public_url: str, url: str, params: dict[str, str]) -> WebhookDelivery:
        signature = self.sign(public_url, params)
        delivery = WebhookDelivery(kind=kind, url=url, public_url=public_url, params=params, signature=signature)
        http = self._http or httpx.Client(timeout=10.0, trust_env=False)
        try:
            response = http.post(
                url,
                data=params,
                headers={
                    "X-Twilio-Signature": signature,
                    "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
                    "User-Agent": "TwilioProxy/1.1",
                },
            )
            delivery.status_code = response.status_code
            delivery.response_text = response.text
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        finally:
            if http is not self._http:
                http.close()
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def _schedule_auto_delivery(self, sid: str) -> None:
        executor = self._executor
        if executor is None:
            return
        future = executor.submit(self._auto_deliver_one, sid)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def _auto_deliver_one(self, sid: str) -> None:
        if self._auto_deliver_delay and self._stopping.wait(self._auto_deliver_delay):
            return
        with self._lock:
            message = self._by_sid.get(sid)
            failure_code = self._undeliverable.get(message["to"]) if message else None
        if message is None:
            return
        try:
            self.send_status(sid, "sent")
            if failure_code is None:
                self.send_status(sid, "delivered")
            else:
                self.send_status(sid, "undelivered", error_code=failure_code)
        except Exception:  # a background webhook must never kill the worker thread
            logger.exception("fake SMS provider: auto-delivery of %s failed", sid)

    # ------------------------------------------------------------------ request handling

    def _handle(self, handler: _Handler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        query = handler.path.split("?", 1)[1] if "?" in handler.path else ""
        try:
            length = int(handler.headers.get("Content-Length") or 0)
            raw = handler.rfile.read(length) if length else b""
            if path.startswith("/_fake/"):
                status, payload, headers = self._control(method, path, query, raw)
            else:
                status, payload, headers = self._api(handler, method, path, raw)
        except _Reset:
            handler.close_connection = True
            sock = handler.connection
            # SO_LINGER 0: close() sends RST instead of FIN, so the client sees "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        except Exception:
            logger.exception("fake SMS provider: error handling %s %s", method, path)
            status, payload, headers = 500, _twilio_error(20500, "Internal Server Error", 500), {}
        self._write(handler, status, payload, headers)

    @staticmethod
    def _write(handler: _Handler, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        body = json.dumps(payload, default=_json_default).encode()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if handler.close_connection:
            lines.append("Connection: close")
        try:
            handler.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            handler.close_connection = True  # the client gave up (timed out) before the answer

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _api(self, handler: _Handler, method: str, path: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self._stats["requests"] += 1
            latency = self._latency
            fault = self._pick_fault_locked() if method == "POST" and _MESSAGES_PATH.match(path) else None
            retry_after = self._retry_after
            latency_seconds = self._rng.uniform(*latency) if latency else 0.0
        self._pause(latency_seconds)

        if fault is not None:
            if fault is Fault.RESET:
                raise _Reset
            status, code, message = _FAULT_ANSWERS[fault]
            headers = {"Retry-After": str(retry_after)} if fault is Fault.RATE_LIMITED else {}
            return status, _twilio_error(code, message, status), headers

        if not hmac.compare_digest(handler.headers.get("Authorization", ""), self._expected_auth):
            self._count("auth_failures")
            return 401, _twilio_error(20003, "Authenticate", 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}

        if match := _MESSAGES_PATH.match(path):
            if match["account"] != self.account_sid:
                return _not_found(path)
            if method != "POST":
                return 405, _twilio_error(20004, "Method not allowed", 405), {}
            return self._create_message(parse_qs(raw.decode("utf-8"), keep_blank_values=True))
        if (match := _MESSAGE_PATH.match(path)) and method == "GET":
            with self._lock:
                message = self._by_sid.get(match["sid"]) if match["account"] == self.account_sid else None
                resource = self._resource(message) if message else None
            return (200, resource, {}) if resource else _not_found(path)
        return _not_found(path)

    def _pick_fault_locked(self) -> Fault | None:
        if self._fail_next:
            fault = self._fail_next.popleft()
        elif self._failure_rate and self._rng.random() < self._failure_rate:
            fault = self._rng.choice(self._failure_kinds)
        else:
            return None
        self._stats[f"fault_{fault.value}"] += 1
        return fault

    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    def _create_message(self, form: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        def first(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        to, from_, service, body = first("To"), first("From"), first("MessagingServiceSid"), first("Body")
        if not to:
            return 400, _twilio_error(21604, "A 'To' phone number is required.", 400), {}
        if not from_ and not service:
            return 400, _twilio_error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400), {}
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 400, _twilio_error(21602, "Message body is required.", 400), {}
        if body and len(body) > 1600:
            return 400, _twilio_error(21617, "The concatenated message body exceeds the 1600 character limit.", 400), {}

        now = self._clock()
        with self._lock:
            rule = self._number_rules.get(to)
            if rule is None and not _E164.match(to):
                rule = NumberRule(21211, f"Invalid 'To' Phone Number: {to}")
            if rule is not None:
                self._stats[f"error_{rule.code}"] += 1
                return rule.status, _twilio_error(rule.code, rule.message, rule.status), {}
            message = {
                "sid": _new_sid("SM"),
                "account_sid": self.account_sid,
                "to": to,
                # With a Messaging Service the sender is picked later: Twilio answers from=null, status "accepted".
                "from": from_,
                "messaging_service_sid": service,
                "body": body or "",
                "status_callback": first("StatusCallback"),
                "status": "queued" if from_ else "accepted",
                "error_code": None,
                "num_segments": segment_count(body or ""),
                "accepted_at": now,
            }
            self._messages.append(message)
            self._by_sid[message["sid"]] = message
            self._by_to[to].append(message)
            self._stats["accepted"] += 1
            resource = self._resource(message)
            auto = self._auto_deliver and bool(message["status_callback"])
            late = self._late_answer_seconds
            if late is not None and self._late_answer_remaining is not None:
                self._late_answer_remaining -= 1
                if self._late_answer_remaining <= 0:
                    self._late_answer_seconds = self._late_answer_remaining = None
        if auto:
            self._schedule_auto_delivery(message["sid"])
        if late is not None:
            self._count("late_answers")
            self._pause(late)
        return 201, resource, {}

    def _resource(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The message as Twilio's API represents it (snake_case JSON, RFC 2822 dates)."""
        date = format_datetime(message["accepted_at"].astimezone(UTC), usegmt=False)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message['sid']}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message["body"],
            "date_created": date,
            "date_sent": None,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": message["error_code"],
            "error_message": None,
            "from": message["from"],
            "messaging_service_sid": message["messaging_service_sid"],
            "num_media": "0",
            "num_segments": str(message["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": message["sid"],
            "status": message["status"],
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message["to"],
            "uri": uri,
        }

    # ------------------------------------------------------------------ control endpoints (/_fake/...)

    def _control(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """JSON endpoints so another process (benchmark, e2e harness) can drive the fake."""
        name = path[len("/_fake/"):].strip("/")
        try:
            args: dict[str, Any] = json.loads(raw) if raw.strip() else {}
            result = self._run_control(method, name, args, parse_qs(query))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}, {}
        if result is None:
            return 404, {"error": f"no control endpoint {method} {path}"}, {}
        return 200, result, {}

    def _run_control(self, method: str, name: str, args: dict[str, Any], query: dict[str, list[str]]) -> Any:
        if method == "GET" and name == "health":
            return {"ok": True, "account_sid": self.account_sid, "phone_number": self.phone_number}
        if method == "GET" and name == "messages":
            to = query.get("to", [None])[0]
            return {"messages": self.messages_to(to) if to else self.messages}
        if method == "GET" and name == "stats":
            return self.stats
        if method == "GET" and name == "deliveries":
            return {"deliveries": [asdict(d) for d in self.deliveries]}
        if method != "POST":
            return None
        if name == "reset":
            self.reset()
            return {"ok": True}
        if name == "config":
            self._configure(args)
            return {"ok": True}
        if name == "fail_next":
            self.fail_next(args["kind"], int(args.get("count", 1)))
            return {"ok": True}
        if name in ("opt_out", "opt_in", "invalid", "not_mobile", "clear_number"):
            getattr(self, name)(args["number"])
            return {"ok": True}
        if name == "undeliverable":
            self.undeliverable(args["number"], int(args.get("error_code", 30003)))
            return {"ok": True}
        if name == "number_error":
            self.set_number_error(args["number"], int(args["code"]), args.get("message"), status=int(args.get("status", 400)))
            return {"ok": True}
        if name == "status":
            delivery = self.send_status(
                args["sid"], args["status"], error_code=args.get("error_code"),
                post_to=args.get("post_to"), public_url=args.get("public_url"),
            )
            return asdict(delivery)
        if name == "inbound":
            delivery = self.send_inbound(
                args["from"], args["body"], to=args.get("to"),
                post_to=args.get("post_to"), public_url=args.get("public_url"),
            )
            return asdict(delivery)
        return None

    def _configure(self, args: Mapping[str, Any]) -> None:
        known = {
            "failure_rate", "failure_kinds", "retry_after", "latency", "timeout_after_accept",
            "timeout_after_accept_times", "auto_deliver", "auto_deliver_delay", "inbound_webhook", "callback_routes",
        }
        unknown = set(args) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        if "failure_rate" in args or "failure_kinds" in args or "retry_after" in args:
            with self._lock:
                rate, kinds, retry_after = self._failure_rate, self._failure_kinds, self._retry_after
            self.set_failure_rate(
                float(args.get("failure_rate", rate)),
                args.get("failure_kinds", kinds),
                retry_after=int(args.get("retry_after", retry_after)),
            )
        if "latency" in args:
            self.set_latency(args["latency"])
        if "timeout_after_accept" in args:
            self.timeout_after_accept(args["timeout_after_accept"], times=args.get("timeout_after_accept_times"))
        if "auto_deliver" in args or "auto_deliver_delay" in args:
            self.set_auto_deliver(bool(args.get("auto_deliver", self._auto_deliver)),
                                  delay=float(args.get("auto_deliver_delay", self._auto_deliver_delay)))
        if "inbound_webhook" in args:
            hook = args["inbound_webhook"] or {}
            self.set_inbound_webhook(hook.get("public_url"), hook.get("post_to"))
        for public_prefix, local_prefix in args.get("callback_routes", ()):
            self.route_callbacks(public_prefix, local_prefix)


def _not_found(path: str) -> tuple[int, Any, dict[str, str]]:
    return 404, _twilio_error(20404, f"The requested resource {path} was not found", 404), {}


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class FakeSmsControl:
    """Drives a FakeSmsProvider running in another process, through its ``/_fake/`` endpoints."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeSmsControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, name: str, **args: Any) -> Any:
        response = self._http.post(f"/_fake/{name}", json=args)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._http.get("/_fake/health").raise_for_status().json()

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages (``accepted_at`` as an ISO-8601 string)."""
        params = {"to": to} if to else None
        return self._http.get("/_fake/messages", params=params).raise_for_status().json()["messages"]

    def stats(self) -> dict[str, int]:
        return self._http.get("/_fake/stats").raise_for_status().json()

    def reset(self) -> None:
        self._post("reset")

    def configure(self, **settings: Any) -> None:
        """Keys: failure_rate, failure_kinds, retry_after, latency, timeout_after_accept,
        timeout_after_accept_times, auto_deliver, auto_deliver_delay, inbound_webhook, callback_routes."""
        self._post("config", **settings)

    def fail_next(self, kind: str | int, count: int = 1) -> None:
        self._post("fail_next", kind=str(kind), count=count)

    def opt_out(self, number: str) -> None:
        self._post("opt_out", number=number)

    def invalid(self, number: str) -> None:
        self._post("invalid", number=number)

    def clear_number(self, number: str) -> None:
        self._post("clear_number", number=number)

    def send_status(self, sid: str, status: str, **kwargs: Any) -> dict[str, Any]:
        return self._post("status", sid=sid, status=status, **kwargs)

    def send_inbound(self, from_: str, body: str, **kwargs: Any) -> dict[str, Any]:
        return self._post("inbound", **{"from": from_, "body": body}, **kwargs)


def main(argv: list[str] | None = None) -> None:
    """Run the fake provider in the foreground until interrupted (for ``make run`` and benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m notifications.sms.fake_provider", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, nargs="+", metavar="SECONDS", help="fixed, or LO HI")
    parser.add_argument("--auto-deliver", action="store_true", help="post sent+delivered status callbacks")
    parser.add_argument("--inbound-webhook", metavar="PUBLIC_URL", help="where send_inbound posts by default")
    parser.add_argument(
        "--route", action="append", default=[], metavar="PUBLIC_PREFIX=LOCAL_PREFIX",
        help="physically post webhooks for PUBLIC_PREFIX to LOCAL_PREFIX (signature still covers the public URL)",
    )
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)

    provider = FakeSmsProvider(args.account_sid, args.auth_token, args.host, args.port, seed=args.seed)
    provider.set_failure_rate(args.failure_rate)
    if args.latency:
        provider.set_latency(args.latency[0] if len(args.latency) == 1 else tuple(args.latency[:2]))
    provider.set_auto_deliver(args.auto_deliver)
    if args.inbound_webhook:
        provider.set_inbound_webhook(args.inbound_webhook)
    for route in args.route:
        public_prefix, _, local_prefix = route.partition("=")
        provider.route_callbacks(public_prefix, local_prefix)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with provider:
        print(f"fake SMS provider listening on {provider.base_url}", flush=True)
        print(f"TWILIO_API_BASE={provider.base_url}", flush=True)
        print(f"TWILIO_ACCOUNT_SID={provider.account_sid}", flush=True)
        print(f"TWILIO_AUTH_TOKEN={provider.auth_token}", flush=True)
        print(f"control endpoints: {provider.base_url}/_fake/{{health,messages,stats,reset,config,...}}", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
