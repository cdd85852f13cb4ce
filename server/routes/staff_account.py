"""Staff sign-in (password, then the authenticator code if enabled), sign-out, and one's own account page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from ..auth import current_patient, current_staff, requires_staff, sign_in_staff, sign_out
from ..context import Ctx
from ..errors import FieldError
from ..services import staff_auth
from .staff_common import FORM, client_ip, me, render, safe_back, see_other, set_flash

PENDING_KEY = "staff_pending"  # password accepted, authenticator code still needed
TOTP_SETUP_KEY = "totp_setup"  # a new secret shown as a QR code, not yet confirmed
PENDING_TTL = timedelta(minutes=5)


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


@dataclass
class CodeForm:
    code: str = ""


@dataclass
class PasswordForm:
    password: str = ""


@dataclass
class ChangePasswordForm:
    current_password: str = ""
    new_password: str = ""


@get("/staff/login", sync_to_thread=False, include_in_schema=False)
def login_page(request: Request, next: FromQuery[str] = "") -> Template | Redirect:
    if current_staff(request) is not None:
        return Redirect(safe_back(next))
    return render(request, "staff/login.html", next=safe_back(next), email="", error=None,
                  patient_signed_in=current_patient(request) is not None)


@post("/staff/login", sync_to_thread=True, include_in_schema=False)
def login(request: Request, ctx: Ctx, data: Annotated[LoginForm, FORM]) -> Template | Redirect:
    try:
        result = staff_auth.check_password(ctx, data.email, data.password, ip=client_ip(request))
    except staff_auth.SignInError as exc:
        return render(request, "staff/login.html", status_code=401, next=safe_back(data.next), email=data.email,
                      error={"field": exc.field, "message": exc.message})
    except FieldError as exc:  # an empty box: nothing was checked, nothing counted
        return render(request, "staff/login.html", status_code=422, next=safe_back(data.next), email=data.email,
                      error={"field": exc.field, "message": exc.message})
    if result.needs_totp:
        request.set_session({PENDING_KEY: {"id": result.staff.id, "at": ctx.clock.now().isoformat(),
                                           "next": safe_back(data.next)}})
        return see_other("/staff/login/code")
    sign_in_staff(request, result.staff)
    return see_other(safe_back(data.next))


def _pending(request: Request, ctx) -> dict | None:
    value = (request.session or {}).get(PENDING_KEY)
    if not isinstance(value, dict):
        return None
    try:
        started = datetime.fromisoformat(value["at"])
    except (KeyError, ValueError):
        return None
    return value if ctx.clock.now() - started <= PENDING_TTL else None


@get("/staff/login/code", sync_to_thread=False, include_in_schema=False)
def code_page(request: Request, ctx: Ctx) -> Template | Redirect:
    if _pending(request, ctx) is None:
        return Redirect("/staff/login")
    return render(request, "staff/login_code.html", error=None)


@post("/staff/login/code", sync_to_thread=True, include_in_schema=False)
def code(request: Request, ctx: Ctx, data: Annotated[CodeForm, FORM]) -> Template | Redirect:
    pending = _pending(request, ctx)
    if pending is None:
        return see_other("/staff/login")
    try:
        staff = staff_auth.check_totp(ctx, pending["id"], data.code, ip=client_ip(request))
    except staff_auth.SignInError as exc:
        return render(request, "staff/login_code.html", status_code=401, error={"field": "code", "message": exc.message})
    sign_in_staff(request, staff)  # replaces the pending state
    return see_other(safe_back(pending.get("next")))


@post("/staff/logout", sync_to_thread=False, include_in_schema=False)
def logout(request: Request) -> Redirect:
    sign_out(request)
    return see_other("/staff/login")


@get("/staff", guards=[requires_staff], sync_to_thread=False, include_in_schema=False)
def staff_home() -> Redirect:
    return Redirect("/staff/inbox")


# --------------------------------------------------------------------------- one's own account


def _account_page(request: Request, *, status_code: int = 200, error: dict | None = None) -> Template:
    staff = me(request)
    setup = (request.session or {}).get(TOTP_SETUP_KEY)
    qr = uri = None
    if setup and not staff.totp_secret:
        uri, qr = staff_auth.totp_provisioning(setup, staff.email)
    return render(request, "staff/account.html", nav="account", status_code=status_code, error=error,
                  totp_setup=setup, totp_qr=qr, totp_uri=uri)


@get("/staff/account", guards=[requires_staff], sync_to_thread=False, include_in_schema=False)
def account(request: Request) -> Template:
    return _account_page(request)


@post("/staff/account/totp/setup", guards=[requires_staff], sync_to_thread=False, include_in_schema=False)
def totp_setup(request: Request) -> Redirect:
    request.set_session({**(request.session or {}), TOTP_SETUP_KEY: staff_auth.new_totp_secret()})
    return see_other("/staff/account#totp")


@post("/staff/account/totp/enable", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def totp_enable(request: Request, ctx: Ctx, data: Annotated[CodeForm, FORM]) -> Template | Redirect:
    secret = (request.session or {}).get(TOTP_SETUP_KEY, "")
    try:
        staff_auth.enable_totp(ctx, me(request).id, secret, data.code, ip=client_ip(request))
    except FieldError as exc:
        return _account_page(request, status_code=422, error={"field": exc.field, "message": exc.message})
    session = {k: v for k, v in (request.session or {}).items() if k != TOTP_SETUP_KEY}
    request.set_session(session)
    set_flash(request, notice="Two-step sign-in is on. You will be asked for a code from your app when you sign in.")
    return see_other("/staff/account")


@post("/staff/account/totp/disable", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def totp_disable(request: Request, ctx: Ctx, data: Annotated[PasswordForm, FORM]) -> Template | Redirect:
    try:
        staff_auth.disable_totp(ctx, me(request).id, data.password, ip=client_ip(request))
    except FieldError as exc:
        return _account_page(request, status_code=422, error={"field": exc.field, "message": exc.message})
    set_flash(request, notice="Two-step sign-in is off.")
    return see_other("/staff/account")


@post("/staff/account/password", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def password_change(request: Request, ctx: Ctx, data: Annotated[ChangePasswordForm, FORM]) -> Template | Redirect:
    try:
        staff = staff_auth.change_password(ctx, me(request).id, data.current_password, data.new_password,
                                           ip=client_ip(request))
    except FieldError as exc:
        return _account_page(request, status_code=422, error={"field": exc.field, "message": exc.message})
    sign_in_staff(request, staff)  # this browser stays signed in; every other session ends
    set_flash(request, notice="Password changed. Other devices were signed out.")
    return see_other("/staff/account")


@post("/staff/account/sign-out-everywhere", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def sign_out_everywhere(request: Request, ctx: Ctx) -> Redirect:
    staff_auth.sign_out_everywhere(ctx, me(request).id, ip=client_ip(request))
    sign_out(request)
    return see_other("/staff/login")


ROUTES = [login_page, login, code_page, code, logout, staff_home, account, totp_setup, totp_enable, totp_disable,
          password_change, sign_out_everywhere]
