"""Who is signed in, and the `requires_*` guards.

Sessions are Litestar's signed, encrypted cookie sessions. A session holds either a patient or a staff member,
with the person's `session_version`: bumping that number in the database revokes every session at once
("sign out everywhere", "revoke the patient's sessions"). A staff cookie also names a `staff_session` row (by a
random id whose hash is stored): signing out revokes that row, so a copied cookie stops working, and the row's
last use enforces STAFF_IDLE_TIMEOUT_MINUTES besides the 12-hour cap.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sqlmodel import Session

from .context import AppContext
from .db import read_session
from .models import Patient, Staff, StaffRole, StaffSession

PATIENT_KEY = "patient"
STAFF_KEY = "staff"


def _ctx(connection: ASGIConnection) -> AppContext:
    return connection.app.state.ctx


def sign_in_patient(connection: ASGIConnection, patient: Patient) -> None:
    """Bind this browser's session to one patient (replacing whoever was signed in)."""
    connection.set_session({PATIENT_KEY: {"id": patient.id, "sv": patient.session_version}})


# A staff session ends after this long (a shared ward computer must not stay signed in for months).
STAFF_SESSION_LIFETIME = timedelta(hours=12)


# How often a staff session's last use is written (every request would be a write per page and per live update).
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _session_row_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def sign_in_staff(connection: ASGIConnection, staff: Staff) -> None:
    """Start a staff session: a staff_session row, named by a random id in the cookie (call from a worker thread)."""
    ctx = _ctx(connection)
    now = ctx.clock.now()
    previous = _session_value(connection, STAFF_KEY)
    raw = secrets.token_urlsafe(32)
    with Session(ctx.engine) as session:
        if previous and isinstance(previous.get("sid"), str):  # re-binding after a password change: one session
            _revoke(session, previous["sid"], now)
        session.add(StaffSession(id=_session_row_id(raw), staff_id=staff.id, created_at=now, last_seen_at=now))
        session.commit()
    connection.set_session(
        {STAFF_KEY: {"id": staff.id, "sv": staff.session_version, "at": now.timestamp(), "sid": raw}}
    )


def _revoke(session: Session, raw: str, now: datetime) -> None:
    session.execute(
        sa.update(StaffSession)
        .where(StaffSession.id == _session_row_id(raw), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def signed_in_staff_id(connection: ASGIConnection) -> int | None:
    """The staff id this browser's cookie names (signed in or not), for the sign-out audit row."""
    value = _session_value(connection, STAFF_KEY)
    return value.get("id") if value and isinstance(value.get("id"), int) else None


def sign_out(connection: ASGIConnection) -> None:
    """End this browser's session; a staff session is revoked in the database too (a copied cookie stops working)."""
    value = _session_value(connection, STAFF_KEY)
    if value and isinstance(value.get("sid"), str):
        ctx = _ctx(connection)
        with Session(ctx.engine) as session:
            _revoke(session, value["sid"], ctx.clock.now())
            session.commit()
    connection.clear_session()


def _session_value(connection: ASGIConnection, key: str) -> dict[str, Any] | None:
    try:
        session = connection.session
    except Exception:  # no session middleware on this route
        return None
    value = session.get(key) if isinstance(session, dict) else None
    return value if isinstance(value, dict) else None


def _signed_in(connection: ASGIConnection, key: str, model, still_valid) -> Any:
    """The person a session names, if the database still agrees (same session_version, `still_valid`); cached
    on the request so guards and handlers look them up once."""
    if key in connection.state:
        return connection.state[key]
    value = _session_value(connection, key)
    person = None
    if value:
        with read_session(_ctx(connection).engine) as session:
            row = session.get(model, value.get("id"))
        if row is not None and row.session_version == value.get("sv") and still_valid(row, value):
            person = row
    connection.state[key] = person
    return person


def current_patient(connection: ASGIConnection) -> Patient | None:
    """The signed-in patient, or None (also when their sessions were revoked)."""
    return _signed_in(connection, PATIENT_KEY, Patient, lambda row, value: True)


def current_staff(connection: ASGIConnection) -> Staff | None:
    """The signed-in, active staff member whose session is under 12 hours old, or None."""
    ctx = _ctx(connection)
    now = ctx.clock.now()
    idle = timedelta(minutes=ctx.settings.staff_idle_timeout_minutes)

    def still_valid(row: Staff, value: dict) -> bool:
        signed_in_at = value.get("at")
        return (
            row.active
            and isinstance(signed_in_at, (int, float))
            and now.timestamp() - signed_in_at < STAFF_SESSION_LIFETIME.total_seconds()
            and _session_open(ctx, row.id, value.get("sid"), now, idle)
        )

    return _signed_in(connection, STAFF_KEY, Staff, still_valid)


def _session_open(ctx: AppContext, staff_id: int, raw: Any, now: datetime, idle: timedelta) -> bool:
    """The cookie's staff_session row exists, is this person's, not revoked and not idle; its last use is noted."""
    if not isinstance(raw, str):
        return False
    with Session(ctx.engine) as session:
        row = session.get(StaffSession, _session_row_id(raw))
        if row is None or row.staff_id != staff_id or row.revoked_at is not None or now - row.last_seen_at > idle:
            return False
        if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
            session.execute(sa.update(StaffSession).where(StaffSession.id == row.id).values(last_seen_at=now))
            session.commit()
    return True


def requires_patient(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: a signed-in patient (staff sessions do not count)."""
    if current_patient(connection) is None:
        raise NotAuthorizedException("Please sign in with the link your care team sent you.")


def requires_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: any signed-in staff member."""
    if current_staff(connection) is None:
        if current_patient(connection) is not None:
            raise PermissionDeniedException("This page is for the care team.")
        raise NotAuthorizedException("Please sign in.")


def requires_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: a signed-in admin (managing staff accounts, reading the audit log)."""
    requires_staff(connection, handler)
    if current_staff(connection).role != StaffRole.ADMIN.value:
        raise PermissionDeniedException("Only an administrator can do this.")


class SecondFactorSetupRequired(PermissionDeniedException):
    """REQUIRE_STAFF_MFA: this staff member must set up an authenticator app first (pages redirect to it)."""


# Where a staff member without a second factor may still go: their account page (to set it up) and sign-out.
MFA_SETUP_PATHS = ("/staff/account", "/staff/logout")


def requires_staff_mfa(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard (after requires_staff): with REQUIRE_STAFF_MFA, staff without TOTP may only set it up."""
    staff = current_staff(connection)
    if staff is None or staff.totp_secret or not _ctx(connection).settings.staff_mfa_required:
        return
    if not connection.url.path.startswith(MFA_SETUP_PATHS):
        raise SecondFactorSetupRequired("Set up two-step sign-in before using the care-team pages.")
