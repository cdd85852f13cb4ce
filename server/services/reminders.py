"""Reminders: the outbox (`Reminder` rows) from planning to a final state (architecture flows 2, 3 and 4).

Planning (`replan_patient`, `plan_all_patients`) turns the clinical schedule into rows keyed by
(patient, kind, scheduled instant), so planning again is idempotent. Dispatch is split into small service
functions the worker calls in order: `reap_stale_claims`, `expire_overdue`, `claim_due_reminders`,
`load_recipients`, then `record_progress` (outcomes written, next rows marked `sending`) turn after turn, with
`finish_claim` for outcomes that have side effects and `release_claims` when stopping. Delivery receipts arrive
through `record_delivery_status`. Opt-out state and the care-team alert that goes with it live here too.

Life cycle of a row (the `status` column):

    pending -> claimed -> sending -> sent | failed | unknown | pending (transient error: retry later)
    pending | claimed -> cancelled | expired
    claimed -> pending            (released: the worker stopped, or the lease ran out, before the send began)
    sending -> unknown            (the lease ran out during the send: it may have been accepted)

`claimed` means "taken by a worker, provably not sent yet"; `sending` is written (and committed) before the
request leaves, so a row that is not `sending` was never handed to a provider. That is what lets a dead worker's
rows be reaped without ever sending anything twice.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from ..clinical.regimens import PlanStatus
from ..clinical.rules import RULES, Action, Finding, Tier
from ..clinical.schedule import EventKind, ScheduledEvent, events_between, resolve_local
from ..context import AppContext
from ..db import session_scope
from ..models import Alert, AppSecret, Clinic, DoseEvent, Patient, PushSubscription, Reminder, TreatmentPlan, UTCDateTime
from ..models import WeightEntry as WeightRow
from .alerts import AlertChange, publish_alert_changes, upsert_alert
from .patient_state import schedule_setup

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------------

PENDING, CLAIMED, SENDING = "pending", "claimed", "sending"
SENT, FAILED, UNKNOWN, CANCELLED, EXPIRED = "sent", "failed", "unknown", "cancelled", "expired"
IN_FLIGHT_STATUSES = (CLAIMED, SENDING)
FINAL_STATUSES = (SENT, FAILED, UNKNOWN, CANCELLED, EXPIRED)

# Kinds planned from the clinical schedule (rendered from templates at send time).
ANTIEMETIC, DOSE, NUDGE, DEXAMETHASONE = "antiemetic", "dose", "nudge", "dexamethasone"
WEIGHT, BLOOD_TEST, BORTEZOMIB = "weight", "blood_test", "bortezomib"
PLANNED_KINDS = (ANTIEMETIC, DOSE, NUDGE, DEXAMETHASONE, WEIGHT, BLOOD_TEST, BORTEZOMIB)
# Kinds written by other code with a ready body (pages, invites, sign-in links, SMS replies).
PAGE, REPLY = "page", "reply"

# Taken at the time the patient and the care team chose for the dose: quiet hours never move these.
DOSE_TIME_KINDS = frozenset({ANTIEMETIC, DOSE, DEXAMETHASONE})
# About one dose day's selinexor dose: pointless once that dose is logged (taken, missed or vomited).
DOSE_DAY_KINDS = frozenset({ANTIEMETIC, DOSE, NUDGE})

PLAN_REASON_PREFIX = "plan: "  # cancellations made by planning; only these are undone by a later replan
REPLY_TTL = timedelta(hours=1)

EXPIRY_REASONS = {
    ANTIEMETIC: "expired: not sent before the dose time it prepares for",
    DOSE: "expired: not sent within the hours after the dose time (a late reminder would prompt a late dose)",
    NUDGE: "expired: not sent before the dose day ended",
    DEXAMETHASONE: "expired: not sent before the day ended",
    WEIGHT: "expired: not sent before the day ended",
    BLOOD_TEST: "expired: not sent before the day ended",
    BORTEZOMIB: "expired: not sent before the day ended",
    PAGE: "expired: page not sent in time (escalation pages again while the alert is open)",
}
DEFAULT_EXPIRY_REASON = "expired: not sent in time to be useful"

# Twilio's message statuses in the order they happen; a callback never moves a message backwards.
DELIVERY_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
                 "delivered": 4, "undelivered": 4, "failed": 4}
DELIVERY_ALIASES = {"read": "delivered"}  # RCS/WhatsApp "read" implies delivered
DELIVERY_FAILED = frozenset({"undelivered", "failed"})
TWILIO_OPTED_OUT = 21610

_T = Reminder.__table__
Bind = Engine | Connection  # dispatch functions take either; a worker's pass keeps one connection for all of them


@contextmanager
def _transaction(bind: Bind) -> Iterator[Connection]:
    """One transaction on an engine (a pooled connection) or on a connection the caller holds."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with bind.begin():
            yield bind


# --------------------------------------------------------------------------------------------------------------------
# Planning (flow 2)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanningOptions:
    """Knobs of planning; the defaults are the documented behaviour."""

    horizon: timedelta = timedelta(days=14)
    # issue 4: one nudge if the dose is not logged 3 h after its time (NUDGE_AFTER_MINUTES)
    nudge_after: timedelta = timedelta(hours=3)
    # Clinic-day events (blood test, bortezomib) are at 09:00 local: remind two hours earlier.
    clinic_event_lead: timedelta = timedelta(hours=2)
    # A reminder first planned (or revived) more than this after its send time would arrive late: not created.
    late_grace: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> "PlanningOptions":
        return cls(nudge_after=timedelta(minutes=settings.nudge_after_minutes))


@dataclass(frozen=True)
class DesiredReminder:
    kind: str
    scheduled_for: datetime  # the event's own instant (for a nudge: the dose it follows up)
    send_at: datetime
    expires_at: datetime
    payload: dict[str, Any]

    def dedupe_key(self, patient_id: int) -> str:
        return reminder_key(patient_id, self.kind, self.scheduled_for)


