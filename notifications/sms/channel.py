"""SMS channels: Twilio through its official SDK, and a console stand-in for development.

Every provider problem is classified here, at the transport boundary, into one ``SendResult`` outcome:

- ``accepted``: the provider took the message (``provider_id`` is its sid);
- ``transient``: it did not take it and trying again later is safe (429, 5xx, connection refused/reset, DNS);
- ``permanent``: trying again will not help (opted out, invalid number, bad credentials, other 4xx);
- ``ambiguous``: the request left but no answer came back (read timeout); the provider may have accepted it,
  so the caller must not re-send automatically.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

logger = logging.getLogger(__name__)

TWILIO_API_ORIGIN = "https://api.twilio.com"

# Twilio error codes: https://www.twilio.com/docs/api/errors
OPTED_OUT = 21610  # the recipient replied STOP
INVALID_TO = 21211
NOT_MOBILE = 21614
# 4xx answers that mean "later" rather than "never".
_TRANSIENT_HTTP = frozenset({408, 429})


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class SendResult:
    """What happened to one send attempt, already classified for the dispatcher."""

    outcome: Outcome
    detail: str = ""
    provider_id: str | None = None
    status: str | None = None
    error_code: int | None = None
    http_status: int | None = None
    retry_after: float | None = None
    opted_out: bool = False

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def retryable(self) -> bool:
        """True only when re-sending cannot duplicate a message (never for ambiguous outcomes)."""
        return self.outcome is Outcome.TRANSIENT


class SmsSender(Protocol):
    """What the dispatcher needs from an SMS channel."""

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult: ...


class _ChannelHttpClient(TwilioHttpClient):
    """TwilioHttpClient that can point the SDK at another origin and remembers the last raw response.

    The SDK's exceptions drop the response headers, so Retry-After is read from ``last_response``.
    One instance per thread (see SmsChannel), so ``last_response`` belongs to the calling thread.
    """

    def __init__(self, *, api_base: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.api_base = api_base.rstrip("/") if api_base else None
        self.last_response: Response | None = None
        if self.api_base is not None and self.session is not None:
            # A local fake must not be routed through HTTP(S)_PROXY from the environment.
            self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.last_response = None
        if self.api_base is not None:
            url = _rebase(url, self.api_base)
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _rebase(url: str, api_base: str) -> str:
    """Swap the origin of any *.twilio.com URL (regional/edge hosts included) for ``api_base``."""
    parts = urlsplit(url)
    if parts.hostname and (parts.hostname == "twilio.com" or parts.hostname.endswith(".twilio.com")):
        rest = url[len(f"{parts.scheme}://{parts.netloc}") :]
        return api_base + rest
    return url


class SmsChannel:
    """Sends SMS through Twilio's Messages API with the official SDK; never raises for provider problems.

    Thread-safe: each thread gets its own twilio Client and HTTP session, because the SDK's
    TwilioHttpClient is not (it shares a requests.Session and stores the last response on itself).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base: str | None = None,
        timeout: float = 10.0,
        status_callback_url: str | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_number or messaging_service_sid")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number or None
        self.messaging_service_sid = messaging_service_sid or None
        self.api_base = api_base or None
        self.timeout = float(timeout)
        self.status_callback_url = status_callback_url or None
        self._local = threading.local()
        # Weak: a thread's client goes away with its thread; close() reaches the ones still alive.
        self._http_clients: weakref.WeakSet[_ChannelHttpClient] = weakref.WeakSet()
        self._http_clients_lock = threading.Lock()

    def __repr__(self) -> str:
        sender = self.from_number or self.messaging_service_sid
        return f"SmsChannel(account_sid={self.account_sid!r}, sender={sender!r}, api_base={self.api_base!r})"

    def _client(self) -> tuple[Client, _ChannelHttpClient]:
        client = getattr(self._local, "client", None)
        if client is None:
            http = _ChannelHttpClient(api_base=self.api_base, timeout=self.timeout)
            # Vendor quirk: Client reads TWILIO_* (edge, region, credentials) from os.environ unless given a
            # non-empty mapping; pass ours so settings stay the only source of configuration.
            environment = {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self._auth_token}
            client = Client(self.account_sid, self._auth_token, http_client=http, environment=environment)
            self._local.client, self._local.http = client, http
            with self._http_clients_lock:
                self._http_clients.add(http)
        return client, self._local.http

    def close(self) -> None:
        """Close every thread's HTTP session (pooled connections)."""
        with self._http_clients_lock:
            clients = list(self._http_clients)
            self._http_clients.clear()
        for http in clients:
            http.close()
        self._local = threading.local()

    def __enter__(self) -> SmsChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        """Ask the provider to send one SMS and classify what happened."""
        client, http = self._client()
        params: dict[str, Any] = {"to": to, "body": body}
        if self.from_number:
            params["from_"] = self.from_number
        else:
            params["messaging_service_sid"] = self.messaging_service_sid
        callback = status_callback or self.status_callback_url
        if callback:
            params["status_callback"] = callback
        try:
            message = client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            return _classify_error_answer(exc, http.last_response)
        except requests.RequestException as exc:
            return _classify_transport_error(exc)
        except ValueError as exc:
            # A 2xx whose body is not JSON: the provider probably took it, but we have no sid.
            return SendResult(Outcome.AMBIGUOUS, f"provider answered with an unreadable body: {exc}")
        except Exception as exc:
            # Unknown failure somewhere between us and the provider: we cannot tell whether it left.
            logger.exception("unexpected error sending SMS")
            return SendResult(Outcome.AMBIGUOUS, f"unexpected {type(exc).__name__}: {exc}")
        if not message.sid:
            return SendResult(Outcome.AMBIGUOUS, "provider answered 2xx without a message sid")
        return SendResult(
            Outcome.ACCEPTED,
            f"accepted as {message.sid} ({message.status})",
            provider_id=message.sid,
            status=str(message.status) if message.status is not None else None,
            http_status=http.last_response.status_code if http.last_response else None,
        )


