"""`FakeSmsProvider`: a fake Twilio Messages API on a local port, with injectable faults and signed webhooks.

Longer than ~400 lines on purpose: it is one object whose state (recorded traffic, fault rules, webhook wiring) is
guarded by one lock, and every method below reads or writes that state under it; splitting the class would spread
the lock discipline over several modules. What does not touch that state lives beside it: the wire format
(wire.py), the HTTP plumbing (http_server.py), the control endpoints and their client (control.py), the command
line (__main__.py).
"""

from __future__ import annotations

import base64
import hmac
import logging
import random
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
from twilio.request_validator import RequestValidator

from .http_server import HttpServer, Reset
from .wire import (
    ALL_FAULTS,
    API_VERSION,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_PHONE_NUMBER,
    E164,
    FAULT_ANSWERS,
    MESSAGE_PATH,
    MESSAGE_STATUSES,
    MESSAGES_PATH,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    Fault,
    NumberRule,
    WebhookDelivery,
    message_resource,
    new_sid,
    not_found,
    parse_kinds,
    parse_latency,
    segment_count,
    twilio_error,
)

logger = logging.getLogger(__name__)


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
        self._server: HttpServer | None = None
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
        self._server = HttpServer((self.host, self.port), self)
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
        parsed = parse_kinds(kinds)
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
        parsed = parse_latency(latency)
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

    def failure_settings(self) -> tuple[float, tuple[Fault, ...], int]:
        """The random failure rate, the faults it picks from, and the Retry-After of 429s."""
        with self._lock:
            return self._failure_rate, self._failure_kinds, self._retry_after

    def auto_delivery(self) -> tuple[bool, float]:
        """Whether accepted messages get status callbacks on their own, and after what delay."""
        with self._lock:
            return self._auto_deliver, self._auto_deliver_delay

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
            self._callback_routes = [
                (prefix, local) for prefix, local in self._callback_routes if prefix != public_prefix
            ]
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
                return local_prefix + public_url[len(public_prefix) :]
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
        message_sid = sid or new_sid("SM")
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

    # ------------------------------------------------------------------ the Messages API

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def answer_api(
        self, headers: Mapping[str, str], method: str, path: str, raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request to the Messages API (faults, latency and number rules applied)."""
        with self._lock:
            self._stats["requests"] += 1
            latency = self._latency
            fault = self._pick_fault_locked() if method == "POST" and MESSAGES_PATH.match(path) else None
            retry_after = self._retry_after
            latency_seconds = self._rng.uniform(*latency) if latency else 0.0
        self._pause(latency_seconds)

        if fault is not None:
            if fault is Fault.RESET:
                raise Reset
            status, code, message = FAULT_ANSWERS[fault]
            headers = {"Retry-After": str(retry_after)} if fault is Fault.RATE_LIMITED else {}
            return status, twilio_error(code, message, status), headers

        if not hmac.compare_digest(headers.get("Authorization", ""), self._expected_auth):
            self._count("auth_failures")
            return 401, twilio_error(20003, "Authenticate", 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}

        if match := MESSAGES_PATH.match(path):
            if match["account"] != self.account_sid:
                return not_found(path)
            if method != "POST":
                return 405, twilio_error(20004, "Method not allowed", 405), {}
            return self._create_message(parse_qs(raw.decode("utf-8"), keep_blank_values=True))
        if (match := MESSAGE_PATH.match(path)) and method == "GET":
            with self._lock:
                message = self._by_sid.get(match["sid"]) if match["account"] == self.account_sid else None
                resource = message_resource(self.account_sid, message) if message else None
            return (200, resource, {}) if resource else not_found(path)
        return not_found(path)

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
            return 400, twilio_error(21604, "A 'To' phone number is required.", 400), {}
        if not from_ and not service:
            return 400, twilio_error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400), {}
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 400, twilio_error(21602, "Message body is required.", 400), {}
        if body and len(body) > 1600:
            return 400, twilio_error(21617, "The concatenated message body exceeds the 1600 character limit.", 400), {}

        now = self._clock()
        with self._lock:
            rule = self._number_rules.get(to)
            if rule is None and not E164.match(to):
                rule = NumberRule(21211, f"Invalid 'To' Phone Number: {to}")
            if rule is not None:
                self._stats[f"error_{rule.code}"] += 1
                return rule.status, twilio_error(rule.code, rule.message, rule.status), {}
            message = {
                "sid": new_sid("SM"),
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
            resource = message_resource(self.account_sid, message)
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
