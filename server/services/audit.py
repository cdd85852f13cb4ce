"""The audit trail: every staff view or change of patient data (who, what, when, from where), and reading it back
for administrators."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from ..context import AppContext
from ..db import session_scope
from ..models import AuditLog, Patient, Staff


def audit(
    session: Session,
    *,
    staff_id: int | None,
    action: str,
    now: datetime,
    patient_id: int | None = None,
    detail: str = "",
    ip: str | None = None,
    fhir_client_id: int | None = None,
) -> None:
    """Add an audit row to the caller's transaction (so a change and its audit row commit together); the actor is a
    staff member or a FHIR machine client."""
    session.add(
        AuditLog(
            at=now,
            staff_id=staff_id,
            patient_id=patient_id,
            action=action,
            detail=detail[:2000],
            ip=ip,
            fhir_client_id=fhir_client_id,
        )
    )


def record_view(
    ctx: AppContext,
    staff: Staff,
    action: str,
    *,
    patient_id: int | None = None,
    detail: str = "",
    ip: str | None = None,
) -> None:
    """Every staff view of patient data is audited (who, what, when, from where)."""
    with session_scope(ctx.engine) as session:
        audit(
            session, staff_id=staff.id, action=action, patient_id=patient_id, now=ctx.clock.now(), ip=ip, detail=detail
        )


def record_views(
    ctx: AppContext, staff: Staff, action: str, patient_ids: Iterable[int], *, ip: str | None, detail: str = ""
) -> None:
    """One audit row per patient whose data a page showed (the inbox and roster show many at once), written in a
    single INSERT whatever the number of patients (issue 16: a page costs a fixed number of statements)."""
    now = ctx.clock.now()
    ids: list[int | None] = list(sorted(set(patient_ids))) or [None]
    rows = [
        {
            "at": now,
            "staff_id": staff.id,
            "patient_id": pid,
            "action": action,
            "ip": ip,
            "detail": (detail or ("" if pid is not None else "no patients shown"))[:2000],
        }
        for pid in ids
    ]
    with session_scope(ctx.engine) as session:
        for chunk in range(0, len(rows), AUDIT_INSERT_ROWS):
            session.execute(sa.insert(AuditLog).values(rows[chunk : chunk + AUDIT_INSERT_ROWS]))


AUDIT_INSERT_ROWS = 500  # rows per INSERT: far above a page's patients, far below SQLite's bound-parameter limit


# --------------------------------------------------------------------------- audit log for admins


@dataclass
class AuditFilter:
    """The admin's audit-log filters."""

    staff_id: int | None = None
    patient_id: int | None = None
    action: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1


AUDIT_PAGE_SIZE = 100


def audit_log(session: Session, admin: Staff, flt: AuditFilter) -> tuple[list[AuditLog], bool]:
    """Audit rows of the admin's clinic (by its staff, or about its patients), newest first; and whether more exist."""
    staff_ids = select(Staff.id).where(Staff.clinic_id == admin.clinic_id)
    patient_ids = select(Patient.id).where(Patient.clinic_id == admin.clinic_id)
    query = select(AuditLog).where(sa.or_(AuditLog.staff_id.in_(staff_ids), AuditLog.patient_id.in_(patient_ids)))
    if flt.staff_id:
        query = query.where(AuditLog.staff_id == flt.staff_id)
    if flt.patient_id:
        query = query.where(AuditLog.patient_id == flt.patient_id)
    if flt.action:
        query = query.where(AuditLog.action.startswith(flt.action))
    if flt.since:
        query = query.where(AuditLog.at >= datetime.combine(flt.since, time(0), UTC))
    if flt.until:
        query = query.where(AuditLog.at < datetime.combine(flt.until + timedelta(days=1), time(0), UTC))
    page = max(1, flt.page)
    rows = list(
        session.exec(
            query.order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE + 1)
        ).all()
    )
    return rows[:AUDIT_PAGE_SIZE], len(rows) > AUDIT_PAGE_SIZE
