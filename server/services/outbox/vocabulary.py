"""The outbox's words: message statuses and kinds, how they group, why rows expire, and delivery-status order.

The values are what the `reminder` table stores (`status`, `kind`, `delivery_status` columns): never change one
without a data migration.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """Where an outbound message is in its life cycle (see the package docstring for the transitions)."""

    PENDING = "pending"
    CLAIMED = "claimed"  # taken by a worker, provably not sent yet
    SENDING = "sending"  # committed before the request leaves: it may have reached the provider
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the request may have been accepted; never re-sent automatically
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class MessageKind(StrEnum):
    """What an outbound message is for."""

    # Planned from the clinical schedule (rendered from templates at send time).
    ANTIEMETIC = "antiemetic"
    DOSE = "dose"
    NUDGE = "nudge"
    DEXAMETHASONE = "dexamethasone"
    WEIGHT = "weight"
    BLOOD_TEST = "blood_test"
    BORTEZOMIB = "bortezomib"
    # Written by other code with a ready body.
    PAGE = "page"  # to the on-call staff member about an alert
    REPLY = "reply"  # an answer to the patient's own SMS
    INVITE = "invite"  # the first sign-in link
    SIGN_IN = "sign_in"  # a fresh sign-in link
    TEACH_BACK = "teach_back"  # the schedule question to an SMS-only patient (services/pqi/teach_back_sms.py)
    # Written with a payload, rendered at send time for the patient's channel (push or SMS).
    PLAN_NOTICE = "plan_notice"  # a plan change told to the patient, who confirms it (services/plan_notices.py)


IN_FLIGHT_STATUSES = (MessageStatus.CLAIMED, MessageStatus.SENDING)
FINAL_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
    MessageStatus.CANCELLED,
    MessageStatus.EXPIRED,
)

PLANNED_KINDS = (
    MessageKind.ANTIEMETIC,
    MessageKind.DOSE,
    MessageKind.NUDGE,
    MessageKind.DEXAMETHASONE,
    MessageKind.WEIGHT,
    MessageKind.BLOOD_TEST,
    MessageKind.BORTEZOMIB,
)
# Rendered from the catalog at send time (no body): the planned kinds and the plan-change notice.
RENDERED_KINDS = PLANNED_KINDS + (MessageKind.PLAN_NOTICE,)
# Taken at the time the patient and the care team chose for the dose: quiet hours never move these.
DOSE_TIME_KINDS = frozenset({MessageKind.ANTIEMETIC, MessageKind.DOSE, MessageKind.DEXAMETHASONE})
# About one dose day's selinexor dose: pointless once that dose is logged (taken, missed or vomited).
DOSE_DAY_KINDS = frozenset({MessageKind.ANTIEMETIC, MessageKind.DOSE, MessageKind.NUDGE})

EXPIRY_REASONS: dict[str, str] = {
    MessageKind.ANTIEMETIC: "expired: not sent before the dose time it prepares for",
    MessageKind.DOSE: "expired: not sent within the hours after the dose time (a late reminder would prompt a late "
    "dose)",
    MessageKind.NUDGE: "expired: not sent before the dose day ended",
    MessageKind.DEXAMETHASONE: "expired: not sent before the day ended",
    MessageKind.WEIGHT: "expired: not sent before the day ended",
    MessageKind.BLOOD_TEST: "expired: not sent before the day ended",
    MessageKind.BORTEZOMIB: "expired: not sent before the day ended",
    MessageKind.PLAN_NOTICE: "expired: not sent within 24 hours of the plan change (the patient sees it in the app)",
    MessageKind.PAGE: "expired: page not sent in time (escalation pages again while the alert is open)",
    MessageKind.TEACH_BACK: "expired: the schedule question was not sent within 12 hours of its send time",
}
DEFAULT_EXPIRY_REASON = "expired: not sent in time to be useful"

# Twilio's message statuses in the order they happen; a callback never moves a message backwards.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}
DELIVERY_ALIASES = {"read": "delivered"}  # RCS/WhatsApp "read" implies delivered
DELIVERY_FAILED = frozenset({"undelivered", "failed"})

# Messages the care team must hear about when their outcome is `unknown` (the request may or may not have reached
# the patient or the on-call person): dose-time reminders, pages, and plan-change notices.
STAFF_MUST_KNOW_IF_UNKNOWN = frozenset({*DOSE_TIME_KINDS, MessageKind.PAGE, MessageKind.PLAN_NOTICE})
