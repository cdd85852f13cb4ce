"""Staff sign-in and account security: argon2id passwords, throttling, TOTP, sessions.

Password guessing is slowed without ever locking out the right password and second factor:
- per account and client address (the trusted-proxy rule resolves the address): after FREE_FAILURES wrong
  passwords or codes in a row, each next attempt from that address for that account waits a delay that doubles up to
  MAX_DELAY; a success clears it. Someone elsewhere who knows the email cannot keep the owner out;
- per client address: more than IP_MAX_FAILURES failures in IP_WINDOW block that address (only) for IP_BLOCK.
Both live in the database (services/rate_counters.py), so every web process and a restart agree. Every failure,
whatever its cause (unknown email included), gets the same answer after a password hash of the same cost, and an
audit row. The TOTP replay guard is a compare-and-set on staff.totp_last_step, shared the same way.

Sessions: a cookie naming a staff_session row (server.auth); signing out revokes the row, bumping
`session_version` revokes them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...errors import DomainError, FieldError
from ...forms import FormModel
from ...models import Staff
from .. import rate_counters
from ..audit import audit
from . import accounts as staff_accounts

FREE_FAILURES = 3  # wrong passwords or codes in a row (per account and address) before any delay
MAX_DELAY = timedelta(minutes=2)  # the longest wait between attempts for one account from one address
FAILURE_MEMORY = timedelta(hours=24)  # a run of failures is forgotten after this long without another
IP_WINDOW = timedelta(minutes=15)
IP_MAX_FAILURES = 100  # failed sign-ins from one address (any accounts) per IP_WINDOW before the address is blocked
IP_BLOCK = timedelta(minutes=15)
TOTP_ISSUER = "Selinexor Companion"
TOTP_VALID_WINDOW = 1  # accept the previous and next 30-second code: phones' clocks drift

GENERIC_FAILURE = "Email or password is incorrect."
THROTTLED = "Too many sign-in attempts. Wait a minute and try again."
_hasher = PasswordHasher()  # the same argon2id parameters as staff.accounts
# A dummy hash to verify against when the email is unknown or the attempt is throttled, so every failure takes as
# long as a wrong password (no account probing by timing).
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


class SignInError(DomainError):
    """A sign-in attempt was refused; `message` is safe to show (it never says whether the email exists)."""

    def __init__(self, message: str, field: str = "email"):
        super().__init__(message)
        self.message = message
        self.field = field


def _account_key(email: str, ip: str | None) -> str:
    return f"signin:account:{ip or 'unknown'}:{email}"


def _address_key(ip: str | None) -> str:
    return f"signin:address:{ip or 'unknown'}"


def delay_after(failures: int) -> timedelta:
    """The wait before the next attempt after `failures` in a row for one account from one address."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** (failures - FREE_FAILURES)))


def _throttled(ctx: AppContext, email: str, ip: str | None, now: datetime) -> bool:
    """True when this address is blocked, or this account is waiting out its delay from this address."""
    return any(
        count is not None and count.blocked(now)
        for count in (
            rate_counters.current(ctx.engine, _address_key(ip)),
            rate_counters.current(ctx.engine, _account_key(email, ip)),
        )
    )


def _count_failure(ctx: AppContext, email: str, ip: str | None, now: datetime) -> None:
    """After a failed attempt: lengthen this account's delay from this address; block the address at its limit."""
    account = rate_counters.hit(ctx.engine, _account_key(email, ip), now, FAILURE_MEMORY)
    if delay := delay_after(account.count):
        rate_counters.block(ctx.engine, _account_key(email, ip), now + delay)
    address = rate_counters.hit(ctx.engine, _address_key(ip), now, IP_WINDOW)
    if address.count > IP_MAX_FAILURES:
        rate_counters.block(ctx.engine, _address_key(ip), now + IP_BLOCK)


