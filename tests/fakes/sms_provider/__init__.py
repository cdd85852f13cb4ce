"""A local stand-in for Twilio's Messages API, for development, tests and benchmarks.

The real twilio SDK talks HTTP to it (see ``SmsChannel(api_base=...)``), so the code under test is the code
that runs in production. It speaks the subset of the API the companion uses:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic auth) -> 201 message JSON
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> 200 message JSON

and it plays the provider's side of the webhooks: signed status callbacks and signed inbound messages.

Faults (failure rate, latency, "accepted but answered too late", per-number error codes) are set from Python
(``FakeSmsProvider``) or, from another process, through the JSON control endpoints under ``/_fake/``
(``FakeSmsControl`` wraps them). Run it standalone with ``make fake-sms``
(``python -m tests.fakes.sms_provider --port 8099``).
"""

from .control import FakeSmsControl
from .provider import FakeSmsProvider
from .wire import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_PHONE_NUMBER,
    Fault,
    NumberRule,
    WebhookDelivery,
    segment_count,
)

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_PHONE_NUMBER",
    "FakeSmsControl",
    "FakeSmsProvider",
    "Fault",
    "NumberRule",
    "WebhookDelivery",
    "segment_count",
]
