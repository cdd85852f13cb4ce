"""Staff sign-in and account security: argon2id passwords, lockout, rate limits, TOTP, sessions.

Two brakes on password guessing:
- per account, in the database (so every web process agrees): after MAX_FAILED_LOGINS wrong passwords or codes
  in a row the account is locked for LOCKOUT; a success resets the count;
- per client address, in memory (per process, per database): at most IP_MAX_ATTEMPTS attempts per IP_WINDOW,
  which also slows guessing across many accounts and unknown emails.

Sessions are cookies holding the staff id and `session_version` (server.auth); bumping the version signs the person
out everywhere. Every sign-in, failure, lockout and account change is written to the audit log.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...errors import DomainError, FieldError
from ...forms import FormModel
from ...models import Staff
from ..audit import audit
from . import accounts as staff_accounts

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
IP_WINDOW = timedelta(minutes=10)
IP_MAX_ATTEMPTS = 60
TOTP_ISSUER = "Selinexor Companion"
TOTP_VALID_WINDOW = 1  # accept the previous and next 30-second code: phones' clocks drift

GENERIC_FAILURE = "Email or password is incorrect."
_hasher = PasswordHasher()  # the same argon2id parameters as staff.accounts
# A dummy hash to verify against when the email is unknown, so both answers take as long (no account probing).
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


class SignInError(DomainError):
    """A sign-in attempt was refused; `message` is safe to show (it never says whether the email exists)."""

    def __init__(self, message: str, field: str = "email"):
        super().__init__(message)
        self.message = message
        self.field = field


class LoginRateLimiter:
    """A sliding window of attempts per key (the client address); thread-safe."""

    def __init__(self, limit: int = IP_MAX_ATTEMPTS, window: timedelta = IP_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, now: datetime) -> bool:
        """Count one attempt; False when the key is over its limit (the attempt is refused, and still counted)."""
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            hits.append(now)
            return len(hits) <= self.limit


# One limiter per database, so separate apps (tests, tenants) never share counts.
_limiters: "weakref.WeakKeyDictionary[Engine, LoginRateLimiter]" = weakref.WeakKeyDictionary()
_limiters_lock = threading.Lock()
# TOTP replay protection: the last time step accepted per staff member (per process; see the report).
_last_totp_step: dict[tuple[int, int], int] = {}


def limiter_for(engine: Engine) -> LoginRateLimiter:
    with _limiters_lock:
        limiter = _limiters.get(engine)
        if limiter is None:
            limiter = _limiters[engine] = LoginRateLimiter()
        return limiter


def _throttle(ctx: AppContext, ip: str | None, now: datetime) -> None:
    if not limiter_for(ctx.engine).hit(ip or "unknown", now):
        raise SignInError("Too many sign-in attempts from this address. Wait a few minutes and try again.")


def _locked_message(staff: Staff, now: datetime) -> str:
    minutes = max(1, int((staff.locked_until - now).total_seconds() // 60) + 1)
    return (f"This account is locked after {MAX_FAILED_LOGINS} failed sign-ins. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or ask an administrator.")


def _is_locked(staff: Staff, now: datetime) -> bool:
    return staff.locked_until is not None and staff.locked_until > now


def _record_failure(session: Session, staff: Staff, now: datetime, ip: str | None, what: str) -> str:
    """Count a wrong password or code; lock the account at the limit. Returns the message to show."""
    staff.failed_logins += 1
    message = GENERIC_FAILURE if what == "password" else "That code is not right. Check your authenticator app."
    audit(session, staff_id=staff.id, action="staff.login_failed", now=now, ip=ip,
          detail=f"wrong {what} ({staff.failed_logins} in a row)")
    if staff.failed_logins >= MAX_FAILED_LOGINS:
        staff.locked_until = now + LOCKOUT
        staff.failed_logins = 0  # the next window starts after the lock
        audit(session, staff_id=staff.id, action="staff.locked", now=now, ip=ip,
              detail=f"locked for {int(LOCKOUT.total_seconds() // 60)} minutes after {MAX_FAILED_LOGINS} failures")
        message = _locked_message(staff, now)
    session.add(staff)
    return message


def _succeed(session: Session, staff: Staff, now: datetime, ip: str | None, how: str) -> None:
    staff.failed_logins = 0
    staff.locked_until = None
    session.add(staff)
    audit(session, staff_id=staff.id, action="staff.login", now=now, ip=ip, detail=how)


@dataclass(frozen=True)
class PasswordOk:
    """The password was right: either signed in, or the second factor is still needed."""

    staff: Staff
    needs_totp: bool


def check_password(ctx: AppContext, email: str, password: str, *, ip: str | None) -> PasswordOk:
    """Step one of sign-in. Raises SignInError (generic message) for a wrong email or password, or a locked account."""
    now = ctx.clock.now()
    _throttle(ctx, ip, now)
    email = (email or "").strip().lower()
    if not email:
        raise FieldError("email", "Enter your email address.")
    if not password:
        raise FieldError("password", "Enter your password.")
    failure: str | None = None
    with session_scope(ctx.engine) as session:
        staff = session.exec(select(Staff).where(Staff.email == email).with_for_update()).first()
        if staff is None or not staff.active:
            staff_accounts.verify_password(_DUMMY_HASH, password)
            raise SignInError(GENERIC_FAILURE)
        if _is_locked(staff, now):
            raise SignInError(_locked_message(staff, now))
        if not staff_accounts.verify_password(staff.password_hash, password):
            failure = _record_failure(session, staff, now, ip, "password")
        else:
            if _hasher.check_needs_rehash(staff.password_hash):
                staff.password_hash = staff_accounts.hash_password(password)
                session.add(staff)
            if not staff.totp_secret:
                _succeed(session, staff, now, ip, "password")
    # Raised after the commit, so the failure count and any lock are stored.
    if failure is not None:
        raise SignInError(failure, "password")
    return PasswordOk(staff=staff, needs_totp=bool(staff.totp_secret))


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


def check_totp(ctx: AppContext, staff_id: int, code: str, *, ip: str | None) -> Staff:
    """Step two of sign-in: the 6-digit code from the authenticator app. A code is accepted once."""
    now = ctx.clock.now()
    _throttle(ctx, ip, now)
    failure: str | None = None
    with session_scope(ctx.engine) as session:
        staff = session.exec(select(Staff).where(Staff.id == staff_id).with_for_update()).first()
        if staff is None or not staff.active or not staff.totp_secret:
            raise SignInError("Sign in again.", "code")
        if _is_locked(staff, now):
            raise SignInError(_locked_message(staff, now), "code")
        step = _matching_step(staff.totp_secret, code, now)
        key = (id(ctx.engine), staff.id)
        if step is None or step <= _last_totp_step.get(key, -1):
            failure = _record_failure(session, staff, now, ip, "code")
        else:
            _last_totp_step[key] = step
            _succeed(session, staff, now, ip, "password and authenticator code")
    if failure is not None:
        raise SignInError(failure, "code")
    return staff


# --------------------------------------------------------------------------- the signed-in person's own account


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_provisioning(secret: str, email: str) -> tuple[str, str]:
    """The otpauth:// URI for an authenticator app, and its QR code as inline SVG."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff", omitsize=False)
    return uri, svg


