"""Administration (admins only): staff accounts of the clinic, and the audit log."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import Session

from ..auth import requires_admin
from ..context import AppContext, Ctx
from ..errors import FieldError
from ..models import StaffRole
from ..services import inbox, staff_auth
from .staff_common import FORM, client_ip, me, render, see_other, set_flash


def _staff_page(request: Request, ctx: AppContext, *, form: staff_auth.NewStaff | None = None,
                errors: dict | None = None, status_code: int = 200) -> Template:
    staff = me(request)
    return render(request, "staff/admin_staff.html", nav="admin", status_code=status_code,
                  people=staff_auth.list_staff(ctx.engine, staff.clinic_id), form=form or staff_auth.NewStaff(),
                  errors=errors or {}, roles=[r.value for r in StaffRole], now=ctx.clock.now())


@get("/staff/admin/staff", guards=[requires_admin], sync_to_thread=True, include_in_schema=False)
def staff_list(request: Request, ctx: Ctx) -> Template:
    return _staff_page(request, ctx)


@post("/staff/admin/staff", guards=[requires_admin], sync_to_thread=True, include_in_schema=False)
def staff_create(request: Request, ctx: Ctx, data: Annotated[staff_auth.NewStaff, FORM]) -> Template | Redirect:
    try:
        created = staff_auth.create_staff_account(ctx, me(request), data, ip=client_ip(request))
    except FieldError as exc:
        return _staff_page(request, ctx, form=staff_auth.NewStaff(**{**data.__dict__, "password": ""}),
                           errors={exc.field: exc.message}, status_code=422)
    set_flash(request, notice=f"Created {created.role} account {created.email}.")
    return see_other("/staff/admin/staff")


def _account_action(request: Request, ctx: AppContext, staff_id: int, action) -> Template | Redirect:
    try:
        message = action()
    except FieldError as exc:
        return _staff_page(request, ctx, errors={exc.field: exc.message}, status_code=422)
    set_flash(request, notice=message)
    return see_other("/staff/admin/staff")


@post("/staff/admin/staff/{staff_id:int}/deactivate", guards=[requires_admin], sync_to_thread=True,
      include_in_schema=False)
def staff_deactivate(request: Request, ctx: Ctx, staff_id: FromPath[int]) -> Template | Redirect:
    def action():
        person = staff_auth.set_staff_active(ctx, me(request), staff_id, False, ip=client_ip(request))
        return f"{person.name} can no longer sign in; their sessions ended."

    return _account_action(request, ctx, staff_id, action)


@post("/staff/admin/staff/{staff_id:int}/activate", guards=[requires_admin], sync_to_thread=True,
      include_in_schema=False)
def staff_activate(request: Request, ctx: Ctx, staff_id: FromPath[int]) -> Template | Redirect:
    def action():
        person = staff_auth.set_staff_active(ctx, me(request), staff_id, True, ip=client_ip(request))
        return f"{person.name} can sign in again."

    return _account_action(request, ctx, staff_id, action)


@post("/staff/admin/staff/{staff_id:int}/revoke", guards=[requires_admin], sync_to_thread=True,
      include_in_schema=False)
def staff_revoke(request: Request, ctx: Ctx, staff_id: FromPath[int]) -> Template | Redirect:
    admin = me(request)

    def action():
        people = {p.id: p for p in staff_auth.list_staff(ctx.engine, admin.clinic_id)}
        if staff_id not in people:
            raise FieldError("staff_id", "No such staff member in this clinic.")
        staff_auth.sign_out_everywhere(ctx, staff_id, ip=client_ip(request), by_staff_id=admin.id)
        return f"{people[staff_id].name} was signed out on every device."

    return _account_action(request, ctx, staff_id, action)


@post("/staff/admin/staff/{staff_id:int}/unlock", guards=[requires_admin], sync_to_thread=True,
      include_in_schema=False)
def staff_unlock(request: Request, ctx: Ctx, staff_id: FromPath[int]) -> Template | Redirect:
    def action():
        staff_auth.unlock_staff(ctx, me(request), staff_id, ip=client_ip(request))
        return "Account unlocked."

    return _account_action(request, ctx, staff_id, action)


@get("/staff/admin/audit", guards=[requires_admin], sync_to_thread=True, include_in_schema=False)
def audit_view(request: Request, ctx: Ctx, staff_id: FromQuery[str] = "", patient_id: FromQuery[str] = "",
               action: FromQuery[str] = "", since: FromQuery[str] = "", until: FromQuery[str] = "",
               page: FromQuery[int] = 1) -> Template:
    """Filters arrive as typed in the form (an empty box is ""), so they are parsed here, leniently."""
    admin = me(request)

    def number(text: str) -> int | None:
        text = text.strip().lstrip("#")
        return int(text) if text.isdigit() else None

    def day(text: str) -> date | None:
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            return None

    flt = inbox.AuditFilter(staff_id=number(staff_id), patient_id=number(patient_id), action=action.strip(), since=day(since),
                            until=day(until), page=max(page, 1))
    with Session(ctx.engine) as session:
        rows, more = inbox.audit_log(session, admin, flt)
    names = {p.id: f"{p.name} ({p.role})" for p in staff_auth.list_staff(ctx.engine, admin.clinic_id)}
    return render(request, "staff/admin_audit.html", nav="audit", rows=rows, more=more, filter=flt, names=names,
                  people=staff_auth.list_staff(ctx.engine, admin.clinic_id))


ROUTES = [staff_list, staff_create, staff_deactivate, staff_activate, staff_revoke, staff_unlock, audit_view]
