"""The live alert inbox: the page, one card at a time (for live updates), the resume panel, the Server-Sent
Events stream, and the alert actions (acknowledge, assign, note, resolve, act on the label)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator

import anyio
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.response import Redirect, Response, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage
from sqlmodel import Session, select

from ..auth import requires_staff
from ..context import AppContext, Ctx
from ..errors import Conflict, FieldError
from ..live import INBOX_CHANNEL
from ..models import Patient, Staff
from ..services import inbox
from .staff_common import FORM, client_ip, me, render, safe_back, see_other

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream, and re-checks the session
RETRY_MS = 2000  # how soon the browser reconnects after the stream drops


def staff_choices_of(session: Session, staff: Staff) -> list[Staff]:
    """The clinic's active staff, for "assign to"."""
    return list(session.exec(select(Staff).where(Staff.clinic_id == staff.clinic_id, Staff.active.is_(True))
                             .order_by(Staff.name)).all())


def inbox_page(request: Request, ctx: AppContext, *, status_code: int = 200, error: dict | None = None,
               tier: str = "", mine: bool = False) -> Template:
    """The inbox (also re-rendered with a 422 message when an action on one of its cards had bad input)."""
    staff = me(request)
    now = ctx.clock.now()
    flt = inbox.InboxFilter(tier=tier if tier in inbox.TIER_WORDS else "", mine=mine)
    with Session(ctx.engine) as session:
        views = inbox.open_alerts(session, staff, now, flt)
        ready = inbox.resume_ready(session, staff, now)
        choices = staff_choices_of(session, staff)
    inbox.record_views(ctx, staff, "inbox.view", [v.patient.id for v in views] + [r.patient.id for r in ready],
                       ip=client_ip(request))
    return render(request, "staff/inbox.html", nav="inbox", status_code=status_code, views=views, ready=ready,
                  counts=inbox.tier_counts(views), staff_choices=choices, outcomes=inbox.OUTCOMES, error=error,
                  filter=flt, now=now)


