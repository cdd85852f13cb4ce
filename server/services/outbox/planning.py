# Over 400 lines on purpose: the 14-day plan and its idempotent upsert are one algorithm.
"""Planning (architecture flow 2): the clinical schedule becomes outbox rows for the next 14 days.

Rows are keyed by (patient, kind, scheduled instant), so planning again is idempotent: `replan_patient` updates
pending rows in place, cancels the ones the plan no longer calls for and revives the ones it calls for again;
`plan_all_patients` is the planner job. Quiet hours defer what may wait (never the dose-time kinds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from ...clinical.regimens import PlanStatus
from ...clinical.schedule import (
    BLOOD_TEST_BEFORE_DOSE,
    EventKind,
    ScheduledEvent,
    ScheduleSetup,
    dose_after_blood_test,
    events_between,
    next_dose,
    resolve_local,
)
from ...context import AppContext
from ...db import session_scope
from ...models import OutboundMessage, Patient, TreatmentPlan
from ..patient_state import schedule_setup
from .enqueue import insert_ignoring_duplicates
from .vocabulary import DOSE_DAY_KINDS, PLANNED_KINDS, MessageKind, MessageStatus

log = logging.getLogger(__name__)

PLAN_REASON_PREFIX = "plan: "  # cancellations made by planning; only these are undone by a later replan


@dataclass(frozen=True)
class PlanningOptions:
    """Knobs of planning; the defaults are the documented behaviour."""

    horizon: timedelta = timedelta(days=14)
    # issue 4: one nudge if the dose is not logged 3 h after its time (NUDGE_AFTER_MINUTES)
    nudge_after: timedelta = timedelta(hours=3)
    # Clinic-day events (blood test, bortezomib) are at 09:00 local: remind two hours earlier.
    clinic_event_lead: timedelta = timedelta(hours=2)
    # A dose-day blood test whose usual reminder would come less than 2 h before the dose is reminded the evening
    # before, at this local time (clinical-reference P-MONITOR).
    blood_test_eve_time: time = time(18, 0)
    # A reminder first planned (or revived) more than this after its send time would arrive late: not created.
    late_grace: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> PlanningOptions:
        return cls(nudge_after=timedelta(minutes=settings.nudge_after_minutes))


@dataclass(frozen=True)
class DesiredReminder:
    kind: MessageKind
    scheduled_for: datetime  # the event's own instant (for a nudge: the dose it follows up)
    send_at: datetime
    expires_at: datetime
    payload: dict[str, Any]

    def dedupe_key(self, patient_id: int) -> str:
        return reminder_key(patient_id, self.kind, self.scheduled_for)


def reminder_key(patient_id: int, kind: str, scheduled_for: datetime) -> str:
    """The unique key of a planned reminder: (patient, kind, scheduled instant in UTC)."""
    return f"{kind}:{patient_id}:{scheduled_for.astimezone(UTC):%Y%m%dT%H%M%SZ}"


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


def desired_reminders(
    patient: Patient, plan: TreatmentPlan, now: datetime, options: PlanningOptions = PlanningOptions()
) -> dict[str, DesiredReminder]:
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
        return resolve_local(event.local.date() + timedelta(days=1), time(0, 0), zone).astimezone(UTC)

    def deferred(instant: datetime) -> datetime:
        return defer_past_quiet_hours(instant.astimezone(zone), *quiet).astimezone(UTC)

    for event in events:
        day_end = end_of_day(event)
        common = {"day": event.local.date().isoformat(), "local": event.local.isoformat()}
        if event.kind is EventKind.SELINEXOR_DOSE:
            dexa = dexamethasone_at.get(event.utc)
            payload = {
                **common,
                "dose_mg": event.dose_mg,
                "tablets": event.tablets,
                "strength_mg": setup.plan.tablet_strength_mg,
                "dexamethasone_mg": dexa.dose_mg if dexa else None,
            }
            # A dose reminder arriving hours late would prompt a late dose (P-MISSED): it expires when the nudge
            # would go out, and never after the dose day ends.
            out.append(
                DesiredReminder(
                    MessageKind.DOSE, event.utc, event.utc, min(day_end, event.utc + options.nudge_after), payload
                )
            )
            # clinical-reference P-MISSED: the nudge never goes out after the dose day ends.
            nudge_at = deferred(event.utc + options.nudge_after)
            if nudge_at < day_end:
                # clinical-reference P-MISSED: the nudge names the next dose (the one after this dose day)
                following = next_dose(setup, day_end)
                out.append(
                    DesiredReminder(
                        MessageKind.NUDGE,
                        event.utc,
                        nudge_at,
                        day_end,
                        {**common, "next_dose_local": following.local.isoformat() if following else None},
                    )
                )
        elif event.kind is EventKind.ANTIEMETIC:
            dose_at = event.utc + timedelta(minutes=setup.antiemetic_offset_min)
            payload = {
                **common,
                "dose_local": dose_at.astimezone(zone).isoformat(),
                "antiemetic": plan.antiemetic_name,
                "offset_min": setup.antiemetic_offset_min,
            }
            # An antiemetic reminder after its dose time is useless: it expires at the dose time.
            out.append(
                DesiredReminder(
                    MessageKind.ANTIEMETIC,
                    event.utc,
                    event.utc,
                    max(dose_at, event.utc + timedelta(minutes=1)),
                    payload,
                )
            )
        elif event.kind is EventKind.DEXAMETHASONE:
            if event.utc in dose_instants:
                continue  # folded into that dose reminder
            out.append(
                DesiredReminder(
                    MessageKind.DEXAMETHASONE,
                    event.utc,
                    event.utc,
                    day_end,
                    {**common, "dexamethasone_mg": event.dose_mg},
                )
            )
        elif event.kind is EventKind.WEIGHT_PROMPT:
            out.append(
                DesiredReminder(
                    MessageKind.WEIGHT, event.utc, deferred(event.utc), day_end, {**common, "unit": patient.weight_unit}
                )
            )
        elif event.kind is EventKind.BLOOD_TEST:
            out.append(_blood_test_reminder(setup, event, now, day_end, common, deferred, options))
        elif event.kind is EventKind.BORTEZOMIB_CLINIC:
            out.append(
                DesiredReminder(
                    MessageKind.BORTEZOMIB,
                    event.utc,
                    deferred(event.utc - options.clinic_event_lead),
                    day_end,
                    {**common},
                )
            )
    return {d.dedupe_key(patient.id): d for d in out if d.expires_at > now and d.send_at < d.expires_at}


def _blood_test_reminder(
    setup: ScheduleSetup,
    event: ScheduledEvent,
    now: datetime,
    day_end: datetime,
    common: dict[str, Any],
    deferred: Callable[[datetime], datetime],
    options: PlanningOptions,
) -> DesiredReminder:
    """The reminder for one blood test; on a dose day it comes before that day's dose.

    clinical-reference: P-MONITOR ("reminder the day before, or at least 2 hours before the dose"), so that a result
    can stop the dose: the usual reminder (the lead before the test, after quiet hours) when that is at least
    BLOOD_TEST_BEFORE_DOSE before the dose, otherwise the evening before. A patient planned too late for either
    (enrolled that morning) still gets the usual one: it says "before your dose", and a late reminder beats none.
    """
    usual = deferred(event.utc - options.clinic_event_lead)
    dose = dose_after_blood_test(setup, event)
    if dose is None:
        return DesiredReminder(MessageKind.BLOOD_TEST, event.utc, usual, day_end, {**common})
    payload = {**common, "dose_local": dose.local.isoformat()}
    if usual <= dose.utc - BLOOD_TEST_BEFORE_DOSE:
        return DesiredReminder(MessageKind.BLOOD_TEST, event.utc, usual, day_end, payload)
    eve = deferred(
        resolve_local(dose.local.date() - timedelta(days=1), options.blood_test_eve_time, setup.zone).astimezone(UTC)
    )
    if eve > dose.utc - BLOOD_TEST_BEFORE_DOSE:  # quiet hours ate the evening: keep the evening, not the night
        eve = resolve_local(dose.local.date() - timedelta(days=1), options.blood_test_eve_time, setup.zone).astimezone(
            UTC
        )
    if eve < now - options.late_grace:
        return DesiredReminder(MessageKind.BLOOD_TEST, event.utc, usual, day_end, payload)
    return DesiredReminder(MessageKind.BLOOD_TEST, event.utc, eve, day_end, {**payload, "tomorrow": True})


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
        select(OutboundMessage).where(
            OutboundMessage.patient_id == patient.id,
            OutboundMessage.kind.in_(PLANNED_KINDS),
            OutboundMessage.status.in_((MessageStatus.PENDING, MessageStatus.CLAIMED, MessageStatus.CANCELLED)),
            OutboundMessage.scheduled_for >= now - timedelta(days=1),
        )
    ).all()
    # A dose day whose dose reminder already went out gets no second one when the time, weekdays or time zone change
    # that day: reminders are keyed by instant, so the new time would otherwise look like a new dose.
    reminded: dict[str, set[datetime]] = {}  # local dose day -> dose instants already reminded
    for payload, dose_at in session.exec(
        select(OutboundMessage.payload, OutboundMessage.scheduled_for).where(
            OutboundMessage.patient_id == patient.id,
            OutboundMessage.kind == MessageKind.DOSE,
            OutboundMessage.status.in_((MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNKNOWN)),
            OutboundMessage.scheduled_for >= now - timedelta(days=2),
        )
    ).all():
        reminded.setdefault(json.loads(payload or "{}").get("day"), set()).add(dose_at)

    def second_for_its_day(want: DesiredReminder) -> bool:
        """A dose-day reminder for another dose time on a day whose dose was already reminded."""
        if want.kind not in DOSE_DAY_KINDS or want.payload.get("day") not in reminded:
            return False
        dose_at = (
            datetime.fromisoformat(want.payload["dose_local"]).astimezone(UTC)
            if want.kind == MessageKind.ANTIEMETIC
            else want.scheduled_for
        )
        return dose_at not in reminded[want.payload["day"]]

    seen: set[str] = set()
    for row in existing:
        want = desired.get(row.dedupe_key)
        if want is not None:
            seen.add(row.dedupe_key)
        if want is not None and row.status == MessageStatus.PENDING and second_for_its_day(want):
            want = None  # cancelled below, with the plan's reason
        if row.status == MessageStatus.CANCELLED:
            if (
                want is not None
                and (row.cancel_reason or "").startswith(PLAN_REASON_PREFIX)
                and want.send_at >= now - options.late_grace
                and not second_for_its_day(want)
            ):
                _apply(row, want, patient, now, revive=True)
            continue
        if want is None:
            if row.expires_at is not None and row.expires_at <= now:
                continue  # already past its use: the dispatcher expires it with the right reason
            row.status, row.cancel_reason = MessageStatus.CANCELLED, reason[:200]
            row.claim_token, row.next_attempt_at, row.updated_at = None, None, now
            session.add(row)
        elif row.status == MessageStatus.PENDING:
            _apply(row, want, patient, now, revive=False)
    new_rows = [
        _row_values(patient, key, want, now)
        for key, want in desired.items()
        if key not in seen and want.send_at >= now - options.late_grace and not second_for_its_day(want)
    ]
    session.flush()
    insert_ignoring_duplicates(session, new_rows)


def _apply(row: OutboundMessage, want: DesiredReminder, patient: Patient, now: datetime, revive: bool) -> None:
    payload = json.dumps(want.payload, sort_keys=True)
    if not revive and (row.payload, row.send_at, row.expires_at) == (payload, want.send_at, want.expires_at):
        return
    row.payload, row.send_at, row.expires_at, row.updated_at = payload, want.send_at, want.expires_at, now
    if revive or row.attempts == 0:
        row.next_attempt_at = want.send_at  # a retry in progress keeps its back-off
    if revive:
        row.status, row.cancel_reason, row.channel = MessageStatus.PENDING, None, patient.channel_preference
        row.to_address = patient.phone_e164


def _row_values(patient: Patient, key: str, want: DesiredReminder, now: datetime) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "patient_id": patient.id,
        "kind": want.kind,
        "channel": patient.channel_preference,
        "to_address": patient.phone_e164,
        "scheduled_for": want.scheduled_for,
        "send_at": want.send_at,
        "expires_at": want.expires_at,
        "status": MessageStatus.PENDING,
        "next_attempt_at": want.send_at,
        "attempts": 0,
        "payload": json.dumps(want.payload, sort_keys=True),
        "created_at": now,
        "updated_at": now,
    }


def patients_to_plan(session: Session) -> list[int]:
    """Patients whose current plan is not discontinued, plus any with planned rows still waiting to go out."""
    latest = (
        select(TreatmentPlan.patient_id, sa.func.max(TreatmentPlan.version).label("version"))
        .group_by(TreatmentPlan.patient_id)
        .subquery()
    )
    live = (
        select(TreatmentPlan.patient_id)
        .join(
            latest, sa.and_(TreatmentPlan.patient_id == latest.c.patient_id, TreatmentPlan.version == latest.c.version)
        )
        .where(TreatmentPlan.status != PlanStatus.DISCONTINUED.value)
    )
    waiting = select(OutboundMessage.patient_id).where(
        OutboundMessage.status.in_((MessageStatus.PENDING, MessageStatus.CLAIMED)),
        OutboundMessage.kind.in_(PLANNED_KINDS),
    )
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
