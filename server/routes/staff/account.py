"""Staff sign-in (password, then the authenticator code if enabled), sign-out, and one's own account page.

`SIGN_IN` holds the public pages; `ACCOUNT` the signed-in person's own (registered under the guarded router).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from ...auth import current_patient, current_staff, sign_in_staff, sign_out, signed_in_staff_id
from ...context import AppContext, Ctx
from ...errors import FieldError
from ...models import Staff
from ...services.staff import auth as staff_auth
from ...services.staff.auth import Credentials, PasswordChange, PasswordConfirmation, TotpCode, TotpEnable
from .common import FORM, SignedInStaff, client_ip, render, safe_back, see_other, set_flash

PENDING_KEY = "staff_pending"  # password accepted, authenticator code still needed
TOTP_SETUP_KEY = "totp_setup"  # a new secret shown as a QR code, not yet confirmed
PENDING_TTL = timedelta(minutes=5)


# --------------------------------------------------------------------------- signing in (public)


@get("/login", sync_to_thread=False)
def login_page(request: Request, next: FromQuery[str] = "") -> Template | Redirect:
    """The sign-in page (someone already signed in goes straight on)."""
    if current_staff(request) is not None:
        return Redirect(safe_back(next))
    return render(
        request,
        "staff/login.html",
        next=safe_back(next),
        email="",
        error=None,
        patient_signed_in=current_patient(request) is not None,
    )


@post("/login", sync_to_thread=True)
def login(request: Request, ctx: Ctx, data: Annotated[Credentials, FORM]) -> Template | Redirect:
    """Step one: email and password."""
    try:
        result = staff_auth.check_password(ctx, data.email, data.password, ip=client_ip(request))
    except staff_auth.SignInError as exc:
        return render(
            request,
            "staff/login.html",
            status_code=401,
            next=safe_back(data.next),
            email=data.email,
            error={"field": exc.field, "message": exc.message},
        )
    except FieldError as exc:  # an empty box: nothing was checked, nothing counted
        return render(
            request,
            "staff/login.html",
            status_code=422,
            next=safe_back(data.next),
            email=data.email,
            error={"field": exc.field, "message": exc.message},
        )
    if result.needs_totp:
        request.set_session(
            {PENDING_KEY: {"id": result.staff.id, "at": ctx.clock.now().isoformat(), "next": safe_back(data.next)}}
        )
        return see_other("/staff/login/code")
    sign_in_staff(request, result.staff)
    return see_other(safe_back(data.next))


def _pending(request: Request, ctx: AppContext) -> dict[str, Any] | None:
    value = (request.session or {}).get(PENDING_KEY)
    if not isinstance(value, dict):
        return None
    try:
        started = datetime.fromisoformat(value["at"])
    except (KeyError, ValueError):
        return None
    return value if ctx.clock.now() - started <= PENDING_TTL else None


@get("/login/code", sync_to_thread=False)
def code_page(request: Request, ctx: Ctx) -> Template | Redirect:
    """Step two's page: the authenticator code (only after a right password, for a few minutes)."""
    if _pending(request, ctx) is None:
        return Redirect("/staff/login")
    return render(request, "staff/login_code.html", error=None)


@post("/login/code", sync_to_thread=True)
def code(request: Request, ctx: Ctx, data: Annotated[TotpCode, FORM]) -> Template | Redirect:
    """Step two: the code from the authenticator app."""
    pending = _pending(request, ctx)
    if pending is None:
        return see_other("/staff/login")
    try:
        staff = staff_auth.check_totp(ctx, pending["id"], data.code, ip=client_ip(request))
    except staff_auth.SignInError as exc:
        return render(
            request, "staff/login_code.html", status_code=401, error={"field": "code", "message": exc.message}
        )
    sign_in_staff(request, staff)  # replaces the pending state
    return see_other(safe_back(pending.get("next")))


