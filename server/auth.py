"""Who is signed in, and the `requires_*` guards.

Sessions are Litestar's signed, encrypted cookie sessions. A session holds either a patient or a staff member,
with the person's `session_version`: bumping that number in the database revokes every session at once
("sign out everywhere", "revoke the patient's sessions").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sqlmodel import Session

from .context import AppContext
from .models import Patient, Staff, StaffRole

PATIENT_KEY = "patient"
STAFF_KEY = "staff"


def _ctx(connection: ASGIConnection) -> AppContext:
    return connection.app.state.ctx


def sign_in_patient(connection: ASGIConnection, patient: Patient) -> None:
    """Bind this browser's session to one patient (replacing whoever was signed in)."""
    connection.set_session({PATIENT_KEY: {"id": patient.id, "sv": patient.session_version}})


# A staff session ends after this long (a shared ward computer must not stay signed in for months).
STAFF_SESSION_LIFETIME = timedelta(hours=12)


def sign_in_staff(connection: ASGIConnection, staff: Staff) -> None:
    at = _ctx(connection).clock.now().timestamp()
    connection.set_session({STAFF_KEY: {"id": staff.id, "sv": staff.session_version, "at": at}})


def sign_out(connection: ASGIConnection) -> None:
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
        with Session(_ctx(connection).engine, expire_on_commit=False) as session:
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
    now = _ctx(connection).clock.now().timestamp()

    def still_valid(row: Staff, value: dict) -> bool:
        signed_in_at = value.get("at")
        return row.active and isinstance(signed_in_at, (int, float)) and \
            now - signed_in_at < STAFF_SESSION_LIFETIME.total_seconds()

    return _signed_in(connection, STAFF_KEY, Staff, still_valid)


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
