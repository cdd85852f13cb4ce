"""Administration (admins only: the router's `requires_admin` guard): staff accounts of the clinic, and the
audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import Session

from ...context import AppContext, Ctx
from ...errors import FieldError, FieldErrors
from ...models import Staff, StaffRole
from ...services import audit
from ...services.staff import admin as accounts_admin
from ...services.staff import auth as staff_auth
from ...services.staff.admin import NewStaff
from .common import FORM, SignedInStaff, client_ip, render, see_other, set_flash, submitted, when_refused


def _staff_page(
    request: Request,
    ctx: AppContext,
    admin: Staff,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The accounts page; `form` is the new-account form as typed (the password is never shown again)."""
    return render(
        request,
        "staff/admin_staff.html",
        nav="admin",
        status_code=status_code,
        people=accounts_admin.list_staff(ctx.engine, admin.clinic_id),
        form={**(form or {}), "password": ""},
        errors=errors or {},
        roles=[r.value for r in StaffRole],
    )


@get("/staff", sync_to_thread=True)
def staff_list(request: Request, ctx: Ctx, staff: SignedInStaff) -> Template:
    """The clinic's staff accounts."""
    return _staff_page(request, ctx, staff)


def _new_staff_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    return _staff_page(request, ctx, staff, form=values, errors=errors.errors, status_code=422)


@post("/staff", sync_to_thread=True, exception_handlers=when_refused(NewStaff, _new_staff_refused))
def staff_create(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[NewStaff, FORM]
) -> Template | Redirect:
    """Create an account in the clinic."""
    try:
        created = accounts_admin.create_staff_account(ctx, staff, data, ip=client_ip(request))
    except FieldError as exc:
        return _staff_page(
            request, ctx, staff, form=submitted(request), errors={exc.field: exc.message}, status_code=422
        )
    set_flash(request, notice=f"Created {created.role} account {created.email}.")
    return see_other("/staff/admin/staff")


def _account_action(request: Request, ctx: AppContext, admin: Staff, action: Callable[[], str]) -> Template | Redirect:
    try:
        message = action()
    except FieldError as exc:
        return _staff_page(request, ctx, admin, errors={exc.field: exc.message}, status_code=422)
    set_flash(request, notice=message)
    return see_other("/staff/admin/staff")


@post("/staff/{staff_id:int}/deactivate", sync_to_thread=True)
def staff_deactivate(request: Request, ctx: Ctx, staff: SignedInStaff, staff_id: FromPath[int]) -> Template | Redirect:
    """Deactivate an account (its sessions end)."""

    def action() -> str:
        person = accounts_admin.set_staff_active(ctx, staff, staff_id, False, ip=client_ip(request))
        return f"{person.name} can no longer sign in; their sessions ended."

    return _account_action(request, ctx, staff, action)


@post("/staff/{staff_id:int}/activate", sync_to_thread=True)
def staff_activate(request: Request, ctx: Ctx, staff: SignedInStaff, staff_id: FromPath[int]) -> Template | Redirect:
    """Reactivate an account."""

    def action() -> str:
        person = accounts_admin.set_staff_active(ctx, staff, staff_id, True, ip=client_ip(request))
        return f"{person.name} can sign in again."

    return _account_action(request, ctx, staff, action)


@post("/staff/{staff_id:int}/revoke", sync_to_thread=True)
def staff_revoke(request: Request, ctx: Ctx, staff: SignedInStaff, staff_id: FromPath[int]) -> Template | Redirect:
    """Sign a colleague out on every device."""

    def action() -> str:
        people = {p.id: p for p in accounts_admin.list_staff(ctx.engine, staff.clinic_id)}
        if staff_id not in people:
            raise FieldError("staff_id", "No such staff member in this clinic.")
        staff_auth.sign_out_everywhere(ctx, staff_id, ip=client_ip(request), by_staff_id=staff.id)
        return f"{people[staff_id].name} was signed out on every device."

    return _account_action(request, ctx, staff, action)


@post("/staff/{staff_id:int}/reset-second-factor", sync_to_thread=True)
def staff_reset_second_factor(
    request: Request, ctx: Ctx, staff: SignedInStaff, staff_id: FromPath[int]
) -> Template | Redirect:
    """Turn off a colleague's two-step sign-in (a lost phone); audited, and they are signed out everywhere."""

    def action() -> str:
        person = accounts_admin.reset_second_factor(ctx, staff, staff_id, ip=client_ip(request))
        return f"Two-step sign-in of {person.name} was reset; they set it up again at their next sign-in."

    return _account_action(request, ctx, staff, action)


def _number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() else None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@get("/audit", sync_to_thread=True)
def audit_view(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    staff_id: FromQuery[str] = "",
    patient_id: FromQuery[str] = "",
    action: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Template:
    """The audit log. Filters arrive as typed in the form (an empty box is ""), so they are parsed leniently:
    a filter that does not parse is no filter (a search page, not a form that stores anything)."""
    flt = audit.AuditFilter(
        staff_id=_number(staff_id),
        patient_id=_number(patient_id),
        action=action.strip(),
        since=_day(since),
        until=_day(until),
        page=max(page, 1),
    )
    with Session(ctx.engine) as session:
        rows, more = audit.audit_log(session, staff, flt)
    # Reading the audit log is itself audited (who looked at whose actions), with the filter used.
    audit.record_view(
        ctx,
        staff,
        "audit.view",
        ip=client_ip(request),
        detail=f"staff={flt.staff_id or ''} patient={flt.patient_id or ''} action={flt.action} "
        f"since={flt.since or ''} until={flt.until or ''} page={flt.page}"[:2000],
        patient_id=None,
    )
    people = accounts_admin.list_staff(ctx.engine, staff.clinic_id)
    names = {p.id: f"{p.name} ({p.role})" for p in people}
    return render(
        request, "staff/admin_audit.html", nav="audit", rows=rows, more=more, filter=flt, names=names, people=people
    )


ROUTES: list[Any] = [
    staff_list,
    staff_create,
    staff_deactivate,
    staff_activate,
    staff_revoke,
    staff_reset_second_factor,
    audit_view,
]
