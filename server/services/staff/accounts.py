"""Staff accounts: creation and password hashing (argon2id)."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ...db import session_scope
from ...errors import FieldError, NotFound
from ...models import Clinic, Staff, StaffRole
from .password_policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_problem  # noqa: F401

# argon2id, RFC 9106's low-memory profile (argon2-cffi's defaults, pinned so a library upgrade is a decision):
# 3 passes over 64 MiB with 4 lanes, 16-byte salt, 32-byte hash; about 50 ms on a server core. Hashes with other
# parameters are upgraded at the next successful sign-in.
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (a malformed hash never matches)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def create_staff(
    engine: Engine,
    *,
    clinic_id: int,
    email: str,
    name: str,
    role: str,
    password: str,
    now: datetime,
    phone_e164: str | None = None,
    on_call_order: int | None = None,
) -> Staff:
    """Create a staff account; the email is unique across the installation."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise FieldError("email", "Enter a valid email address.")
    if role not in {r.value for r in StaffRole}:
        raise FieldError("role", f"Role must be one of: {', '.join(r.value for r in StaffRole)}.")
    if (problem := password_problem(password, email)) is not None:
        raise FieldError("password", problem)
    with session_scope(engine) as session:
        if session.exec(select(Staff).where(Staff.email == email)).first():
            raise FieldError("email", "A staff member with this email already exists.")
        if session.get(Clinic, clinic_id) is None:
            raise FieldError("clinic_id", "No such clinic.")
        staff = Staff(
            clinic_id=clinic_id,
            email=email,
            name=name.strip(),
            role=role,
            password_hash=hash_password(password),
            phone_e164=phone_e164,
            on_call_order=on_call_order,
            created_at=now,
        )
        session.add(staff)
        session.flush()
        return staff


def get_staff(session: Session, staff_id: int) -> Staff:
    """The staff member, or NotFound."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("No such staff member.")
    return staff