def reminder_key(patient_id: int, kind: str, scheduled_for: datetime) -> str:
    """The unique key of a planned reminder: (patient, kind, scheduled instant in UTC)."""
    return f"{kind}:{patient_id}:{scheduled_for.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def in_quiet_hours(local: datetime, start: time, end: time) -> bool:
    """Whether a local wall time falls in [start, end), a window that may wrap past midnight."""
    t = local.time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def defer_past_quiet_hours(local: datetime, start: time, end: time) -> datetime:
    """The first instant at or after `local` outside quiet hours (in the same zone)."""
    if not in_quiet_hours(local, start, end):
        return local
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)  # evening part of a window that wraps: quiet ends tomorrow morning
    return resolve_local(day, end, local.tzinfo)


def desired_reminders(patient: Patient, plan: TreatmentPlan, now: datetime,
                      options: PlanningOptions = PlanningOptions()) -> dict[str, DesiredReminder]:
    """The reminders the plan calls for that are still useful at `now` (expiry after now), by dedupe key."""
    if plan.status == PlanStatus.DISCONTINUED.value:
        return {}
    setup = schedule_setup(patient, plan)
    zone = setup.zone
    events = events_between(setup, now - timedelta(days=1), now + options.horizon)
    dexamethasone_at = {e.utc: e for e in events if e.kind is EventKind.DEXAMETHASONE}
    dose_instants = {e.utc for e in events if e.kind is EventKind.SELINEXOR_DOSE}
    quiet = (patient.quiet_start, patient.quiet_end)
    out: list[DesiredReminder] = []

    def end_of_day(event: ScheduledEvent) -> datetime:
        return resolve_local(event.local.date() + timedelta(days=1), time(0, 0), zone).astimezone(timezone.utc)

    def deferred(instant: datetime) -> datetime:
        return defer_past_quiet_hours(instant.astimezone(zone), *quiet).astimezone(timezone.utc)

    for event in events:
        day_end = end_of_day(event)
        common = {"day": event.local.date().isoformat(), "local": event.local.isoformat()}
        if event.kind is EventKind.SELINEXOR_DOSE:
            dexa = dexamethasone_at.get(event.utc)
            payload = {**common, "dose_mg": event.dose_mg, "tablets": event.tablets,
                       "strength_mg": setup.plan.tablet_strength_mg,
                       "dexamethasone_mg": dexa.dose_mg if dexa else None}
            # A dose reminder arriving hours late would prompt a late dose (P-MISSED): it expires when the nudge
            # would go out, and never after the dose day ends.
            out.append(DesiredReminder(DOSE, event.utc, event.utc, min(day_end, event.utc + options.nudge_after),
                                       payload))
            # clinical-reference P-MISSED: the nudge never goes out after the dose day ends.
            nudge_at = deferred(event.utc + options.nudge_after)
            if nudge_at < day_end:
                out.append(DesiredReminder(NUDGE, event.utc, nudge_at, day_end, {**common}))
        elif event.kind is EventKind.ANTIEMETIC:
            dose_at = event.utc + timedelta(minutes=setup.antiemetic_offset_min)
            payload = {**common, "dose_local": dose_at.astimezone(zone).isoformat(),
                       "antiemetic": plan.antiemetic_name, "offset_min": setup.antiemetic_offset_min}
            # An antiemetic reminder after its dose time is useless: it expires at the dose time.
            out.append(DesiredReminder(ANTIEMETIC, event.utc, event.utc, max(dose_at, event.utc + timedelta(minutes=1)),
                                       payload))
        elif event.kind is EventKind.DEXAMETHASONE:
            if event.utc in dose_instants:
                continue  # folded into that dose reminder
            out.append(DesiredReminder(DEXAMETHASONE, event.utc, event.utc, day_end,
                                       {**common, "dexamethasone_mg": event.dose_mg}))
        elif event.kind is EventKind.WEIGHT_PROMPT:
            out.append(DesiredReminder(WEIGHT, event.utc, deferred(event.utc), day_end,
                                       {**common, "unit": patient.weight_unit}))
        elif event.kind in (EventKind.BLOOD_TEST, EventKind.BORTEZOMIB_CLINIC):
            kind = BLOOD_TEST if event.kind is EventKind.BLOOD_TEST else BORTEZOMIB
            out.append(DesiredReminder(kind, event.utc, deferred(event.utc - options.clinic_event_lead), day_end,
                                       {**common}))
    return {d.dedupe_key(patient.id): d for d in out if d.expires_at > now and d.send_at < d.expires_at}


def _cancel_reason(plan: TreatmentPlan | None) -> str:
    if plan is None:
        return PLAN_REASON_PREFIX + "the patient has no treatment plan"
    if plan.status == PlanStatus.HELD.value:
        return PLAN_REASON_PREFIX + f"selinexor on hold (plan v{plan.version})"
    if plan.status == PlanStatus.DISCONTINUED.value:
        return PLAN_REASON_PREFIX + f"selinexor discontinued (plan v{plan.version})"
    return PLAN_REASON_PREFIX + f"not in plan v{plan.version} (dose, days, time or time zone changed)"


def _latest_plan(session: Session, patient_id: int) -> TreatmentPlan | None:
    return session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version.desc())
    ).first()


