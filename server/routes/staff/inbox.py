# Over 400 lines on purpose: the inbox page, its live stream and the alert actions share one router.
"""The live alert inbox: the page, one card at a time (for live updates), the resume panel, the Server-Sent
Events stream, and the alert actions (acknowledge, assign, note, resolve, act on the label).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage
from sqlmodel import Session

from ...context import AppContext, Ctx
from ...errors import Conflict, FieldError, FieldErrors, Forbidden
from ...forms import FormModel
from ...live import INBOX_CHANNEL, RESYNC
from ...models import Patient, Staff
from ...services.audit import record_view, record_views
from ...services.clinic_scope import alert_for_staff, staff_choices
from ...services.staff import alert_actions, inbox
from ...services.staff.alert_actions import AlertForm, Assignment, Note, Resolution
from ...services.staff.plan_changes import ConfirmationNeeded, PlanChange, act_on_alert_with
from ...services.staff.wording import OUTCOMES, TIER_WORDS
from .common import (
    FORM,
    SignedInStaff,
    client_ip,
    confirmation,
    render,
    requires_plan_role,
    safe_back,
    see_other,
    when_refused,
)
from .patients import patient_page

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream, and re-checks the session
RETRY_MS = 2000  # how soon the browser reconnects after the stream drops


def _inbox_data(request: Request, ctx: AppContext, staff: Staff, flt: inbox.InboxFilter) -> dict[str, Any]:
    """One page of the inbox (with the resume panel), audited as viewed in one statement."""
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        ready = inbox.resume_ready(session, staff, now)
        result = inbox.inbox_groups(session, staff, now, flt, ready=ready)
        choices = staff_choices(session, staff)
    record_views(
        ctx,
        staff,
        "inbox.view",
        [g.patient.id for g in result.groups] + [r.patient.id for r in ready],
        ip=client_ip(request),
    )
    return {
        "result": result,
        "views": result.views,
        "ready": ready,
        "counts": result.counts.by_tier,
        "staff_choices": choices,
        "outcomes": OUTCOMES,
        "filter": flt,
        "now": now,
    }


def _filter(tier: str, mine: bool, page: int) -> inbox.InboxFilter:
    return inbox.InboxFilter(tier=tier if tier in TIER_WORDS else "", mine=mine, page=max(1, page))


def inbox_page(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    *,
    status_code: int = 200,
    error: dict[str, Any] | None = None,
    tier: str = "",
    mine: bool = False,
    page: int = 1,
    confirm: dict[str, Any] | None = None,
) -> Template:
    """The inbox (also re-rendered with a 422 message when an action on one of its alerts had bad input, or with
    the confirmation box of a risky plan change)."""
    data = _inbox_data(request, ctx, staff, _filter(tier, mine, page))
    return render(
        request, "staff/inbox.html", nav="inbox", status_code=status_code, error=error, confirm=confirm, **data
    )


@get("/inbox", sync_to_thread=True)
def inbox_view(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    tier: FromQuery[str] = "",
    mine: FromQuery[bool] = False,
    page: FromQuery[int] = 1,
) -> Template:
    """The inbox page."""
    return inbox_page(request, ctx, staff, tier=tier, mine=mine, page=page)


@get("/inbox/list", sync_to_thread=True)
def inbox_list(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    tier: FromQuery[str] = "",
    mine: FromQuery[bool] = False,
    page: FromQuery[int] = 1,
) -> Template:
    """The inbox's list alone, for the live page to swap in when an alert changes."""
    data = _inbox_data(request, ctx, staff, _filter(tier, mine, page))
    return render(request, "staff/_inbox_list.html", error=None, **data)


@get("/inbox/alerts/{alert_id:int}", sync_to_thread=True)
def alert_card(request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int]) -> Template | Response:
    """One card, for the live inbox: 204 once the alert is resolved (the page removes the card)."""
    with Session(ctx.engine) as session:
        view = inbox.alert_card(session, staff, alert_id, ctx.clock.now())
        choices = staff_choices(session, staff)
    record_view(
        ctx, staff, "alert.view", patient_id=view.patient.id, detail=f"alert #{alert_id}", ip=client_ip(request)
    )
    if view.alert.status == "resolved":
        return Response(content=b"", status_code=204)
    return render(
        request,
        "staff/_alert_card.html",
        view=view,
        staff_choices=choices,
        outcomes=OUTCOMES,
        error=None,
        back="/staff/inbox",
    )