def _refuse(
    ctx: AppContext,
    email: str,
    staff_id: int | None,
    now: datetime,
    ip: str | None,
    detail: str,
    *,
    action: str = "staff.login_failed",
    count: bool = True,
) -> None:
    """Audit one failed attempt (whoever it named) and count it."""
    with session_scope(ctx.engine) as session:
        audit(session, staff_id=staff_id, action=action, now=now, ip=ip, detail=f"{detail} ({email[:254]})")
    if count:
        _count_failure(ctx, email, ip, now)


@dataclass(frozen=True)
class PasswordOk:
    """The password was right: either signed in, or the second factor is still needed."""

    staff: Staff
    needs_totp: bool


def check_password(ctx: AppContext, email: str, password: str, *, ip: str | None) -> PasswordOk:
    """Step one of sign-in. Raises SignInError with one generic message for a wrong email or password (a throttled
    attempt says to wait, whatever the email); every failure takes one password hash and is audited."""
    now = ctx.clock.now()
    email = (email or "").strip().lower()
    if not email:
        raise FieldError("email", "Enter your email address.")
    if not password:
        raise FieldError("password", "Enter your password.")
    if _throttled(ctx, email, ip, now):
        staff_accounts.verify_password(_DUMMY_HASH, password)
        _refuse(ctx, email, None, now, ip, "throttled: too many failures", action="staff.login_throttled", count=False)
        raise SignInError(THROTTLED)
    with session_scope(ctx.engine) as session:
        staff = session.exec(select(Staff).where(Staff.email == email)).first()
        if staff is None or not staff.active:
            staff_accounts.verify_password(_DUMMY_HASH, password)
            known, right, what = (staff.id if staff else None), False, "unknown or inactive email"
        else:
            known, what = staff.id, "wrong password"
            right = staff_accounts.verify_password(staff.password_hash, password)
        if right:
            if _hasher.check_needs_rehash(staff.password_hash):
                staff.password_hash = staff_accounts.hash_password(password)
            if not staff.totp_secret:
                _succeed(session, staff, now, ip, "password")
            session.add(staff)
    if not right:
        _refuse(ctx, email, known, now, ip, what)
        raise SignInError(GENERIC_FAILURE, "password")
    if not staff.totp_secret:  # signed in: this account's failures from this address are forgotten
        rate_counters.clear(ctx.engine, _account_key(email, ip))
    return PasswordOk(staff=staff, needs_totp=bool(staff.totp_secret))


def _succeed(session: Session, staff: Staff, now: datetime, ip: str | None, how: str) -> None:
    audit(session, staff_id=staff.id, action="staff.login", now=now, ip=ip, detail=how)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second time step `code` belongs to (within the valid window), or None."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for offset in range(-TOTP_VALID_WINDOW, TOTP_VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step + offset), code):
            return step + offset
    return None


