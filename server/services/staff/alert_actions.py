"""What the care team does with an alert: acknowledge (stops paging), assign, note, resolve with an outcome,
and act on the label (a plan change taken from the alert).

Each action takes the AppContext, owns its transaction, writes an AlertEvent and an audit row with the change,
and publishes an inbox event after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, model_validator
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...errors import Conflict, FieldError
from ...forms import BlankToNone, FormModel, Text, plain
from ...models import Alert, AlertEvent, OutboundMessage, Staff, TreatmentPlan
from ..audit import audit
from ..clinic_scope import alert_for_staff
from ..plans import ScheduleChange, change_plan

NOTE_MAX = 2000
OUTCOME_MAX = 500


# --------------------------------------------------------------------------- the forms on an alert card


class AlertForm(FormModel):
    """A button on an alert card; `back` is the page to return to."""

    back: str = ""


class Assignment(AlertForm):
    """Assign the alert to a colleague (blank: nobody)."""

    messages: ClassVar[dict[str, str]] = {"assignee_id": "Choose a member of the care team."}

    assignee_id: BlankToNone[int] = None


def _note(text: str) -> str:
    """A note says something, briefly."""
    if not text:
        raise plain("Write the note first.")
    if len(text) > NOTE_MAX:
        raise plain(f"Keep notes under {NOTE_MAX} characters.")
    return text


class Note(AlertForm):
    """A note on the alert's history."""

    messages: ClassVar[dict[str, str]] = {"note": "Write the note first."}

    note: Annotated[Text, AfterValidator(_note)] = ""


class Resolution(AlertForm):
    """How the alert was closed: one of the usual outcomes, free text, or both ("Dose held: until Monday")."""

    outcome: Text = ""
    outcome_detail: Text = ""

    @model_validator(mode="after")
    def _says_what_was_done(self) -> Resolution:
        """The outcome is kept with the alert: it must say something, briefly."""
        if not self.text:
            raise plain("Say what was done (the outcome is kept with the alert).", field="outcome")
        if len(self.text) > OUTCOME_MAX:
            raise plain(f"Keep the outcome under {OUTCOME_MAX} characters.", field="outcome")
        return self

    @property
    def text(self) -> str:
        """The outcome as stored."""
        if self.outcome and self.outcome_detail:
            return f"{self.outcome}: {self.outcome_detail}"
        return self.outcome or self.outcome_detail


# --------------------------------------------------------------------------- the actions


def _publish(ctx: AppContext, alert: Alert, kind: str) -> None:
    """Tell the live inboxes (after the commit) that this alert changed."""
    ctx.publish("inbox", {"alert_id": alert.id, "patient_id": alert.patient_id, "kind": kind, "tier": alert.tier})


def _cancel_pending_pages(session: Session, alert: Alert, now: datetime, why: str) -> int:
    """Pages not yet handed to the provider are no longer needed once a person has the alert."""
    pages = session.exec(
        select(OutboundMessage).where(
            OutboundMessage.alert_id == alert.id, OutboundMessage.kind == "page", OutboundMessage.status == "pending"
        )
    ).all()
    for page in pages:
        page.status = "cancelled"
        page.cancel_reason = why
        page.updated_at = now
        session.add(page)
    return len(pages)


def _acknowledge(session: Session, alert: Alert, staff: Staff, now: datetime) -> bool:
    """In the caller's transaction. Stops escalation: no further page goes out for this alert; an unassigned alert
    becomes the acknowledging person's."""
    if alert.status != "open":
        return False
    alert.status = "acknowledged"
    alert.acknowledged_at = now
    alert.acknowledged_by_staff_id = staff.id
    alert.next_page_at = None
    alert.updated_at = now
    session.add(alert)
    cancelled = _cancel_pending_pages(session, alert, now, f"acknowledged by {staff.name}")
    detail = f"acknowledged by {staff.name} ({staff.role})"
    if alert.assigned_to_staff_id is None:
        # Whoever acknowledges has the alert, unless someone was already given it (issue 12 item 2).
        alert.assigned_to_staff_id = staff.id
        detail += f"; assigned to {staff.name}"
    if cancelled:
        detail += f"; {cancelled} unsent page{'s' if cancelled != 1 else ''} cancelled"
    session.add(AlertEvent(alert_id=alert.id, kind="acknowledged", at=now, staff_id=staff.id, detail=detail))
    return True


