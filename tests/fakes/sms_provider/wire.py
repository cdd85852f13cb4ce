"""Twilio's side of the wire, as the fake speaks it: constants, error answers, faults, SMS segments, message JSON."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "test-token"
# Twilio's magic "valid, SMS-capable" test number; the fake's own number for inbound messages.
DEFAULT_PHONE_NUMBER = "+15005550006"
API_VERSION = "2010-04-01"

MESSAGE_STATUSES = ("accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read")
# Twilio's default opt-out / opt-in keywords (Advanced Opt-Out defaults), matched on the whole trimmed body.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
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


def twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


FAULT_ANSWERS: dict[Fault, tuple[int, int, str]] = {
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


def parse_kinds(kinds: Iterable[str | int | Fault] | None) -> tuple[Fault, ...]:
    if kinds is None:
        return ALL_FAULTS
    parsed = tuple(Fault(str(kind)) for kind in kinds)
    if not parsed:
        raise ValueError("kinds must name at least one fault")
    return parsed


def parse_latency(latency: float | tuple[float, float] | list[float] | None) -> tuple[float, float] | None:
    if latency is None:
        return None
    if isinstance(latency, (int, float)):
        lo = hi = float(latency)
    else:
        lo, hi = (float(v) for v in latency)
    if lo < 0 or hi < lo:
        raise ValueError(f"latency must be >= 0 and lo <= hi, got {latency!r}")
    return None if hi == 0 else (lo, hi)


def not_found(path: str) -> tuple[int, Any, dict[str, str]]:
    return 404, twilio_error(20404, f"The requested resource {path} was not found", 404), {}


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def message_resource(account_sid: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The message as Twilio's API represents it (snake_case JSON, RFC 2822 dates)."""
    date = format_datetime(message["accepted_at"].astimezone(UTC), usegmt=False)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message['sid']}.json"
    return {
        "account_sid": account_sid,
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
