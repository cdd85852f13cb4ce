"""Web Push through pywebpush, classified like SMS at the transport boundary (accepted/transient/permanent/ambiguous).

A push service answers 201 when it has taken the message; 404 or 410 mean the subscription is gone for good
(the dispatcher deletes it and falls back to SMS); 429 and 5xx are worth retrying; a read timeout after the
request left is ambiguous, exactly as for SMS.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import requests
import urllib3.exceptions
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from notifications.sms.channel import Outcome, SendResult
from server.services.outbox.recipients import PushTarget

log = logging.getLogger(__name__)

GONE = frozenset({404, 410})


class WebPushChannel:
    """Sends one notification to one browser subscription; never raises for push-service problems."""

    name = "push"

    def __init__(self, vapid_private_key: str, subject: str, *, timeout: float = 10.0) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        self._vapid = Vapid.from_string(vapid_private_key)
        self._subject = subject
        self._timeout = timeout
        self._local = threading.local()  # one requests.Session per sending thread (pooled connections)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def send(self, target: PushTarget, message: dict[str, Any], *, ttl_seconds: int) -> SendResult:
        """Encrypt and post `message` (JSON) to the subscription's push service, and classify the answer."""
        info = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            response = webpush(
                info,
                data=json.dumps(message),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},  # a fresh dict: webpush adds aud and exp to it
                timeout=self._timeout,
                ttl=max(60, ttl_seconds),
                requests_session=self._session(),
            )
        except WebPushException as exc:
            return _classify_answer(exc)
        except requests.ConnectTimeout as exc:
            return SendResult(Outcome.TRANSIENT, f"push service connect timeout, not sent ({exc})")
        except requests.ReadTimeout:
            return SendResult(Outcome.AMBIGUOUS, "timed out waiting for the push service after sending")
        except requests.ConnectionError as exc:
            reason = exc.args[0] if exc.args else None
            if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
                return SendResult(Outcome.AMBIGUOUS, "timed out reading the push service's answer")
            return SendResult(Outcome.TRANSIENT, f"could not reach the push service ({reason})")
        except (ValueError, TypeError) as exc:  # malformed subscription keys: this subscription can never work
            return SendResult(Outcome.PERMANENT, f"unusable push subscription: {exc}", http_status=410)
        except requests.RequestException as exc:
            return SendResult(Outcome.AMBIGUOUS, f"push transport error {type(exc).__name__}: {exc}")
        return SendResult(
            Outcome.ACCEPTED,
            f"push service answered {response.status_code}",
            provider_id=response.headers.get("Location"),
            http_status=response.status_code,
        )

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


def _classify_answer(exc: WebPushException) -> SendResult:
    status = exc.status_code
    detail = f"push service answered {status}: {exc.message}"[:300]
    if status in GONE:
        return SendResult(Outcome.PERMANENT, f"subscription expired ({status})", http_status=status)
    if status is not None and (status == 429 or status >= 500):
        try:
            retry_after = float(exc.retry_after) if exc.retry_after else None
        except ValueError:
            retry_after = None
        return SendResult(Outcome.TRANSIENT, detail, http_status=status, retry_after=retry_after)
    return SendResult(Outcome.PERMANENT, detail, http_status=status)


def is_gone(result: SendResult) -> bool:
    """The subscription no longer exists: delete it."""
    return result.outcome is Outcome.PERMANENT and result.http_status in GONE