def enable_totp(ctx: AppContext, staff_id: int, secret: str, code: str, *, ip: str | None) -> None:
    """Turn on the second factor once the person has proved their app produces the right codes."""
    now = ctx.clock.now()
    if not secret or len(secret) < 16:
        raise FieldError("code", "Start the set-up again.")
    step = _matching_step(secret, code, now)
    if step is None:
        raise FieldError("code", "That code is not right. Scan the QR code again and enter the current code.")
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        staff.totp_secret = secret
        session.add(staff)
        _last_totp_step[(id(ctx.engine), staff.id)] = step
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
    if len(new or "") < staff_accounts.MIN_PASSWORD_LENGTH:
        raise FieldError("new_password", f"Use at least {staff_accounts.MIN_PASSWORD_LENGTH} characters.")
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        if not staff_accounts.verify_password(staff.password_hash, current or ""):
            raise FieldError("current_password", "Your current password is not right.")
        staff.password_hash = staff_accounts.hash_password(new)
        staff.session_version += 1
        session.add(staff)
        audit(session, staff_id=staff_id, action="staff.password_changed", now=now, ip=ip)
        return staff


def sign_out_everywhere(ctx: AppContext, staff_id: int, *, ip: str | None, by_staff_id: int | None = None) -> None:
    """Revoke every session of a staff member (theirs, or by an admin) by bumping session_version."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        staff = staff_accounts.get_staff(session, staff_id)
        staff.session_version += 1
        session.add(staff)
        audit(session, staff_id=by_staff_id or staff_id, action="staff.sessions_revoked", now=now, ip=ip,
              detail=f"staff #{staff.id} {staff.email}")


# --------------------------------------------------------------------------- the forms


class Credentials(FormModel):
    """The sign-in form (a password is taken as typed: spaces may be part of it)."""

    email: str = ""
    password: str = ""
    next: str = ""


class TotpCode(FormModel):
    """A 6-digit code from the authenticator app (spaces allowed)."""

    code: str = ""


class PasswordConfirmation(FormModel):
    """One's own password, to confirm a security change."""

    password: str = ""


class PasswordChange(FormModel):
    """One's own password change."""

    current_password: str = ""
    new_password: str = ""