def acknowledge_alert(ctx: AppContext, staff: Staff, alert_id: int, *, ip: str | None) -> Alert:
    """Someone has the alert: escalation stops and unsent pages are cancelled."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        changed = _acknowledge(session, alert, staff, now)
        if changed:
            audit(
                session,
                staff_id=staff.id,
                action="alert.acknowledge",
                patient_id=patient.id,
                now=now,
                ip=ip,
                detail=f"alert #{alert.id} {alert.rule} ({alert.tier})",
            )
    if changed:
        _publish(ctx, alert, "acknowledged")
    return alert


def assign_alert(ctx: AppContext, staff: Staff, alert_id: int, assignee_id: int | None, *, ip: str | None) -> Alert:
    """Give the alert to an active colleague of the clinic (None: nobody)."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        name = "nobody"
        if assignee_id is not None:
            assignee = session.get(Staff, assignee_id)
            if assignee is None or assignee.clinic_id != staff.clinic_id or not assignee.active:
                raise FieldError("assignee_id", "Choose an active member of the care team.")
            name = assignee.name
        alert.assigned_to_staff_id = assignee_id
        alert.updated_at = now
        session.add(alert)
        session.add(
            AlertEvent(
                alert_id=alert.id,
                kind="assigned",
                at=now,
                staff_id=staff.id,
                detail=f"assigned to {name} by {staff.name}",
            )
        )
        audit(
            session,
            staff_id=staff.id,
            action="alert.assign",
            patient_id=patient.id,
            now=now,
            ip=ip,
            detail=f"alert #{alert.id} to {name}",
        )
    _publish(ctx, alert, "assigned")
    return alert


def add_note(ctx: AppContext, staff: Staff, alert_id: int, note: Note, *, ip: str | None) -> Alert:
    """Add a note to the alert's history."""
    now = ctx.clock.now()
    note_text = note.note
    with session_scope(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id)
        session.add(AlertEvent(alert_id=alert.id, kind="note", at=now, staff_id=staff.id, detail=note_text))
        alert.updated_at = now
        session.add(alert)
        audit(
            session,
            staff_id=staff.id,
            action="alert.note",
            patient_id=patient.id,
            now=now,
            ip=ip,
            detail=f"alert #{alert.id}",
        )
    _publish(ctx, alert, "note")
    return alert


def resolve_alert(ctx: AppContext, staff: Staff, alert_id: int, resolution: Resolution, *, ip: str | None) -> Alert:
    """Close the alert with its outcome; the next matching entry opens a new one (§4d)."""
    now = ctx.clock.now()
    outcome = resolution.text
    with session_scope(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        if alert.status == "resolved":
            raise Conflict("This alert was already resolved.")
        _acknowledge(session, alert, staff, now)
        alert.status = "resolved"
        alert.resolved_at = now
        alert.resolved_by_staff_id = staff.id
        alert.outcome = outcome
        alert.next_page_at = None
        alert.updated_at = now
        session.add(alert)
        session.add(AlertEvent(alert_id=alert.id, kind="resolved", at=now, staff_id=staff.id, detail=outcome))
        audit(
            session,
            staff_id=staff.id,
            action="alert.resolve",
            patient_id=patient.id,
            now=now,
            ip=ip,
            detail=f"alert #{alert.id} {alert.rule}: {outcome}",
        )
    _publish(ctx, alert, "resolved")
    return alert


def act_on_alert(
    ctx: AppContext,
    staff: Staff,
    alert_id: int,
    *,
    operation: str,
    reason: str,
    level: int | None = None,
    schedule: ScheduleChange | None = None,
    dexamethasone_on_hold: str | None = None,
    ip: str | None = None,
) -> TreatmentPlan:
    """A plan change taken from an alert: the hold remembers the alert's rule (for R-RESUME), the alert records
    the action, and an open alert is acknowledged (a person has clearly seen it: stop paging)."""
    with Session(ctx.engine) as session:
        alert, _ = alert_for_staff(session, alert_id, staff.clinic_id)
    if alert.status == "resolved":
        raise Conflict("This alert was already resolved; act from the patient's page.")
    plan = change_plan(
        ctx,
        alert.patient_id,
        staff_id=staff.id,
        operation=operation,
        reason=reason,
        level=level,
        hold_rule=alert.rule if operation == "hold" else None,
        schedule=schedule,
        dexamethasone_on_hold=dexamethasone_on_hold,
        ip=ip,
    )
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id, lock=True)
        _acknowledge(session, alert, staff, now)
        session.add(
            AlertEvent(
                alert_id=alert.id,
                kind="action",
                at=now,
                staff_id=staff.id,
                detail=f"{operation}: plan v{plan.version}, {plan.regimen} level {plan.dose_level}, "
                f"{plan.status}. {reason.strip()}",
            )
        )
        alert.updated_at = now
        session.add(alert)
    _publish(ctx, alert, "action")
    return plan