@get("/alerts/{alert_id:int}", sync_to_thread=True)
def alert_link(ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int]) -> Redirect:
    """Where an on-call page's link lands: the alert's card on its patient's page (another clinic's: not found)."""
    with Session(ctx.engine) as session:
        alert, patient = alert_for_staff(session, alert_id, staff.clinic_id)
    return Redirect(path=f"/staff/patients/{patient.id}#alert-{alert.id}", status_code=302)


@get("/inbox/index", sync_to_thread=True)
def inbox_index(ctx: Ctx, staff: SignedInStaff) -> Response[Any]:
    """What the live page re-syncs against (after a reconnect, and every minute): ids and change stamps only."""
    with Session(ctx.engine) as session:
        index = inbox.inbox_index(session, staff)
    return Response({"alerts": index}, headers={"Cache-Control": "no-store"})


@get("/inbox/resume", sync_to_thread=True)
def resume_panel(request: Request, ctx: Ctx, staff: SignedInStaff) -> Template:
    """The panel of held patients ready to resume, for the live page."""
    with Session(ctx.engine) as session:
        ready = inbox.resume_ready(session, staff, ctx.clock.now())
    if ready:
        record_views(
            ctx, staff, "inbox.view", [r.patient.id for r in ready], ip=client_ip(request), detail="resume panel"
        )
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


@get("/inbox/stream")
async def inbox_stream(ctx: Ctx, staff: SignedInStaff, channels: NamedDependency[ChannelsPlugin]) -> ServerSentEvent:
    """Alert changes of the staff member's clinic as Server-Sent Events (`event: alert`, data: the ids; `event:
    resync` when events may have been missed).

    The page fetches the changed card itself, so an event carries no health data. The stream ends when the person's
    sessions are revoked (checked at each keep-alive).
    """
    clinic_of: dict[int, int | None] = {}

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

        async def on_event(data: bytes) -> None:
            if queue.full():
                queue.get_nowait()  # drop the oldest: the page re-reads the database anyway
            queue.put_nowait(data)

        # Shielded both ways: a browser that leaves while it is being subscribed must not leave a subscriber
        # behind (nor a half-done subscription), and one that leaves later is always unsubscribed.
        with anyio.CancelScope(shield=True):
            subscriber = await channels.subscribe(INBOX_CHANNEL)
        try:
            async with subscriber.run_in_background(on_event, join=False):
                yield ServerSentEventMessage(event="hello", data="{}", retry=RETRY_MS)
                while True:
                    try:
                        raw = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                    except TimeoutError:
                        if not await anyio.to_thread.run_sync(
                            _session_still_valid, ctx, staff.id, staff.session_version
                        ):
                            yield ServerSentEventMessage(event="signed-out", data="{}")
                            return
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    if raw == RESYNC:  # events may have been missed: the page re-reads its list
                        yield ServerSentEventMessage(event="resync", data="{}")
                        continue
                    event = _decode(raw)
                    if event is None:
                        continue
                    patient_id = event.get("patient_id")
                    if patient_id not in clinic_of:
                        clinic_of[patient_id] = await anyio.to_thread.run_sync(_clinic_of_patient, ctx, patient_id)
                    if clinic_of[patient_id] != staff.clinic_id:
                        continue
                    yield ServerSentEventMessage(
                        event="alert",
                        data=json.dumps({k: event.get(k) for k in ("alert_id", "patient_id", "kind", "tier")}),
                    )
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


def _page_after_refusal(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    back: str,
    error: dict[str, Any] | None,
    *,
    status_code: int = 422,
    confirm: dict[str, Any] | None = None,
) -> Template:
    """The page the card was on, again, with the message next to the alert (422) or a confirmation box."""
    target = safe_back(back)
    if target.startswith("/staff/patients/"):
        try:
            patient_id = int(target.split("/")[3].split("#")[0].split("?")[0])
        except (IndexError, ValueError):
            patient_id = None
        if patient_id is not None:
            return patient_page(request, ctx, staff, patient_id, status_code=status_code, error=error, confirm=confirm)
    return inbox_page(request, ctx, staff, status_code=status_code, error=error, confirm=confirm)


