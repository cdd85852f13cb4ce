"""Administration of the clinic's staff accounts (admins only; the routes guard): create, deactivate and
reactivate, sign out everywhere, reset the second factor, list. Every change is audited."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, model_validator
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...errors import FieldError, NotFound
from ...forms import BlankToNone, FormModel, Text, plain
from ...models import Staff, StaffRole
from ..audit import audit
from ..enrollment import parse_mobile
from .accounts import create_staff, get_staff


def _name(text: str) -> str:
    """Every account names its person."""
    if not text:
        raise plain("Enter the person's name.")
    return text


def _pager(text: str | None) -> str | None:
    """A pager number is a mobile that can receive SMS, stored in E.164."""
    if text is None:
        return None
    try:
        return parse_mobile("phone", text)
    except FieldError as exc:
        raise plain(exc.message) from None


def _on_call_order(order: int | None) -> int | None:
    """1 = paged first."""
    if order is not None and not 1 <= order <= 20:
        raise plain("On-call order must be between 1 and 20.")
    return order


class NewStaff(FormModel):
    """A new staff account as sent by the administration page (email, role and password are checked by
    `accounts.create_staff`, the one place every way of creating an account goes through)."""

    messages: ClassVar[dict[str, str]] = {
        "name": "Enter the person's name.",
        "on_call_order": "On-call order must be a whole number (1 = paged first).",
    }

    email: str = ""
    name: Annotated[Text, AfterValidator(_name)] = ""
    role: str = ""
    password: str = ""
    phone: Annotated[BlankToNone[Text], AfterValidator(_pager)] = None
    on_call_order: Annotated[BlankToNone[int], AfterValidator(_on_call_order)] = None

    @model_validator(mode="after")
    def _on_call_needs_a_pager(self) -> NewStaff:
        """Someone in the on-call chain must be reachable."""
        if self.on_call_order is not None and self.phone is None:
            raise plain("Someone in the on-call chain needs a pager number.", field="phone")
        return self


def create_staff_account(ctx: AppContext, admin: Staff, form: NewStaff, *, ip: str | None) -> Staff:
    """Create a staff account in the admin's clinic (validation names the field; nothing is stored on error)."""
    now = ctx.clock.now()
    staff = create_staff(
        ctx.engine,
        clinic_id=admin.clinic_id,
        email=form.email,
        name=form.name,
        role=form.role,
        password=form.password,
        now=now,
        phone_e164=form.phone,
        on_call_order=form.on_call_order,
    )
    with session_scope(ctx.engine) as session:
        audit(
            session,
            staff_id=admin.id,
            action="staff.create",
            now=now,
            ip=ip,
            detail=f"staff #{staff.id} {staff.email} ({staff.role})",
        )
    return staff


def set_staff_active(ctx: AppContext, admin: Staff, staff_id: int, active: bool, *, ip: str | None) -> Staff:
    """Deactivate (signs the person out everywhere) or reactivate an account of the admin's clinic."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = get_staff(session, staff_id)
        if staff.clinic_id != admin.clinic_id:
            raise NotFound("No such staff member.")
        if not active and staff.id == admin.id:
            raise FieldError("active", "You cannot deactivate your own account.")
        if not active and staff.role == StaffRole.ADMIN.value:
            admins = session.exec(
                select(Staff).where(
                    Staff.clinic_id == admin.clinic_id, Staff.active.is_(True), Staff.role == StaffRole.ADMIN.value
                )
            ).all()
            if len(admins) <= 1:
                raise FieldError("active", "The clinic needs at least one active administrator.")
        if staff.active != active:
            staff.active = active
            if not active:
                staff.session_version += 1
            session.add(staff)
            audit(
                session,
                staff_id=admin.id,
                action="staff.activate" if active else "staff.deactivate",
                now=now,
                ip=ip,
                detail=f"staff #{staff.id} {staff.email}",
            )
        return staff


def reset_second_factor(ctx: AppContext, admin: Staff, staff_id: int, *, ip: str | None) -> Staff:
    """Turn off a colleague's authenticator (a lost phone): they are signed out everywhere and set it up again."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = get_staff(session, staff_id)
        if staff.clinic_id != admin.clinic_id:
            raise NotFound("No such staff member.")
        staff.totp_secret, staff.totp_last_step = None, None
        staff.session_version += 1
        session.add(staff)
        audit(
            session,
            staff_id=admin.id,
            action="staff.totp_reset",
            now=now,
            ip=ip,
            detail=f"staff #{staff.id} {staff.email}",
        )
        return staff


def list_staff(engine: Engine, clinic_id: int) -> list[Staff]:
    """The clinic's staff: active first, then the on-call chain in order, then by name."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(Staff)
                .where(Staff.clinic_id == clinic_id)
                .order_by(Staff.active.desc(), Staff.on_call_order.is_(None), Staff.on_call_order, Staff.name)
            ).all()
        )
