"""The outbox's statuses and kinds are what the `reminder` table stores: their values must never drift."""

from server.models import OutboundMessage
from server.services.outbox.vocabulary import (
    DOSE_DAY_KINDS,
    DOSE_TIME_KINDS,
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    PLANNED_KINDS,
    RENDERED_KINDS,
    MessageKind,
    MessageStatus,
)


def test_status_values_are_the_stored_strings():
    assert {s.value for s in MessageStatus} == {
        "pending",
        "claimed",
        "sending",
        "sent",
        "failed",
        "unknown",
        "cancelled",
        "expired",
    }
    assert set(IN_FLIGHT_STATUSES) == {"claimed", "sending"}
    assert set(FINAL_STATUSES) == {"sent", "failed", "unknown", "cancelled", "expired"}
    assert MessageStatus.PENDING == "pending" and f"{MessageStatus.SENDING}" == "sending"


def test_kind_values_are_the_stored_strings():
    assert {k.value for k in MessageKind} == {
        "antiemetic",
        "dose",
        "nudge",
        "dexamethasone",
        "weight",
        "blood_test",
        "bortezomib",
        "page",
        "reply",
        "invite",
        "sign_in",
        "plan_notice",
        "teach_back",
    }
    assert set(RENDERED_KINDS) == set(PLANNED_KINDS) | {"plan_notice"}  # rendered at send time, not planned
    assert set(PLANNED_KINDS) == {"antiemetic", "dose", "nudge", "dexamethasone", "weight", "blood_test", "bortezomib"}
    assert DOSE_TIME_KINDS == {"antiemetic", "dose", "dexamethasone"}
    assert DOSE_DAY_KINDS == {"antiemetic", "dose", "nudge"}


def test_the_model_keeps_its_table():
    assert OutboundMessage.__tablename__ == "reminder"
    assert {ix.name for ix in OutboundMessage.__table__.indexes} >= {"ix_reminder_due", "ix_reminder_patient_id"}