def _after(
    request: Request, ctx: AppContext, staff: Staff, alert_id: int, back: str, action: Callable[[], object]
) -> Template | Redirect:
    """Run an alert action; on bad input show the page again with the message next to the alert (422); a risky
    plan change comes back with its confirmation box; a role that may not do it is refused (403)."""
    target = safe_back(back)
    try:
        action()
    except ConfirmationNeeded as exc:
        confirm = confirmation(request, exc, f"/staff/alerts/{alert_id}/plan", target)
        return _page_after_refusal(request, ctx, staff, back, None, status_code=200, confirm=confirm)
    except Forbidden as exc:
        error = {"alert_id": alert_id, "field": "operation", "message": str(exc)}
        return _page_after_refusal(request, ctx, staff, back, error, status_code=403)
    except (FieldError, Conflict) as exc:
        error = {"alert_id": alert_id, "field": getattr(exc, "field", None) or "alert", "message": exc.message}
        return _page_after_refusal(request, ctx, staff, back, error)
    anchor = f"#alert-{alert_id}" if "#" not in target else ""
    return see_other(target + anchor)


def _alert_form_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    error = {"alert_id": request.path_params["alert_id"], "field": errors.field, "message": errors.message}
    return _page_after_refusal(request, ctx, staff, values.get("back", ""), error)


def _refused(model: type[FormModel]) -> dict[Any, Any]:
    return when_refused(model, _alert_form_refused)


@post("/alerts/{alert_id:int}/acknowledge", sync_to_thread=True, exception_handlers=_refused(AlertForm))
def acknowledge(
    request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int], data: Annotated[AlertForm, FORM]
) -> Template | Redirect:
    """I have it: stops the paging."""
    return _after(
        request,
        ctx,
        staff,
        alert_id,
        data.back,
        lambda: alert_actions.acknowledge_alert(ctx, staff, alert_id, ip=client_ip(request)),
    )


@post("/alerts/{alert_id:int}/assign", sync_to_thread=True, exception_handlers=_refused(Assignment))
def assign(
    request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int], data: Annotated[Assignment, FORM]
) -> Template | Redirect:
    """Give the alert to a colleague (or nobody)."""
    return _after(
        request,
        ctx,
        staff,
        alert_id,
        data.back,
        lambda: alert_actions.assign_alert(ctx, staff, alert_id, data.assignee_id, ip=client_ip(request)),
    )


@post("/alerts/{alert_id:int}/note", sync_to_thread=True, exception_handlers=_refused(Note))
def note(
    request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int], data: Annotated[Note, FORM]
) -> Template | Redirect:
    """Add a note to the alert's history."""
    return _after(
        request,
        ctx,
        staff,
        alert_id,
        data.back,
        lambda: alert_actions.add_note(ctx, staff, alert_id, data, ip=client_ip(request)),
    )


@post("/alerts/{alert_id:int}/resolve", sync_to_thread=True, exception_handlers=_refused(Resolution))
def resolve(
    request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int], data: Annotated[Resolution, FORM]
) -> Template | Redirect:
    """Close the alert with its outcome."""
    return _after(
        request,
        ctx,
        staff,
        alert_id,
        data.back,
        lambda: alert_actions.resolve_alert(ctx, staff, alert_id, data, ip=client_ip(request)),
    )


@post(
    "/alerts/{alert_id:int}/plan",
    sync_to_thread=True,
    exception_handlers=_refused(PlanChange),
    guards=[requires_plan_role],
)
def act(
    request: Request, ctx: Ctx, staff: SignedInStaff, alert_id: FromPath[int], data: Annotated[PlanChange, FORM]
) -> Template | Redirect:
    """Act on the label from the alert (hold, reduce, resume, discontinue, change the schedule)."""
    return _after(
        request,
        ctx,
        staff,
        alert_id,
        data.back,
        lambda: act_on_alert_with(ctx, staff, alert_id, data, ip=client_ip(request)),
    )


ROUTES: list[Any] = [
    inbox_view,
    inbox_list,
    alert_card,
    alert_link,
    inbox_index,
    resume_panel,
    inbox_stream,
    acknowledge,
    assign,
    note,
    resolve,
    act,
]
