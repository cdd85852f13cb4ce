"""What a staff member may see: their own clinic's patients, alerts and colleagues. Another clinic's patient or
alert is "not found" (never "forbidden": its existence is not disclosed)."""

from __future__ import annotations

from sqlmodel import Session, select

from ..errors import NotFound
from ..models import Alert, Patient, Staff

OPEN_STATUSES = ("open", "acknowledged")


def patient_for_staff(session: Session, patient_id: int, clinic_id: int) -> Patient:
    """The patient, if they belong to the clinic; NotFound otherwise."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.clinic_id != clinic_id:
        raise NotFound("No such patient.")
    return patient


def alert_for_staff(session: Session, alert_id: int, clinic_id: int, *, lock: bool = False) -> tuple[Alert, Patient]:
    """The alert and its patient, if the patient belongs to the clinic; NotFound otherwise."""
    query = select(Alert).where(Alert.id == alert_id)
    if lock:
        # Serialises with the worker's escalation, which pages from the same row.
        query = query.with_for_update()
    alert = session.exec(query).first()
    patient = session.get(Patient, alert.patient_id) if alert is not None else None
    if alert is None or patient is None or patient.clinic_id != clinic_id:
        raise NotFound("No such alert.")
    return alert, patient


def staff_names(session: Session, clinic_id: int) -> dict[int, str]:
    """Names of the clinic's staff by id (who acknowledged, assigned, changed a plan)."""
    return {s.id: s.name for s in session.exec(select(Staff).where(Staff.clinic_id == clinic_id)).all()}


def staff_choices(session: Session, staff: Staff) -> list[Staff]:
    """The clinic's active staff, for "assign to"."""
    return list(
        session.exec(
            select(Staff).where(Staff.clinic_id == staff.clinic_id, Staff.active.is_(True)).order_by(Staff.name)
        ).all()
    )