def _claim_totp_step(session: Session, staff_id: int, step: int) -> bool:
    """Accept `step` once: a compare-and-set on staff.totp_last_step (every process, every restart)."""
    result = session.execute(
        sa.update(Staff)
        .where(Staff.id == staff_id, sa.or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def check_totp(ctx: AppContext, staff_id: int, code: str, *, ip: str | None) -> Staff:
    """Step two of sign-in: the 6-digit code from the authenticator app. A code is accepted once."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = session.get(Staff, staff_id)
        if staff is None or not staff.active or not staff.totp_secret:
            raise SignInError("Sign in again.", "code")
        email = staff.email
        if _throttled(ctx, email, ip, now):
            throttled, ok = True, False
        else:
            throttled = False
            step = _matching_step(staff.totp_secret, code, now)
            ok = step is not None and _claim_totp_step(session, staff.id, step)
            if ok:
                _succeed(session, staff, now, ip, "password and authenticator code")
    if throttled:
        _refuse(
            ctx, email, staff_id, now, ip, "throttled: too many failures", action="staff.login_throttled", count=False
        )
        raise SignInError(THROTTLED, "code")
    if not ok:
        _refuse(ctx, email, staff_id, now, ip, "wrong or reused authenticator code")
        raise SignInError("That code is not right. Check your authenticator app.", "code")
    rate_counters.clear(ctx.engine, _account_key(email, ip))
    return staff


# --------------------------------------------------------------------------- the signed-in person's own account


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_provisioning(secret: str, email: str) -> tuple[str, str]:
    """The otpauth:// URI for an authenticator app, and its QR code as inline SVG."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff", omitsize=False)
    return uri, svg


def enable_totp(ctx: AppContext, staff_id: int, secret: str, code: str, password: str, *, ip: str | None) -> None:
    """Turn on the second factor once the person has confirmed their password and proved their app's codes (someone
    at an unattended signed-in screen cannot tie the account to their own phone)."""
    now = ctx.clock.now()
    if not secret or len(secret) < 16:
        raise FieldError("code", "Start the set-up again.")
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        if not staff_accounts.verify_password(staff.password_hash, password or ""):
            raise FieldError("password", "Your password is not right.")
        step = _matching_step(secret, code, now)
        if step is None:
            raise FieldError("code", "That code is not right. Scan the QR code again and enter the current code.")
        staff.totp_secret = secret
        staff.totp_last_step = step  # the code that proved the app cannot sign anyone in
        session.add(staff)
        audit(session, staff_id=staff_id, action="staff.totp_enabled", now=now, ip=ip)


def disable_totp(ctx: AppContext, staff_id: int, password: str, *, ip: str | None) -> None:
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        if not staff_accounts.verify_password(staff.password_hash, password or ""):
            raise FieldError("password", "Your password is not right.")
        staff.totp_secret = None
        session.add(staff)
        audit(session, staff_id=staff_id, action="staff.totp_disabled", now=now, ip=ip)


def change_password(ctx: AppContext, staff_id: int, current: str, new: str, *, ip: str | None) -> Staff:
    """Change one's own password; other sessions are signed out (the caller re-binds the current one)."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        if (problem := staff_accounts.password_problem(new or "", staff.email)) is not None:
            raise FieldError("new_password", problem)
        if not staff_accounts.verify_password(staff.password_hash, current or ""):
            raise FieldError("current_password", "Your current password is not right.")
        staff.password_hash = staff_accounts.hash_password(new)
        staff.session_version += 1
        session.add(staff)
        audit(session, staff_id=staff_id, action="staff.password_changed", now=now, ip=ip)
        return staff


def record_sign_out(ctx: AppContext, staff_id: int, *, ip: str | None) -> None:
    """Audit a sign-out (the session itself is revoked by server.auth.sign_out)."""
    with session_scope(ctx.engine) as session:
        if session.get(Staff, staff_id) is not None:
            audit(session, staff_id=staff_id, action="staff.logout", now=ctx.clock.now(), ip=ip)


def sign_out_everywhere(ctx: AppContext, staff_id: int, *, ip: str | None, by_staff_id: int | None = None) -> None:
    """Revoke every session of a staff member (theirs, or by an admin) by bumping session_version."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        staff.session_version += 1
        session.add(staff)
        audit(
            session,
            staff_id=by_staff_id or staff_id,
            action="staff.sessions_revoked",
            now=now,
            ip=ip,
            detail=f"staff #{staff.id} {staff.email}",
        )


# --------------------------------------------------------------------------- the forms


class Credentials(FormModel):
    """The sign-in form (a password is taken as typed: spaces may be part of it)."""

    email: str = ""
    password: str = ""
    next: str = ""


class TotpCode(FormModel):
    """A 6-digit code from the authenticator app (spaces allowed)."""

    code: str = ""


class TotpEnable(FormModel):
    """Turning the second factor on: a first code from the app, and one's password."""

    code: str = ""
    password: str = ""


class PasswordConfirmation(FormModel):
    """One's own password, to confirm a security change."""

    password: str = ""


class PasswordChange(FormModel):
    """One's own password change."""

    current_password: str = ""
    new_password: str = ""
