"""Helpers shared by the worker's tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.dispatcher import dispatch_once
from notifications.planner import run_planner
from server.models import OutboundMessage
from server.settings import load_settings
from tests.fakes.sms_provider import FakeSmsProvider

PUBLIC_BASE_URL = "http://testserver.local"
CLINIC_NUMBER = "+15005550006"
NURSE_PAGER = "+15550009001"


def companion_settings(database_url: str, var_dir, provider: FakeSmsProvider, **extra):
    return load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(var_dir),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID=provider.account_sid,
        TWILIO_AUTH_TOKEN=provider.auth_token,
        TWILIO_FROM_NUMBER=CLINIC_NUMBER,
        TWILIO_API_BASE=provider.base_url,
        SMS_TIMEOUT_SECONDS="2",
        DISPATCH_CONCURRENCY="4",
        **extra,
    )


def reminders_of(engine, patient_id: int, **where) -> list[OutboundMessage]:
    with Session(engine) as session:
        query = select(OutboundMessage).where(OutboundMessage.patient_id == patient_id)
        for name, value in where.items():
            query = query.where(getattr(OutboundMessage, name) == value)
        return list(session.exec(query.order_by(OutboundMessage.send_at, OutboundMessage.id)).all())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_until(ctx, channels, clock, end: datetime) -> None:
    """Advance the frozen clock from due instant to due instant, planning and dispatching at each."""
    while True:
        run_planner(ctx)
        with Session(ctx.engine) as session:
            next_due = session.exec(
                select(sa.func.min(OutboundMessage.next_attempt_at)).where(OutboundMessage.status == "pending")
            ).first()
        if next_due is None or next_due > end:
            clock.set(end)
            run_planner(ctx)
            return
        clock.set(max(clock.now(), next_due))
        dispatch_once(ctx, channels)


def reminder_id(message: dict) -> int:
    """Our outbox row id, carried in the status callback URL of every message we send."""
    return int(parse_qs(urlsplit(message["status_callback"]).query)["r"][0])


def clinician_id(ctx) -> int:
    """A physician of the clinic (dose changes are for the clinical roles, PLAN_CHANGE_ROLES)."""
    from sqlmodel import select

    from server.db import session_scope
    from server.models import Staff

    with session_scope(ctx.engine) as session:
        doctor = session.exec(select(Staff).where(Staff.role == "physician")).first()
        if doctor is None:
            nurse = session.exec(select(Staff)).first()
            doctor = Staff(
                clinic_id=nurse.clinic_id,
                email="doctor@riverside.test",
                name="Dana Doctor",
                role="physician",
                password_hash="x",
                created_at=nurse.created_at,
            )
            session.add(doctor)
            session.flush()
        return doctor.id
