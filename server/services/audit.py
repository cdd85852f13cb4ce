"""The audit trail: every staff view or change of patient data (who, what, when, from where)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ..models import AuditLog


def audit(session: Session, *, staff_id: int | None, action: str, now: datetime, patient_id: int | None = None,
          detail: str = "", ip: str | None = None, fhir_client_id: int | None = None) -> None:
    """Add an audit row to the caller's transaction (so a change and its audit row commit together); the actor is a
    staff member or a FHIR machine client."""
    session.add(AuditLog(at=now, staff_id=staff_id, patient_id=patient_id, action=action, detail=detail[:2000], ip=ip,
                         fhir_client_id=fhir_client_id))