@post("/logout", sync_to_thread=True)
def logout(request: Request, ctx: Ctx) -> Redirect:
    """Sign this browser out (the session is revoked server-side, and the sign-out audited)."""
    staff_id = signed_in_staff_id(request)
    sign_out(request)
    if staff_id is not None:
        staff_auth.record_sign_out(ctx, staff_id, ip=client_ip(request))
    return see_other("/staff/login")


SIGN_IN = [login_page, login, code_page, code, logout]


# --------------------------------------------------------------------------- one's own account (signed in)


@get("/", sync_to_thread=False)
def staff_home() -> Redirect:
    """/staff: the inbox."""
    return Redirect("/staff/inbox")


def _account_page(
    request: Request, staff: Staff, *, status_code: int = 200, error: dict[str, Any] | None = None
) -> Template:
    setup = (request.session or {}).get(TOTP_SETUP_KEY)
    qr = uri = None
    if setup and not staff.totp_secret:
        uri, qr = staff_auth.totp_provisioning(setup, staff.email)
    return render(
        request,
        "staff/account.html",
        nav="account",
        status_code=status_code,
        error=error,
        totp_setup=setup,
        totp_qr=qr,
        totp_uri=uri,
    )


@get("/account", sync_to_thread=False)
def account(request: Request, staff: SignedInStaff) -> Template:
    """One's own account: password, two-step sign-in, sessions."""
    return _account_page(request, staff)


@post("/account/totp/setup", sync_to_thread=False)
def totp_setup(request: Request) -> Redirect:
    """Start two-step sign-in: a new secret, shown as a QR code until confirmed."""
    request.set_session({**(request.session or {}), TOTP_SETUP_KEY: staff_auth.new_totp_secret()})
    return see_other("/staff/account#totp")


@post("/account/totp/enable", sync_to_thread=True)
def totp_enable(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[TotpEnable, FORM]
) -> Template | Redirect:
    """Confirm two-step sign-in with a first code and one's password."""
    secret = (request.session or {}).get(TOTP_SETUP_KEY, "")
    try:
        staff_auth.enable_totp(ctx, staff.id, secret, data.code, data.password, ip=client_ip(request))
    except FieldError as exc:
        return _account_page(request, staff, status_code=422, error={"field": exc.field, "message": exc.message})
    session = {k: v for k, v in (request.session or {}).items() if k != TOTP_SETUP_KEY}
    request.set_session(session)
    set_flash(request, notice="Two-step sign-in is on. You will be asked for a code from your app when you sign in.")
    return see_other("/staff/account")


@post("/account/totp/disable", sync_to_thread=True)
def totp_disable(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[PasswordConfirmation, FORM]
) -> Template | Redirect:
    """Turn two-step sign-in off (the password confirms it)."""
    try:
        staff_auth.disable_totp(ctx, staff.id, data.password, ip=client_ip(request))
    except FieldError as exc:
        return _account_page(request, staff, status_code=422, error={"field": exc.field, "message": exc.message})
    set_flash(request, notice="Two-step sign-in is off.")
    return see_other("/staff/account")


@post("/account/password", sync_to_thread=True)
def password_change(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[PasswordChange, FORM]
) -> Template | Redirect:
    """Change one's own password; other devices are signed out."""
    try:
        changed = staff_auth.change_password(
            ctx, staff.id, data.current_password, data.new_password, ip=client_ip(request)
        )
    except FieldError as exc:
        return _account_page(request, staff, status_code=422, error={"field": exc.field, "message": exc.message})
    sign_in_staff(request, changed)  # this browser stays signed in; every other session ends
    set_flash(request, notice="Password changed. Other devices were signed out.")
    return see_other("/staff/account")


@post("/account/sign-out-everywhere", sync_to_thread=True)
def sign_out_everywhere(request: Request, ctx: Ctx, staff: SignedInStaff) -> Redirect:
    """End every session of one's own, this one included."""
    staff_auth.sign_out_everywhere(ctx, staff.id, ip=client_ip(request))
    sign_out(request)
    return see_other("/staff/login")


ACCOUNT = [staff_home, account, totp_setup, totp_enable, totp_disable, password_change, sign_out_everywhere]