def _classify_error_answer(exc: TwilioRestException | TwilioServiceException, response: Response | None) -> SendResult:
    """The provider answered with an HTTP error: map status and Twilio error code to an outcome."""
    status = int(exc.status) if exc.status is not None else (response.status_code if response else 0)
    # TwilioRestException.code falls back to the HTTP status when the body has no Twilio code.
    code = int(exc.code) if exc.code is not None and exc.code != status else None
    message = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    detail = f"HTTP {status}" + (f" / {code}" if code else "") + f": {message}"
    if status in _TRANSIENT_HTTP or status >= 500:
        retry_after = _retry_after(response.headers if response is not None else None)
        return SendResult(Outcome.TRANSIENT, detail, error_code=code, http_status=status, retry_after=retry_after)
    if status in (401, 403):
        detail += " (provider rejected our credentials: check the Twilio settings)"
    return SendResult(Outcome.PERMANENT, detail, error_code=code, http_status=status, opted_out=code == OPTED_OUT)


def _classify_transport_error(exc: requests.RequestException) -> SendResult:
    """No HTTP answer: decide from the requests/urllib3 exception whether the request may have been taken.

    How requests (as used by TwilioHttpClient, no retries) reports each case:
    - refused / DNS failure / unreachable: ConnectionError(MaxRetryError(NewConnectionError...)) -> not sent;
    - connect timeout: ConnectTimeout (a ConnectionError subclass) -> not sent;
    - reset or closed before any answer: ConnectionError(ProtocolError("Connection aborted.", ...));
    - read timeout waiting for the answer headers: ReadTimeout -> ambiguous;
    - read timeout while reading the answer body: ConnectionError(ReadTimeoutError) -> ambiguous
      (the answer had started, so the provider did process the request);
    - connection broken mid-body: ChunkedEncodingError -> ambiguous.
    """
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        return SendResult(Outcome.TRANSIENT, f"connect timeout, not sent ({exc})")
    if isinstance(exc, requests.ReadTimeout):
        return SendResult(
            Outcome.AMBIGUOUS, "timed out waiting for the provider's answer after sending; may have been accepted"
        )
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return SendResult(Outcome.AMBIGUOUS, f"answer broken off mid-body ({name}); may have been accepted")
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return SendResult(Outcome.AMBIGUOUS, "timed out reading the provider's answer; may have been accepted")
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            return SendResult(Outcome.TRANSIENT, f"could not connect, not sent ({reason.reason})")
        # Connection reset/closed before any answer. The provider had not answered, and Twilio does not
        # take a message without answering, so this is treated as not taken (transient).
        return SendResult(Outcome.TRANSIENT, f"connection dropped before the provider answered ({reason})")
    if isinstance(exc, requests.Timeout):
        return SendResult(Outcome.AMBIGUOUS, f"timeout ({name}); may have been accepted")
    if isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
    ):
        return SendResult(Outcome.PERMANENT, f"bad provider URL, check TWILIO_API_BASE ({exc})")
    logger.warning("unclassified transport error sending SMS: %r", exc)
    return SendResult(Outcome.AMBIGUOUS, f"unclassified transport error {name}: {exc}")


def _retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), if any."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ConsoleSmsChannel:
    """Prints messages instead of sending them: for ``make run`` without Twilio settings."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        """Print ``[SMS to <number>] <body>`` and report it accepted."""
        provider_id = f"console-{uuid.uuid4()}"
        with self._lock:
            print(f"[SMS to {to}] {body}", file=self._stream or sys.stdout, flush=True)
        logger.info("console SMS %s to %s (%d chars)", provider_id, to, len(body))
        return SendResult(Outcome.ACCEPTED, "printed to the console", provider_id=provider_id, status="sent")