def replan_patient(session: Session, patient: Patient, now: datetime, options: PlanningOptions | None = None) -> None:
    """Materialize the patient's reminders for the next 14 days and cancel stale unsent ones (caller's transaction).

    1. Lock the patient row (PostgreSQL), so a staff plan change and the planner job never plan one patient at once.
    2. Desired rows come from the current plan version's schedule (nothing for a discontinued plan).
    3. Existing rows of the window: a pending one that is still desired is updated in place (payload, send time);
       a pending or claimed one that is no longer desired is cancelled with a reason (a claimed row is not yet
       sending, so the worker's compare-and-set will skip it); a row cancelled by an earlier replan comes back
       when the plan calls for it again (resume after a hold) unless it would now arrive late.
    4. Missing desired rows are inserted (ignoring a duplicate key: the same plan, planned twice, is the same rows),
       except those whose send time is already more than `late_grace` past.
    Sent, sending, failed, unknown and expired rows are history and never touched.
    """
    options = options or PlanningOptions()
    session.exec(select(Patient.id).where(Patient.id == patient.id).with_for_update(key_share=True)).first()
    plan = _latest_plan(session, patient.id)
    desired = desired_reminders(patient, plan, now, options) if plan is not None else {}
    reason = _cancel_reason(plan)
    existing = session.exec(
        select(Reminder).where(Reminder.patient_id == patient.id, Reminder.kind.in_(PLANNED_KINDS),
                               Reminder.status.in_((PENDING, CLAIMED, CANCELLED)),
                               Reminder.scheduled_for >= now - timedelta(days=1))
    ).all()
    # A dose day whose dose reminder already went out gets no second one when the time, weekdays or time zone change
    # that day: reminders are keyed by instant, so the new time would otherwise look like a new dose.
    reminded: dict[str, set[datetime]] = {}  # local dose day -> dose instants already reminded
    for payload, dose_at in session.exec(
            select(Reminder.payload, Reminder.scheduled_for).where(
                Reminder.patient_id == patient.id, Reminder.kind == DOSE, Reminder.status.in_((SENDING, SENT, UNKNOWN)),
                Reminder.scheduled_for >= now - timedelta(days=2))).all():
        reminded.setdefault(json.loads(payload or "{}").get("day"), set()).add(dose_at)

    def second_for_its_day(want: DesiredReminder) -> bool:
        """A dose-day reminder for another dose time on a day whose dose was already reminded."""
        if want.kind not in DOSE_DAY_KINDS or want.payload.get("day") not in reminded:
            return False
        dose_at = (datetime.fromisoformat(want.payload["dose_local"]).astimezone(timezone.utc)
                   if want.kind == ANTIEMETIC else want.scheduled_for)
        return dose_at not in reminded[want.payload["day"]]

    seen: set[str] = set()
    for row in existing:
        want = desired.get(row.dedupe_key)
        if want is not None:
            seen.add(row.dedupe_key)
        if want is not None and row.status == PENDING and second_for_its_day(want):
            want = None  # cancelled below, with the plan's reason
        if row.status == CANCELLED:
            if (want is not None and (row.cancel_reason or "").startswith(PLAN_REASON_PREFIX)
                    and want.send_at >= now - options.late_grace and not second_for_its_day(want)):
                _apply(row, want, patient, now, revive=True)
            continue
        if want is None:
            if row.expires_at is not None and row.expires_at <= now:
                continue  # already past its use: the dispatcher expires it with the right reason
            row.status, row.cancel_reason = CANCELLED, reason[:200]
            row.claim_token, row.next_attempt_at, row.updated_at = None, None, now
            session.add(row)
        elif row.status == PENDING:
            _apply(row, want, patient, now, revive=False)
    new_rows = [
        _row_values(patient, key, want, now)
        for key, want in desired.items()
        if key not in seen and want.send_at >= now - options.late_grace and not second_for_its_day(want)
    ]
    session.flush()
    insert_ignoring_duplicates(session, new_rows)


def _apply(row: Reminder, want: DesiredReminder, patient: Patient, now: datetime, revive: bool) -> None:
    payload = json.dumps(want.payload, sort_keys=True)
    if not revive and (row.payload, row.send_at, row.expires_at) == (payload, want.send_at, want.expires_at):
        return
    row.payload, row.send_at, row.expires_at, row.updated_at = payload, want.send_at, want.expires_at, now
    if revive or row.attempts == 0:
        row.next_attempt_at = want.send_at  # a retry in progress keeps its back-off
    if revive:
        row.status, row.cancel_reason, row.channel = PENDING, None, patient.channel_preference
        row.to_address = patient.phone_e164


def _row_values(patient: Patient, key: str, want: DesiredReminder, now: datetime) -> dict[str, Any]:
    return {
        "dedupe_key": key, "patient_id": patient.id, "kind": want.kind, "channel": patient.channel_preference,
        "to_address": patient.phone_e164, "scheduled_for": want.scheduled_for, "send_at": want.send_at,
        "expires_at": want.expires_at, "status": PENDING, "next_attempt_at": want.send_at, "attempts": 0,
        "payload": json.dumps(want.payload, sort_keys=True), "created_at": now, "updated_at": now,
    }


def insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT the outbox rows, skipping any whose dedupe_key already exists (both engines)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(_T).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


def patients_to_plan(session: Session) -> list[int]:
    """Patients whose current plan is not discontinued, plus any with planned rows still waiting to go out."""
    latest = (select(TreatmentPlan.patient_id, sa.func.max(TreatmentPlan.version).label("version"))
              .group_by(TreatmentPlan.patient_id).subquery())
    live = (select(TreatmentPlan.patient_id)
            .join(latest, sa.and_(TreatmentPlan.patient_id == latest.c.patient_id,
                                  TreatmentPlan.version == latest.c.version))
            .where(TreatmentPlan.status != PlanStatus.DISCONTINUED.value))
    waiting = select(Reminder.patient_id).where(Reminder.status.in_((PENDING, CLAIMED)),
                                                Reminder.kind.in_(PLANNED_KINDS))
    ids = session.execute(sa.union(live, waiting)).scalars().all()
    return sorted(i for i in ids if i is not None)


def plan_all_patients(ctx: AppContext, now: datetime, options: PlanningOptions | None = None) -> int:
    """The planner job: replan every patient who may need reminders, one transaction each; returns how many."""
    options = options or PlanningOptions.from_settings(ctx.settings)
    with Session(ctx.engine) as session:
        patient_ids = patients_to_plan(session)
    planned = 0
    for patient_id in patient_ids:
        try:
            with session_scope(ctx.engine) as session:
                patient = session.get(Patient, patient_id)
                if patient is not None:
                    replan_patient(session, patient, now, options)
                    planned += 1
        except Exception:  # one bad plan must not stop everyone else's reminders
            log.exception("planning reminders for patient %s failed", patient_id)
    return planned