@get("/staff/inbox", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def inbox_view(request: Request, ctx: Ctx, tier: FromQuery[str] = "", mine: FromQuery[bool] = False) -> Template:
    return inbox_page(request, ctx, tier=tier, mine=mine)


@get("/staff/inbox/alerts/{alert_id:int}", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def alert_card(request: Request, ctx: Ctx, alert_id: FromPath[int]) -> Template | Response:
    """One card, for the live inbox: 204 once the alert is resolved (the page removes the card)."""
    staff = me(request)
    with Session(ctx.engine) as session:
        view = inbox.alert_card(session, staff, alert_id, ctx.clock.now())
        choices = staff_choices_of(session, staff)
    inbox.record_view(ctx, staff, "alert.view", patient_id=view.patient.id, detail=f"alert #{alert_id}",
                      ip=client_ip(request))
    if view.alert.status == "resolved":
        return Response(content=b"", status_code=204)
    return render(request, "staff/_alert_card.html", view=view, staff_choices=choices, outcomes=inbox.OUTCOMES,
                  error=None, back="/staff/inbox")


@get("/staff/inbox/index", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def inbox_index(request: Request, ctx: Ctx) -> Response:
    """What the live page re-syncs against (after a reconnect, and every minute): ids and change stamps only."""
    with Session(ctx.engine) as session:
        index = inbox.inbox_index(session, me(request))
    return Response({"alerts": index}, headers={"Cache-Control": "no-store"})


@get("/staff/inbox/resume", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def resume_panel(request: Request, ctx: Ctx) -> Template:
    staff = me(request)
    with Session(ctx.engine) as session:
        ready = inbox.resume_ready(session, staff, ctx.clock.now())
    if ready:
        inbox.record_views(ctx, staff, "inbox.view", [r.patient.id for r in ready], ip=client_ip(request),
                           detail="resume panel")
    return render(request, "staff/_resume_panel.html", ready=ready)


# --------------------------------------------------------------------------- the live stream


def _clinic_of_patient(ctx: AppContext, patient_id: int) -> int | None:
    with Session(ctx.engine) as session:
        patient = session.get(Patient, patient_id)
        return patient.clinic_id if patient else None


def _session_still_valid(ctx: AppContext, staff_id: int, version: int) -> bool:
    with Session(ctx.engine) as session:
        staff = session.get(Staff, staff_id)
        return bool(staff and staff.active and staff.session_version == version)


@get("/staff/inbox/stream", guards=[requires_staff], include_in_schema=False)
async def inbox_stream(request: Request, ctx: Ctx, channels: NamedDependency[ChannelsPlugin]) -> ServerSentEvent:
    """Alert changes of the staff member's clinic as Server-Sent Events (`event: alert`, data: the ids).

    The page fetches the changed card itself, so an event carries no health data. The stream ends when the person's
    sessions are revoked (checked at each keep-alive).
    """
    staff = me(request)
    clinic_of: dict[int, int | None] = {}

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

        async def on_event(data: bytes) -> None:
            if queue.full():
                queue.get_nowait()  # drop the oldest: the page re-reads the database anyway
            queue.put_nowait(data)

        subscriber = await channels.subscribe(INBOX_CHANNEL)
        try:
            async with subscriber.run_in_background(on_event, join=False):
                yield ServerSentEventMessage(event="hello", data="{}", retry=RETRY_MS)
                while True:
                    try:
                        raw = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        if not await anyio.to_thread.run_sync(_session_still_valid, ctx, staff.id,
                                                              staff.session_version):
                            yield ServerSentEventMessage(event="signed-out", data="{}")
                            return
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    event = _decode(raw)
                    if event is None:
                        continue
                    patient_id = event.get("patient_id")
                    if patient_id not in clinic_of:
                        clinic_of[patient_id] = await anyio.to_thread.run_sync(_clinic_of_patient, ctx, patient_id)
                    if clinic_of[patient_id] != staff.clinic_id:
                        continue
                    yield ServerSentEventMessage(event="alert", data=json.dumps(
                        {k: event.get(k) for k in ("alert_id", "patient_id", "kind", "tier")}))
        finally:
            # The browser went away: anyio cancels us; unsubscribing must still happen (shielded).
            with anyio.CancelScope(shield=True):
                await channels.unsubscribe(subscriber, INBOX_CHANNEL)

    return ServerSentEvent(events())


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) and isinstance(event.get("alert_id"), int) else None


# --------------------------------------------------------------------------- actions on an alert


@dataclass
class BackForm:
    back: str = ""


@dataclass
class AssignForm:
    assignee_id: str = ""
    back: str = ""


@dataclass
class NoteForm:
    note: str = ""
    back: str = ""


@dataclass
class ResolveForm:
    outcome: str = ""
    outcome_detail: str = ""
    back: str = ""


def _after(request: Request, ctx: AppContext, alert_id: int, back: str, action):
    """Run an alert action; on bad input show the page again with the message next to the alert (422)."""
    target = safe_back(back)
    try:
        action()
    except (FieldError, Conflict) as exc:
        error = {"alert_id": alert_id, "field": getattr(exc, "field", None) or "alert", "message": exc.message}
        if target.startswith("/staff/patients/"):
            from .staff_patients import patient_page

            try:
                patient_id = int(target.split("/")[3])
            except (IndexError, ValueError):
                patient_id = None
            if patient_id is not None:
                return patient_page(request, ctx, patient_id, status_code=422, error=error)
        return inbox_page(request, ctx, status_code=422, error=error)
    anchor = f"#alert-{alert_id}" if "#" not in target else ""
    return see_other(target + anchor)


@post("/staff/alerts/{alert_id:int}/acknowledge", guards=[requires_staff], sync_to_thread=True,
      include_in_schema=False)
def acknowledge(request: Request, ctx: Ctx, alert_id: FromPath[int], data: Annotated[BackForm, FORM]) -> Template | Redirect:
    return _after(request, ctx, alert_id, data.back,
                  lambda: inbox.acknowledge_alert(ctx, me(request), alert_id, ip=client_ip(request)))


@post("/staff/alerts/{alert_id:int}/assign", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def assign(request: Request, ctx: Ctx, alert_id: FromPath[int], data: Annotated[AssignForm, FORM]) -> Template | Redirect:
    def action():
        text = data.assignee_id.strip()
        try:
            assignee = int(text) if text else None
        except ValueError:
            raise FieldError("assignee_id", "Choose a member of the care team.") from None
        inbox.assign_alert(ctx, me(request), alert_id, assignee, ip=client_ip(request))

    return _after(request, ctx, alert_id, data.back, action)


@post("/staff/alerts/{alert_id:int}/note", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def note(request: Request, ctx: Ctx, alert_id: FromPath[int], data: Annotated[NoteForm, FORM]) -> Template | Redirect:
    return _after(request, ctx, alert_id, data.back,
                  lambda: inbox.add_note(ctx, me(request), alert_id, data.note, ip=client_ip(request)))


@post("/staff/alerts/{alert_id:int}/resolve", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def resolve(request: Request, ctx: Ctx, alert_id: FromPath[int], data: Annotated[ResolveForm, FORM]) -> Template | Redirect:
    outcome = data.outcome.strip()
    if data.outcome_detail.strip():
        outcome = f"{outcome}: {data.outcome_detail.strip()}" if outcome else data.outcome_detail.strip()
    return _after(request, ctx, alert_id, data.back,
                  lambda: inbox.resolve_alert(ctx, me(request), alert_id, outcome, ip=client_ip(request)))


@post("/staff/alerts/{alert_id:int}/plan", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def act(request: Request, ctx: Ctx, alert_id: FromPath[int], data: Annotated[inbox.PlanForm, FORM]) -> Template | Redirect:
    return _after(request, ctx, alert_id, data.back,
                  lambda: inbox.act_on_alert_form(ctx, me(request), alert_id, data, ip=client_ip(request)))


ROUTES = [inbox_view, alert_card, inbox_index, resume_panel, inbox_stream, acknowledge, assign, note, resolve, act]
