"""The reminders service: planning rules, and the claim / lease / reap / finish rules that make sends exactly-once.

These run on SQLite by default and on PostgreSQL with DATABASE_URL; the concurrency test needs PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from server.context import AppContext
from server.db import create_db_engine, session_scope
from server.models import Clinic, OutboundMessage, Patient, TreatmentPlan
from server.services.outbox.claims import (
    ClaimedMessage,
    ReapResult,
    claim_due_messages,
    expire_overdue,
    mark_sending,
    reap_stale_claims,
)
from server.services.outbox.outcomes import Outcome, finish_claim, finish_claims
from server.services.outbox.planning import defer_past_quiet_hours, in_quiet_hours, replan_patient
from server.services.outbox.receipts import record_delivery_status
from server.services.push_keys import vapid_keys

NY = ZoneInfo("America/New_York")
LEASE = timedelta(minutes=2)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def ctx(settings, engine, clock):
    return AppContext(settings=settings, engine=engine, clock=clock)


@pytest.fixture
def patient_id(ctx):
    """A Monday/Wednesday 08:00 New York patient on Xd level 0, planned at Monday 06:00."""
    ctx.clock.set(utc(2026, 3, 2, 11))
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        clinic = Clinic(name="C", phone="+15555550100", timezone="America/New_York", created_at=now)
        session.add(clinic)
        session.flush()
        patient = Patient(
            clinic_id=clinic.id,
            first_name="A",
            last_name="B",
            date_of_birth=date(1950, 1, 1),
            mrn="M1",
            phone_e164="+15551110000",
            timezone="America/New_York",
            baseline_weight_kg=70,
            sms_consent=True,
            created_at=now,
        )
        session.add(patient)
        session.flush()
        session.add(
            TreatmentPlan(
                patient_id=patient.id,
                version=1,
                regimen="Xd",
                dose_level=0,
                status="active",
                start_date=date(2026, 3, 2),
                day1_weekday=0,
                day3_weekday=2,
                dose_time=time(8),
                created_at=now,
            )
        )
        session.flush()
        replan_patient(session, patient, now)
        return patient.id


def _rows(engine, **where) -> list[OutboundMessage]:
    with Session(engine) as session:
        query = select(OutboundMessage)
        for name, value in where.items():
            query = query.where(getattr(OutboundMessage, name) == value)
        return list(session.exec(query.order_by(OutboundMessage.id)).all())


# ------------------------------------------------------------------------------------------------ planning


def test_replan_materializes_fourteen_days_with_one_row_per_patient_kind_and_instant(ctx, patient_id):
    rows = _rows(ctx.engine, patient_id=patient_id)
    doses = [r for r in rows if r.kind == "dose"]
    assert [r.scheduled_for.astimezone(NY).date().isoformat() for r in doses] == [
        "2026-03-02",
        "2026-03-04",
        "2026-03-09",
        "2026-03-11",
    ]
    assert len({r.dedupe_key for r in rows}) == len(rows)
    assert all(r.scheduled_for < utc(2026, 3, 16, 11) for r in rows)


def test_replan_runs_inside_the_callers_transaction(ctx, patient_id):
    with Session(ctx.engine) as session:
        patient = session.get(Patient, patient_id)
        session.add(
            TreatmentPlan(
                patient_id=patient_id,
                version=2,
                regimen="Xd",
                dose_level=0,
                status="held",
                start_date=date(2026, 3, 2),
                day1_weekday=0,
                day3_weekday=2,
                dose_time=time(8),
                created_at=ctx.clock.now(),
            )
        )
        session.flush()
        replan_patient(session, patient, ctx.clock.now())
        session.rollback()  # the staff change failed: its replan must vanish with it
    assert {r.status for r in _rows(ctx.engine, patient_id=patient_id, kind="dose")} == {"pending"}


def test_quiet_hours_wrap_midnight_and_defer_to_their_end():
    quiet = (time(21), time(7))
    assert in_quiet_hours(datetime(2026, 3, 2, 23, 0, tzinfo=NY), *quiet)
    assert in_quiet_hours(datetime(2026, 3, 2, 6, 59, tzinfo=NY), *quiet)
    assert not in_quiet_hours(datetime(2026, 3, 2, 7, 0, tzinfo=NY), *quiet)
    assert not in_quiet_hours(datetime(2026, 3, 2, 12, 0, tzinfo=NY), time(7), time(7))  # no quiet hours
    assert defer_past_quiet_hours(datetime(2026, 3, 7, 22, 0, tzinfo=NY), *quiet) == datetime(
        2026, 3, 8, 7, 0, tzinfo=NY
    )
    assert defer_past_quiet_hours(datetime(2026, 3, 8, 2, 0, tzinfo=NY), *quiet).utcoffset() == timedelta(hours=-4)


# ------------------------------------------------------------------------------------------------ claims


def test_claims_are_disjoint_and_carry_a_lease(ctx, patient_id):
    now = utc(2026, 3, 2, 13)
    first = claim_due_messages(ctx.engine, now, limit=2, lease=LEASE)
    second = claim_due_messages(ctx.engine, now, limit=10, lease=LEASE)
    assert len(first) == 2 and {c.id for c in first}.isdisjoint({c.id for c in second})
    assert len(first) + len(second) == 4  # blood test 07:00, antiemetic 07:30, weight and dose 08:00
    row = _rows(ctx.engine, id=first[0].id)[0]
    assert (row.status, row.claim_token, row.next_attempt_at) == ("claimed", first[0].token, now + LEASE)


def test_a_dead_workers_claims_come_back_only_if_provably_unsent(ctx, patient_id):
    now = utc(2026, 3, 2, 13)
    never_sent, in_flight = claim_due_messages(ctx.engine, now, limit=2, lease=LEASE)
    assert mark_sending(ctx.engine, [in_flight], now, LEASE) == {in_flight.id}

    assert reap_stale_claims(ctx.engine, now + LEASE - timedelta(seconds=1)) == ReapResult(0, 0)
    assert reap_stale_claims(ctx.engine, now + LEASE) == ReapResult(1, 1)

    back, lost = _rows(ctx.engine, id=never_sent.id)[0], _rows(ctx.engine, id=in_flight.id)[0]
    assert (back.status, back.claim_token, back.attempts) == ("pending", None, 0)
    assert (lost.status, lost.attempts) == ("unknown", 1) and "may have accepted" in lost.last_error
    # The dead worker's token can no longer start a send on the row it lost...
    assert mark_sending(ctx.engine, [never_sent], now, LEASE) == set()
    # ...but a stalled worker that did finish its send still records the truth on the row reaped to unknown.
    assert finish_claim(
        ctx, in_flight, Outcome("sent", channel="sms", provider_id="SM1", delivery_status="queued"), now + LEASE
    )
    assert _rows(ctx.engine, id=in_flight.id)[0].status == "sent"


def test_finishing_needs_the_claim_token(ctx, patient_id):
    now = utc(2026, 3, 2, 13)
    [claim] = claim_due_messages(ctx.engine, now, limit=1, lease=LEASE)
    forged = ClaimedMessage(**{**claim.__dict__, "token": "not-mine"})
    assert not finish_claim(ctx, forged, Outcome("sent", provider_id="SMx"), now)
    assert finish_claim(ctx, claim, Outcome("cancelled", reason="test"), now)
    assert not finish_claim(ctx, claim, Outcome("sent", provider_id="SMy"), now)  # final rows stay final


def test_overdue_rows_expire_with_a_reason_for_their_kind(ctx, patient_id):
    expired = expire_overdue(ctx.engine, utc(2026, 3, 3, 6))  # Tuesday 01:00 New York
    assert expired == 5  # blood test, antiemetic, weight, dose and nudge of Monday
    reasons = {r.kind: r.cancel_reason for r in _rows(ctx.engine, status="expired")}
    assert reasons["antiemetic"] == "expired: not sent before the dose time it prepares for"
    assert reasons["nudge"] == "expired: not sent before the dose day ended"
    assert reasons["dose"].startswith("expired: not sent within the hours after the dose time")


@pytest.mark.postgres
def test_concurrent_claimers_on_postgres_never_share_a_row(pg_url, settings, clock):
    engine = create_db_engine(pg_url)
    now = utc(2026, 3, 2, 13)
    with engine.begin() as conn:
        conn.execute(
            OutboundMessage.__table__.insert(),
            [
                {
                    "dedupe_key": f"reply:{n}",
                    "kind": "reply",
                    "channel": "sms",
                    "to_address": "+15550000000",
                    "body": "x",
                    "scheduled_for": now,
                    "send_at": now,
                    "status": "pending",
                    "next_attempt_at": now,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(400)
            ],
        )
    claimed: list[list[int]] = [[] for _ in range(6)]
    barrier = threading.Barrier(6)

    def claim(i):
        barrier.wait()
        while batch := claim_due_messages(engine, now, limit=7, lease=LEASE):
            claimed[i].extend(c.id for c in batch)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for ids in claimed if ids) > 1  # they really ran side by side
    engine.dispose()


# ------------------------------------------------------------------------------------------------ receipts, keys


def test_delivery_status_only_moves_forward_and_unknown_ids_are_ignored(ctx, patient_id):
    now = utc(2026, 3, 2, 13)
    [claim] = claim_due_messages(ctx.engine, now, limit=1, lease=LEASE)
    mark_sending(ctx.engine, [claim], now, LEASE)
    finish_claim(ctx, claim, Outcome("sent", channel="sms", provider_id="SM42", delivery_status="queued"), now)
    for status in ("sent", "delivered", "sent", "queued"):
        assert record_delivery_status(ctx, message_sid="SM42", status=status, now=now)
    assert _rows(ctx.engine, id=claim.id)[0].delivery_status == "delivered"
    assert not record_delivery_status(ctx, message_sid="SM-nobody", status="delivered", now=now)
    assert not record_delivery_status(ctx, message_sid="SM42", status="exploded", now=now)


@pytest.mark.parametrize("write", ["one outcome", "a dispatcher turn"])
def test_a_failed_receipt_that_outruns_the_providers_answer_keeps_its_error(ctx, patient_id, write):
    # The status callback can reach us before the worker has written the provider's answer ("sent"): the answer must
    # neither move the delivery status back nor erase the error the callback reported. A dispatcher turn writes its
    # outcomes in one statement on PostgreSQL (outcomes._pg_progress_statement), one outcome another way.
    now = utc(2026, 3, 2, 13)
    [claim] = claim_due_messages(ctx.engine, now, limit=1, lease=LEASE)
    mark_sending(ctx.engine, [claim], now, LEASE)
    assert record_delivery_status(
        ctx, message_sid="SM77", status="undelivered", error_code=30003, reminder_id=claim.id, now=now
    )
    sent = Outcome("sent", channel="sms", provider_id="SM77", delivery_status="queued")
    if write == "one outcome":
        assert finish_claim(ctx, claim, sent, now)
    else:
        assert finish_claims(ctx, [(claim, sent)], now) == 1
    row = _rows(ctx.engine, id=claim.id)[0]
    assert (row.status, row.delivery_status) == ("sent", "undelivered")
    assert row.last_error == "provider reported undelivered (error 30003)"


def test_vapid_keys_are_generated_once_and_kept(ctx):
    first = vapid_keys(ctx.engine, ctx.clock.now())
    assert vapid_keys(ctx.engine, ctx.clock.now()) == first
    assert len(first.public_key) == 87  # base64url of a 65-byte uncompressed P-256 point


# ------------------------------------------------------------------------------------------------ blood tests (P-MONITOR)


def _blood_test_reminders(dose_time: time, now: datetime, quiet=(time(21), time(7))):
    from server.services.outbox.planning import desired_reminders

    patient = Patient(
        id=1,
        clinic_id=1,
        first_name="A",
        last_name="B",
        date_of_birth=date(1950, 1, 1),
        mrn="M1",
        timezone="America/New_York",
        baseline_weight_kg=70,
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        created_at=now,
    )
    plan = TreatmentPlan(
        patient_id=1,
        version=1,
        regimen="Xd",
        dose_level=0,
        status="active",
        start_date=date(2026, 3, 2),
        day1_weekday=0,
        day3_weekday=2,
        dose_time=dose_time,
        created_at=now,
    )
    return {w.payload["day"]: w for w in desired_reminders(patient, plan, now).values() if w.kind == "blood_test"}


@pytest.mark.parametrize(
    "dose_time,send_local,tomorrow",
    [
        (
            time(8, 0),
            datetime(2026, 3, 8, 18, 0),
            True,
        ),  # 07:00 (end of quiet hours) would be 1 h before: evening before
        (time(8, 59), datetime(2026, 3, 8, 18, 0), True),  # below: 07:00 is 1h59 before
        (time(9, 0), datetime(2026, 3, 9, 7, 0), False),  # at: 07:00 is exactly 2 h before
        (time(9, 1), datetime(2026, 3, 9, 7, 0), False),  # above
        (time(13, 0), datetime(2026, 3, 9, 7, 0), False),  # test at 09:00, reminded 07:00 as before
    ],
)
def test_a_dose_day_blood_test_is_reminded_at_least_2_hours_before_the_dose(dose_time, send_local, tomorrow):
    wants = _blood_test_reminders(dose_time, utc(2026, 3, 5, 12))
    monday = wants["2026-03-09"]  # week 2, a dose day
    assert monday.send_at == send_local.replace(tzinfo=NY).astimezone(UTC)
    assert bool(monday.payload.get("tomorrow")) is tomorrow
    dose_at = datetime.combine(date(2026, 3, 9), dose_time, NY).astimezone(UTC)
    assert dose_at - monday.send_at >= timedelta(hours=2)
    assert monday.scheduled_for < dose_at  # the test itself is due before the dose


def test_the_day_before_reminder_boundary_is_exactly_2_hours():
    # No quiet hours: an 08:59 dose's test is due 06:59, reminded 04:59 (4 h before) the same morning.
    wants = _blood_test_reminders(time(8, 59), utc(2026, 3, 5, 12), quiet=(time(0), time(0)))
    assert wants["2026-03-09"].send_at == datetime(2026, 3, 9, 4, 59, tzinfo=NY).astimezone(UTC)
    assert "tomorrow" not in wants["2026-03-09"].payload


def test_a_patient_enrolled_the_morning_of_a_dose_day_still_gets_the_reminder(ctx, patient_id):
    [row] = _rows(ctx.engine, kind="blood_test", scheduled_for=utc(2026, 3, 2, 11))  # baseline due 06:00
    # the evening before had passed when the patient was planned (Monday 06:00): a late reminder beats none
    assert row.send_at == utc(2026, 3, 2, 12) and row.status == "pending"
