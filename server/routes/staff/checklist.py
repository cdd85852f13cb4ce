"""The start-of-therapy checklist's forms on a patient's page (issue 14 item 1): tick and un-tick an item.

The checklist itself is drawn by the patient's page (server/routes/staff/patients.py, `staff/_checklist.html`); a
refused tick shows that page again (422) with the message beside the checklist, and nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import Field

from ...auth import current_staff
from ...context import AppContext, Ctx
from ...errors import FieldError, FieldErrors, Forbidden
from ...forms import BlankToNone, FormModel, Text
from ...models import Staff
from ...services.pqi.checklist import CHECKLIST_ITEMS, CHECKLIST_ROLES, TickInput, tick_item, untick_item
from .common import FORM, SignedInStaff, client_ip, see_other, set_flash, when_refused
from .patients import patient_page


def requires_checklist_role(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of the checklist's forms: the clinical roles keep the checklist; an IT administrator may not."""
    staff = current_staff(connection)
    if staff is not None and staff.role not in CHECKLIST_ROLES:
        raise PermissionDeniedException(
            "The start-of-therapy checklist is kept by the care team (pharmacist, nurse, nurse practitioner, physician)."
        )


class ChecklistTick(FormModel):
    """A tick: the indication (dose and schedule), the detail (e.g. the 5-HT3 antagonist) and an optional note."""

    messages: ClassVar[dict[str, str]] = {
        "indication": "Choose the indication on the prescription.",
        "detail": "Keep the detail to 200 characters.",
        "note": "Keep the note to 500 characters.",
    }

    indication: BlankToNone[Text] = None
    detail: BlankToNone[Annotated[Text, Field(max_length=200)]] = None
    note: BlankToNone[Annotated[Text, Field(max_length=500)]] = None
    prescriber_confirmed: BlankToNone[Text] = None  # a checkbox: "yes" when ticked


def _show_refusal(
    request: Request, ctx: AppContext, staff: Staff, patient_id: int, item: str, field: str, message: str, code: int
) -> Template:
    error: dict[str, Any] = {"form": "checklist", "item": item, "field": field, "message": message}
    return patient_page(request, ctx, staff, patient_id, status_code=code, error=error)


def _tick_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    params = request.path_params
    return _show_refusal(request, ctx, staff, params["patient_id"], params["item"], errors.field, errors.message, 422)


def _words(item: str) -> str:
    spec = CHECKLIST_ITEMS.get(item)
    return spec.label if spec else item


@post(
    "/patients/{patient_id:int}/checklist/{item:str}",
    sync_to_thread=True,
    guards=[requires_checklist_role],
    exception_handlers=when_refused(ChecklistTick, _tick_refused),
)
def tick(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    patient_id: FromPath[int],
    item: FromPath[str],
    data: Annotated[ChecklistTick, FORM],
) -> Template | Redirect:
    """Tick one item of the patient's start-of-therapy checklist (who and when recorded)."""
    given = TickInput(
        indication=data.indication,
        detail=data.detail,
        note=data.note,
        prescriber_confirmed=data.prescriber_confirmed == "yes",
    )
    try:
        tick_item(ctx, staff, patient_id, item, given, ip=client_ip(request))
    except Forbidden as exc:
        return _show_refusal(request, ctx, staff, patient_id, item, "item", str(exc), 403)
    except FieldError as exc:
        return _show_refusal(request, ctx, staff, patient_id, item, exc.field, exc.message, 422)
    set_flash(request, notice=f"Checklist: ticked “{_words(item)}”.")
    return see_other(f"/staff/patients/{patient_id}#checklist")


@post("/patients/{patient_id:int}/checklist/{item:str}/undo", sync_to_thread=True, guards=[requires_checklist_role])
def untick(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], item: FromPath[str]
) -> Template | Redirect:
    """Un-tick one item (the tick stays in the history, with who undid it and when)."""
    try:
        untick_item(ctx, staff, patient_id, item, ip=client_ip(request))
    except Forbidden as exc:
        return _show_refusal(request, ctx, staff, patient_id, item, "item", str(exc), 403)
    except FieldError as exc:
        return _show_refusal(request, ctx, staff, patient_id, item, exc.field, exc.message, 422)
    set_flash(request, notice=f"Checklist: un-ticked “{_words(item)}”.")
    return see_other(f"/staff/patients/{patient_id}#checklist")


ROUTES: list[Any] = [tick, untick]