# --------------------------------------------------------------------------------------------------------------------
# Dispatch (flow 3): claim, lease, reap, finish
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedReminder:
    """A row this worker holds under `token`; everything the sender needs besides the recipient."""

    id: int
    token: str
    kind: str
    channel: str
    patient_id: int | None
    staff_id: int | None
    alert_id: int | None
    to_address: str | None
    body: str | None
    payload: dict[str, Any]
    scheduled_for: datetime
    send_at: datetime
    expires_at: datetime | None
    attempts: int

    @property
    def to_patient(self) -> bool:
        # Pages go to staff (about a patient); every other row with a patient goes to that patient, even when a
        # staff member wrote it (invites and sign-in links carry the sender in staff_id).
        return self.patient_id is not None and self.kind != PAGE


_CLAIM_COLUMNS = (_T.c.id, _T.c.kind, _T.c.channel, _T.c.patient_id, _T.c.staff_id, _T.c.alert_id,
                  _T.c.to_address, _T.c.body, _T.c.payload, _T.c.scheduled_for, _T.c.send_at, _T.c.expires_at,
                  _T.c.attempts)


def _param(name: str, column: str) -> sa.BindParameter:
    return sa.bindparam(name, type_=_T.c[column].type)


# The dispatcher's statements are built once per dialect: building SQLAlchemy constructs on every call costs
# more CPU than the database work itself at a few thousand messages a second.
@lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> sa.Update:
    # A materialized CTE, not `id IN (subquery)`: PostgreSQL may rescan an IN-subquery, and with SKIP LOCKED
    # each rescan can pick other rows, so more than `limit` rows would be claimed.
    due = (select(_T.c.id).where(_T.c.status == PENDING, _T.c.next_attempt_at <= _param("due_before", "send_at"))
           .order_by(_T.c.next_attempt_at).limit(sa.bindparam("limit", type_=sa.Integer))
           .with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED", dialect="postgresql"))
    return (sa.update(_T).where(_T.c.id == due.c.id, _T.c.status == PENDING)
            .values(status=CLAIMED, claim_token=sa.bindparam("token", type_=sa.String),
                    claimed_at=_param("now", "claimed_at"), next_attempt_at=_param("deadline", "next_attempt_at"),
                    updated_at=_param("now", "updated_at"))
            .returning(*_CLAIM_COLUMNS))


@lru_cache(maxsize=4)
def _mark_statement(dialect: str) -> sa.Update:
    return (sa.update(_T).where(_in_list(_T.c.id, "ids", sa.Integer, dialect),
                                _T.c.claim_token == sa.bindparam("token", type_=sa.String), _T.c.status == CLAIMED)
            .values(status=SENDING, attempts=_T.c.attempts + 1, next_attempt_at=_param("deadline", "next_attempt_at"),
                    updated_at=_param("now", "updated_at"))
            .returning(_T.c.id))


def claim_due_reminders(bind: Bind, now: datetime, *, limit: int, lease: timedelta,
                        due_before: datetime | None = None, token: str | None = None) -> list[ClaimedReminder]:
    """Claim up to `limit` rows due at `due_before` (default `now`) for this worker.

    PostgreSQL: SKIP LOCKED, so any number of workers claim disjoint rows; SQLite has one writer at a time.
    The claim's lease deadline is kept in next_attempt_at, so finding dead claims is the same index lookup.
    """
    token = token or uuid.uuid4().hex
    with _transaction(bind) as conn:
        rows = conn.execute(_claim_statement(conn.dialect.name), {
            "due_before": due_before or now, "limit": limit, "token": token, "now": now, "deadline": now + lease,
        }).all()
    claims = [ClaimedReminder(id=r.id, token=token, kind=r.kind, channel=r.channel, patient_id=r.patient_id,
                              staff_id=r.staff_id, alert_id=r.alert_id, to_address=r.to_address, body=r.body,
                              payload=json.loads(r.payload) if r.payload else {}, scheduled_for=r.scheduled_for,
                              send_at=r.send_at, expires_at=r.expires_at, attempts=r.attempts) for r in rows]
    return sorted(claims, key=lambda c: (c.send_at, c.id))


def mark_sending(bind: Bind, claims: Iterable[ClaimedReminder], now: datetime, lease: timedelta) -> set[int]:
    """Record, before the requests leave, that these attempts may reach a provider; returns the ids still held.

    The dispatcher marks rows only as it hands them to its sender pool, so `sending` rows are the sends in
    flight (or about to be). Counting the attempt here is what "attempts show the request could have been
    sent" means for the reaper.
    """
    with _transaction(bind) as conn:
        return _mark_sending(conn, claims, now, lease)


def _mark_sending(conn: Connection, claims: Iterable[ClaimedReminder], now: datetime, lease: timedelta) -> set[int]:
    started: set[int] = set()
    by_token: dict[str, list[int]] = {}
    for claim in claims:
        by_token.setdefault(claim.token, []).append(claim.id)
    statement = _mark_statement(conn.dialect.name)
    for token, ids in by_token.items():
        started.update(conn.execute(statement, {"ids": ids, "token": token, "now": now,
                                                "deadline": now + lease}).scalars())
    return started


def release_claims(bind: Bind, claims: Iterable[ClaimedReminder], now: datetime) -> int:
    """Give back claimed rows that were never sent (the worker is stopping): due again at once."""
    released = 0
    with _transaction(bind) as conn:
        for claim in claims:
            stmt = (sa.update(_T).where(_T.c.id == claim.id, _T.c.claim_token == claim.token, _T.c.status == CLAIMED)
                    .values(status=PENDING, claim_token=None, claimed_at=None, next_attempt_at=now, updated_at=now))
            released += conn.execute(stmt).rowcount
    return released


@dataclass(frozen=True)
class ReapResult:
    returned: int  # claimed, never sent: pending again
    unknown: int  # sending when the lease ran out: may have been accepted


REAPED_UNKNOWN_REASON = ("the worker stopped during the send (lease expired); the provider may have accepted it, "
                         "so it is not re-sent: a delivery receipt resolves it, otherwise staff decide")


def reap_stale_claims(bind: Bind, now: datetime) -> ReapResult:
    """Recover rows of workers that died or stalled, never risking a second send.

    1. A claim's lease deadline is in next_attempt_at (set at claim, and again when the send begins).
    2. `claimed` past its deadline: the worker never wrote `sending`, which it commits before any request leaves,
       so nothing was sent: the row goes back to `pending` and any worker may send it.
    3. `sending` past its deadline: the request may have left and been accepted. It becomes `unknown` with a
       reason and is never re-sent automatically; a later status callback (which carries the row id) resolves it.
       The claim token is kept, so if the stalled worker does finish, its own result still lands.
    """
    back = (sa.update(_T).where(_T.c.status == CLAIMED, _T.c.next_attempt_at <= now)
            .values(status=PENDING, claim_token=None, claimed_at=None, next_attempt_at=now, updated_at=now))
    lost = (sa.update(_T).where(_T.c.status == SENDING, _T.c.next_attempt_at <= now)
            .values(status=UNKNOWN, last_error=REAPED_UNKNOWN_REASON, next_attempt_at=None, updated_at=now))
    with _transaction(bind) as conn:
        returned = conn.execute(back).rowcount
        unknown = conn.execute(lost).rowcount
    if returned or unknown:
        log.warning("reaped stale claims: %d back to pending, %d unknown", returned, unknown)
    return ReapResult(returned, unknown)


def expire_overdue(bind: Bind, now: datetime) -> int:
    """Due rows past their usefulness expire with a reason instead of arriving late."""
    reason = sa.case(*((_T.c.kind == kind, text) for kind, text in EXPIRY_REASONS.items()),
                     else_=DEFAULT_EXPIRY_REASON)
    stmt = (sa.update(_T).where(_T.c.status == PENDING, _T.c.next_attempt_at <= now, _T.c.expires_at <= now)
            .values(status=EXPIRED, cancel_reason=reason, next_attempt_at=None, updated_at=now))
    with _transaction(bind) as conn:
        return conn.execute(stmt).rowcount


@dataclass(frozen=True)
class PushTarget:
    id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Recipient:
    """What the dispatcher needs to know about a patient to pick a channel and render a message."""

    patient_id: int
    language: str
    phone: str | None
    sms_consent: bool
    sms_opted_out: bool
    channel_preference: str
    drug_names: bool
    weight_unit: str
    push_targets: tuple[PushTarget, ...]
    clinic_name: str
    clinic_phone: str

    def sms_refusal(self) -> str | None:
        """Why no SMS may go to this patient now (None: it may); replies to the patient's own texts included."""
        if self.sms_opted_out:
            return "the patient opted out of SMS (STOP)"
        if not self.phone:
            return "the patient has no mobile number"
        if not self.sms_consent:
            return "the patient has not consented to SMS"
        return None


@dataclass(frozen=True)
class RecipientBook:
    recipients: dict[int, Recipient]
    logged_dose_days: frozenset[tuple[int, str]]  # (patient_id, ISO local date) with a dose logged
    logged_weight_days: frozenset[tuple[int, str]] = frozenset()  # (patient_id, ISO local date) with a weight
    # Patients with an open interrupt/discontinue alert of tier same_day or urgent: they were told "do not take your
    # next selinexor dose until your care team contacts you" (clinical-reference §3), so no dose reminder may say
    # otherwise until staff resolve the alert or change the plan.
    awaiting_team: frozenset[int] = frozenset()

    def already_done(self, claim: ClaimedReminder) -> str | None:
        """Why this reminder is no longer needed or must not go (already logged; told to wait for the team), if so."""
        if claim.kind in DOSE_DAY_KINDS and claim.patient_id in self.awaiting_team:
            return "not sent: an open care-team alert told the patient not to take the next dose until contacted"
        key = (claim.patient_id, claim.payload.get("day"))
        if claim.kind in DOSE_DAY_KINDS and key in self.logged_dose_days:
            return "not needed: the day's dose is already logged"
        if claim.kind == WEIGHT and key in self.logged_weight_days:
            return "not needed: a weight was already logged that day"
        return None


def _in_list(column: sa.ColumnElement, name: str, item_type: Any, dialect: str) -> sa.ColumnElement:
    """`column IN (:name...)`; on PostgreSQL `= ANY(:name)`, whose SQL text (so its prepared plan) never changes."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(name, type_=ARRAY(item_type)))
    return column.in_(sa.bindparam(name, expanding=True))


@lru_cache(maxsize=4)
def _recipient_statements(dialect: str) -> tuple[sa.Select, sa.Select, sa.Select, sa.Select]:
    patients = (
        select(Patient.id, Patient.language, Patient.phone_e164, Patient.sms_consent, Patient.sms_opted_out,
               Patient.channel_preference, Patient.drug_names_in_messages, Patient.weight_unit, Patient.timezone,
               Clinic.name.label("clinic_name"), Clinic.phone.label("clinic_phone"))
        .outerjoin(Clinic, Clinic.id == Patient.clinic_id).where(_in_list(Patient.id, "ids", sa.Integer, dialect)))
    push = select(PushSubscription.id, PushSubscription.patient_id, PushSubscription.endpoint,
                  PushSubscription.p256dh, PushSubscription.auth).where(
        _in_list(PushSubscription.patient_id, "ids", sa.Integer, dialect))
    doses = select(DoseEvent.patient_id, DoseEvent.scheduled_for).where(
        _in_list(DoseEvent.patient_id, "ids", sa.Integer, dialect), DoseEvent.superseded_at.is_(None),
        _in_list(DoseEvent.scheduled_for, "days", sa.Date, dialect))
    weights = select(WeightRow.patient_id, WeightRow.at).where(
        _in_list(WeightRow.patient_id, "ids", sa.Integer, dialect), WeightRow.superseded_at.is_(None),
        WeightRow.at >= sa.bindparam("since", type_=UTCDateTime()))
    return patients, push, doses, weights


def load_recipients(bind: Bind, claims: Iterable[ClaimedReminder], default_clinic: tuple[str, str]) -> RecipientBook:
    """Everything about the patients of a batch of claims, in a few queries (not one per message)."""
    claims = list(claims)
    ids = sorted({c.patient_id for c in claims if c.to_patient})
    if not ids:
        return RecipientBook({}, frozenset())
    days = {c.payload.get("day") for c in claims if c.kind in DOSE_DAY_KINDS and c.payload.get("day")}
    weigh = {c.patient_id: c.payload["day"] for c in claims if c.kind == WEIGHT and c.payload.get("day")}
    with _transaction(bind) as conn:
        patients_q, push_q, doses_q, weights_q = _recipient_statements(conn.dialect.name)
        patients = conn.execute(patients_q, {"ids": ids}).all()
        targets: dict[int, list[PushTarget]] = {}
        for s in conn.execute(push_q, {"ids": ids}).all():
            targets.setdefault(s.patient_id, []).append(PushTarget(s.id, s.endpoint, s.p256dh, s.auth))
        logged: set[tuple[int, str]] = set()
        if days:
            rows = conn.execute(doses_q, {"ids": ids, "days": sorted(date.fromisoformat(d) for d in days)}).all()
            logged = {(pid, day.isoformat()) for pid, day in rows}
        weighed: set[tuple[int, str]] = set()
        if weigh:
            zones = {p.id: ZoneInfo(p.timezone) for p in patients if p.id in weigh}
            since = min(datetime.combine(date.fromisoformat(d), time(0), timezone.utc) for d in weigh.values())
            for pid, at in conn.execute(weights_q, {"ids": sorted(weigh), "since": since - timedelta(days=1)}).all():
                weighed.add((pid, at.astimezone(zones[pid]).date().isoformat()))
        waiting = conn.execute(
            sa.select(Alert.__table__.c.patient_id).where(
                Alert.__table__.c.patient_id.in_(ids), Alert.__table__.c.status != "resolved",
                Alert.__table__.c.action.in_(("interrupt", "discontinue")),
                Alert.__table__.c.tier.in_(("urgent", "same_day")))
        ).scalars().all()
    recipients = {
        p.id: Recipient(patient_id=p.id, language=p.language, phone=p.phone_e164, sms_consent=p.sms_consent,
                        sms_opted_out=p.sms_opted_out, channel_preference=p.channel_preference,
                        drug_names=p.drug_names_in_messages, weight_unit=p.weight_unit,
                        push_targets=tuple(targets.get(p.id, ())),
                        clinic_name=p.clinic_name or default_clinic[0],
                        clinic_phone=p.clinic_phone or default_clinic[1])
        for p in patients
    }
    return RecipientBook(recipients, frozenset(logged), frozenset(weighed), frozenset(waiting))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter for transient errors; the provider's Retry-After is a floor."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(settings.send_max_attempts, timedelta(seconds=settings.retry_base_seconds),
                   timedelta(seconds=settings.retry_max_seconds))

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
        """How long to wait after `attempts` failed attempts (1 = the first failed)."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(0, attempts - 1))
        # Jitter in [ceiling/2, ceiling]: spread retries out without ever retrying at once.
        seconds = (rng or random).uniform(ceiling / 2, ceiling)
        return timedelta(seconds=max(seconds, retry_after or 0.0))


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed reminder; `finish_claim` records it with a compare-and-set on the claim."""

    status: str  # sent | pending (retry) | failed | unknown | cancelled | expired
    channel: str | None = None
    to_address: str | None = None
    provider_id: str | None = None
    delivery_status: str | None = None
    error: str | None = None  # last_error
    reason: str | None = None  # cancel_reason (cancelled, expired)
    retry_at: datetime | None = None
    opted_out: bool = False  # the provider says the number unsubscribed (21610)
    unreachable: str | None = None  # facts for a care-team alert: the patient could not be reached
    expired_endpoints: tuple[str, ...] = ()  # Web Push subscriptions that are gone (404/410)
    push_ok_endpoints: tuple[str, ...] = ()


def _finish_values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": outcome.status, "updated_at": now}
    if outcome.status == PENDING:
        values.update(claim_token=None, claimed_at=None, next_attempt_at=outcome.retry_at)
    else:
        values["next_attempt_at"] = None
    if outcome.channel:
        values["channel"] = outcome.channel
    if outcome.to_address:
        values["to_address"] = outcome.to_address
    if outcome.error:
        values["last_error"] = outcome.error[:500]
    if outcome.status == SENT:
        values.update(sent_at=now, provider_id=outcome.provider_id, last_error=None)
        if outcome.delivery_status:
            values["delivery_status"] = outcome.delivery_status
        if outcome.channel == "push":
            values["delivery_updated_at"] = now  # patient_state.last_delivered_at counts an accepted push
    if outcome.status in (CANCELLED, EXPIRED):
        values["cancel_reason"] = (outcome.reason or "")[:200]
    return values


# Compare-and-set on the claim. A row reaped to `unknown` while this worker was still sending keeps its token, so
# the real outcome still lands on it.
_HELD = (_T.c.id == sa.bindparam("b_id"), _T.c.claim_token == sa.bindparam("b_token"),
         sa.or_(*(_T.c.status == status for status in (CLAIMED, SENDING, UNKNOWN))))  # no IN: executemany


@lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...]) -> sa.Update:
    values: dict[str, Any] = {name: sa.bindparam(f"v_{name}", type_=_T.c[name].type) for name in columns}
    if "delivery_status" in values:
        # A status callback may have arrived before the provider's answer: never move it backwards.
        values["delivery_status"] = sa.func.coalesce(_T.c.delivery_status, values["delivery_status"])
    return sa.update(_T).where(*_HELD).values(values)


def _has_side_effects(outcome: Outcome) -> bool:
    return bool(outcome.opted_out or outcome.unreachable or outcome.expired_endpoints or outcome.push_ok_endpoints)


def _group_outcomes(items: Iterable[tuple[ClaimedReminder, Outcome]],
                    now: datetime) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Outcome parameters grouped by the set of columns they write (one statement per group)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for claim, outcome in items:
        values = _finish_values(outcome, now)
        groups.setdefault(tuple(sorted(values)), []).append(
            {"b_id": claim.id, "b_token": claim.token, **{f"v_{k}": v for k, v in values.items()}})
    return groups


def _naive_utc(value: Any) -> Any:
    """What UTCDateTime stores (naive UTC), for statements written in SQL text."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


@lru_cache(maxsize=64)
def _pg_progress_statement(shapes: tuple[tuple[str, ...], ...], mark: bool) -> sa.TextClause:
    """PostgreSQL: a whole dispatcher turn in one statement (one round trip, atomic).

    One data-modifying CTE per group of outcomes (UPDATE ... FROM unnest(arrays), a compare-and-set on each
    row's claim token) and one that marks the next rows `sending`; they touch disjoint rows.
    """
    ctes, counts = [], []
    for n, columns in enumerate(shapes):
        def sql_type(name: str) -> str:
            return "timestamp" if isinstance(_T.c[name].type, UTCDateTime) else "varchar"

        names = ["b_id", "b_token", *(f"v_{c}" for c in columns)]
        casts = [f"CAST(:f{n}_b_id AS integer[])", f"CAST(:f{n}_b_token AS varchar[])",
                 *(f"CAST(:f{n}_v_{c} AS {sql_type(c)}[])" for c in columns)]
        sets = [f"{c} = COALESCE(r.delivery_status, v.v_{c})" if c == "delivery_status" else f"{c} = v.v_{c}"
                for c in columns]
        ctes.append(f"f{n} AS (UPDATE reminder AS r SET {', '.join(sets)} "
                    f"FROM unnest({', '.join(casts)}) AS v({', '.join(names)}) "
                    f"WHERE r.id = v.b_id AND r.claim_token = v.b_token "
                    f"AND r.status IN ('claimed', 'sending', 'unknown') RETURNING 1)")
        counts.append(f"(SELECT count(*) FROM f{n})")
    if mark:
        ctes.append("s AS (UPDATE reminder AS r SET status = 'sending', attempts = r.attempts + 1, "
                    "next_attempt_at = :deadline, updated_at = :now "
                    "FROM unnest(CAST(:s_id AS integer[]), CAST(:s_token AS varchar[])) AS t(id, token) "
                    "WHERE r.id = t.id AND r.claim_token = t.token AND r.status = 'claimed' RETURNING r.id)")
    started = "ARRAY(SELECT id FROM s)" if mark else "CAST(ARRAY[] AS integer[])"
    return sa.text(f"WITH {', '.join(ctes)} SELECT {' + '.join(counts) or '0'} AS recorded, {started} AS started")


def _write_progress(conn: Connection, simple: list, to_start: list[ClaimedReminder], now: datetime,
                    lease: timedelta) -> tuple[int, set[int]]:
    groups = _group_outcomes(simple, now)
    if conn.dialect.name == "postgresql":
        params: dict[str, Any] = {"now": _naive_utc(now), "deadline": _naive_utc(now + lease),
                                  "s_id": [c.id for c in to_start], "s_token": [c.token for c in to_start]}
        for n, rows in enumerate(groups.values()):
            params.update({f"f{n}_{name}": [_naive_utc(row[name]) for row in rows] for name in rows[0]})
        row = conn.execute(_pg_progress_statement(tuple(groups), bool(to_start)), params).one()
        return row.recorded, set(row.started)
    recorded = 0
    for columns, rows in groups.items():
        result = conn.execute(_finish_statement(columns), rows)
        recorded += result.rowcount if result.rowcount >= 0 else len(rows)
    return recorded, _mark_sending(conn, to_start, now, lease) if to_start else set()


def record_progress(ctx: AppContext, bind: Bind, finished: Iterable[tuple[ClaimedReminder, Outcome]],
                    to_start: Iterable[ClaimedReminder], now: datetime, lease: timedelta) -> tuple[int, set[int]]:
    """One turn of a dispatch pass: write finished outcomes and mark the next rows `sending`, atomically.

    Returns (outcomes recorded, ids now held as sending). Outcomes with side effects (opt-out, an alert, push
    subscriptions) are recorded one by one by `finish_claim`, in their own transactions.
    """
    simple, special = [], []
    for item in finished:
        (special if _has_side_effects(item[1]) else simple).append(item)
    recorded = sum(finish_claim(ctx, claim, outcome, now) for claim, outcome in special)
    to_start = list(to_start)
    if not simple and not to_start:
        return recorded, set()
    with _transaction(bind) as conn:
        done, started = _write_progress(conn, simple, to_start, now, lease)
    return recorded + done, started


def finish_claims(ctx: AppContext, items: Iterable[tuple[ClaimedReminder, Outcome]], now: datetime) -> int:
    """Record many outcomes (side-effect-free ones in one transaction); returns how many rows were held."""
    return record_progress(ctx, ctx.engine, items, (), now, timedelta(0))[0]


def finish_claim(ctx: AppContext, claim: ClaimedReminder, outcome: Outcome, now: datetime) -> bool:
    """Record one outcome if this worker still holds the claim (compare-and-set on claim_token); False otherwise."""
    values = _finish_values(outcome, now)
    changes: list[AlertChange] = []
    with session_scope(ctx.engine) as session:
        params = {"b_id": claim.id, "b_token": claim.token, **{f"v_{k}": v for k, v in values.items()}}
        if session.execute(_finish_statement(tuple(sorted(values))), params).rowcount != 1:
            return False
        if outcome.expired_endpoints:
            session.execute(sa.delete(PushSubscription).where(PushSubscription.endpoint.in_(outcome.expired_endpoints)))
        if outcome.push_ok_endpoints:
            session.execute(sa.update(PushSubscription).where(PushSubscription.endpoint.in_(outcome.push_ok_endpoints))
                            .values(last_success_at=now))
        if claim.to_patient and (outcome.opted_out or outcome.unreachable):
            patient = session.get(Patient, claim.patient_id)
            if patient is not None:
                change = (opt_out_of_sms(session, patient, now, "the SMS provider reports the number unsubscribed "
                                                                 "(error 21610)")
                          if outcome.opted_out else raise_unreachable(session, patient, outcome.unreachable, now))
                if change is not None:
                    changes.append(change)
    publish_alert_changes(ctx, changes)
    return True


# --------------------------------------------------------------------------------------------------------------------
# The care team hears about patients we cannot reach (clinical-reference R-NO-DELIVERY)
# --------------------------------------------------------------------------------------------------------------------

OPTED_OUT_FACTS = "the patient opted out of SMS"  # the same words as clinical.rules, so re-evaluation is a no-op


def _no_delivery_finding(facts: str) -> Finding:
    rule = RULES["R-NO-DELIVERY"]  # clinical-reference: R-NO-DELIVERY (adherence, routine, evaluate)
    return Finding(rule=rule.id, family=rule.family, tier=Tier.ROUTINE, action=Action.EVALUATE, facts=facts,
                   advice=(), resume_level=None, resume_dose=None)


def raise_unreachable(session: Session, patient: Patient, facts: str, now: datetime) -> AlertChange | None:
    """Tell the care team that a message could not reach the patient (caller's transaction)."""
    return upsert_alert(session, patient, _no_delivery_finding(f"no message reached the patient: {facts}"[:2000]), now)


def opt_out_of_sms(session: Session, patient: Patient, now: datetime, how: str) -> AlertChange | None:
    """Record that the patient unsubscribed from SMS and tell the care team (caller's transaction)."""
    if not patient.sms_opted_out:
        patient.sms_opted_out, patient.sms_opted_out_at = True, now
        session.add(patient)
        log.info("patient %s opted out of SMS: %s", patient.id, how)
    return upsert_alert(session, patient, _no_delivery_finding(OPTED_OUT_FACTS), now)


def opt_in_to_sms(session: Session, patient: Patient, now: datetime) -> None:
    """The patient texted START: messages may go to them again (their pending reminders were never cancelled)."""
    if patient.sms_opted_out:
        patient.sms_opted_out, patient.sms_opted_out_at = False, None
        session.add(patient)


# --------------------------------------------------------------------------------------------------------------------
# Delivery receipts (flow 4) and replies
# --------------------------------------------------------------------------------------------------------------------


def record_delivery_status(ctx: AppContext, *, message_sid: str, status: str, error_code: int | None = None,
                           reminder_id: int | None = None, now: datetime | None = None) -> bool:
    """Apply a provider status callback; updates only move forward. False when nothing matched (still a 200).

    The callback URL carries our row id, so a row left `unknown` (a timeout, or a worker that died mid-send: no
    provider id known) is matched by id; any receipt proves the provider accepted it, so it becomes `sent`. A
    callback that outruns the provider's answer to the worker is matched the same way and only records the
    delivery status; the worker then finishes the row.
    """
    now = now or ctx.clock.now()
    status = DELIVERY_ALIASES.get((status or "").lower(), (status or "").lower())
    if status not in DELIVERY_RANK or not message_sid:
        return False
    changes: list[AlertChange] = []
    with session_scope(ctx.engine) as session:
        row = session.exec(select(Reminder).where(Reminder.provider_id == message_sid)).first()
        if row is None and reminder_id is not None:
            candidate = session.get(Reminder, reminder_id)
            if candidate is not None and candidate.provider_id in (None, message_sid) and candidate.channel != "push":
                row = candidate
                row.provider_id = message_sid
        if row is None:
            return False
        if row.status == UNKNOWN:  # the provider has it after all: a receipt is proof of acceptance
            row.status, row.sent_at = SENT, now
            row.last_error = ("resolved by the provider's status callback; was: " + (row.last_error or ""))[:500]
            session.add(row)
        current = row.delivery_status
        if current is not None and DELIVERY_RANK.get(current, -1) >= DELIVERY_RANK[status]:
            return True  # late or repeated callback: keep the furthest status
        row.delivery_status, row.delivery_updated_at, row.updated_at = status, now, now
        if status in DELIVERY_FAILED:
            row.last_error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
        session.add(row)
        is_patient_message = row.patient_id is not None and row.kind != PAGE
        if status in DELIVERY_FAILED and is_patient_message:
            patient = session.get(Patient, row.patient_id)
            if error_code == TWILIO_OPTED_OUT:
                change = opt_out_of_sms(session, patient, now, "undelivered: the number unsubscribed (error 21610)")
            else:
                change = raise_unreachable(session, patient, f"an SMS ({row.kind}) was reported {status}"
                                           + (f" with error {error_code}" if error_code else ""), now)
            if change is not None:
                changes.append(change)
    publish_alert_changes(ctx, changes)
    return True


def enqueue_sms(session: Session, *, kind: str, key: str, to: str, body: str, now: datetime,
                patient_id: int | None = None, ttl: timedelta = REPLY_TTL) -> None:
    """Put a ready-made SMS (e.g. a reply) in the outbox in the caller's transaction; a repeated key adds nothing."""
    insert_ignoring_duplicates(session, [{
        "dedupe_key": f"{kind}:{key}"[:160], "patient_id": patient_id, "kind": kind, "channel": "sms",
        "to_address": to, "body": body[:1600], "scheduled_for": now, "send_at": now, "expires_at": now + ttl,
        "status": PENDING, "next_attempt_at": now, "attempts": 0, "created_at": now, "updated_at": now,
    }])


# --------------------------------------------------------------------------------------------------------------------
# Web Push keys (VAPID), generated once and kept in AppSecret
# --------------------------------------------------------------------------------------------------------------------

VAPID_SECRET = "vapid"  # one row holding both halves, so two processes can never pair mismatched keys


@dataclass(frozen=True)
class VapidKeys:
    private_key: str  # base64url DER (PKCS8), what pywebpush/py_vapid accept as a string
    public_key: str  # base64url uncompressed P-256 point: the browser's applicationServerKey


def vapid_keys(engine: Engine, now: datetime) -> VapidKeys:
    """The installation's VAPID key pair, generated on first use (the patient app subscribes with the public key)."""
    with Session(engine) as session:
        row = session.get(AppSecret, VAPID_SECRET)
    if row is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        value = json.dumps({"private": _b64url(der), "public": _b64url(point)})
        try:
            with session_scope(engine) as session:
                session.add(AppSecret(name=VAPID_SECRET, value=value, created_at=now))
        except sa.exc.IntegrityError:
            pass  # another process generated them first: use theirs
        with Session(engine) as session:
            row = session.get(AppSecret, VAPID_SECRET)
    keys = json.loads(row.value)
    return VapidKeys(keys["private"], keys["public"])


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
