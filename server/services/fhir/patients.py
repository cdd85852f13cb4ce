"""Patients as the clinic's systems name them: the MRN under the clinic's identifier system (FHIR_MRN_SYSTEM)."""

from __future__ import annotations

from urllib.parse import parse_qs

from sqlmodel import Session, select

from ...models import Patient
from ...settings import Settings
from .outcomes import FhirError


def mrn_system(settings: Settings, clinic_id: int) -> str:
    """The identifier system of a clinic's MRNs ("{clinic}" in the setting becomes the clinic id)."""
    return settings.fhir_mrn_system.replace("{clinic}", str(clinic_id))


def search_by_identifier(session: Session, settings: Settings, clinic_id: int, token: str) -> list[Patient]:
    """Patients of the clinic matching a FHIR token search `[system|]value` (system|value, |value or value)."""
    system, bar, value = token.partition("|")
    if not bar:
        system, value = "", token
    elif system == "":
        return []  # "|value": an identifier without a system; MRNs always have one
    if not value or (system and system != mrn_system(settings, clinic_id)):
        return []
    return list(session.exec(select(Patient).where(Patient.clinic_id == clinic_id, Patient.mrn == value)).all())


def patient_in_clinic(session: Session, clinic_id: int, patient_id: str | int, expression: str) -> Patient:
    """A patient of the caller's clinic by id; 404 otherwise (another clinic's patients do not exist for it)."""
    try:
        pid = int(patient_id)
    except (TypeError, ValueError):
        pid = -1
    patient = session.get(Patient, pid) if pid > 0 else None
    if patient is None or patient.clinic_id != clinic_id:
        raise FhirError(404, "not-found", f"Patient {patient_id} was not found.", expression)
    return patient


def resolve_subject(session: Session, settings: Settings, clinic_id: int, subject, expression: str) -> Patient:
    """The patient an Observation is about: `Patient/{id}`, a conditional `Patient?identifier=system|MRN`, or a
    logical reference by identifier (system and MRN)."""
    if subject is None:
        raise FhirError(422, "required", "The subject (the patient) is required.", expression)
    reference = subject.reference or ""
    if reference.startswith("Patient/"):
        return patient_in_clinic(session, clinic_id, reference.removeprefix("Patient/"), f"{expression}.reference")
    if reference.startswith("Patient?"):
        tokens = parse_qs(reference.removeprefix("Patient?")).get("identifier", [])
        where = f"{expression}.reference"
        if not tokens:
            raise FhirError(422, "invalid", "A conditional reference must search by identifier.", where)
        return _one(search_by_identifier(session, settings, clinic_id, tokens[0]), tokens[0], where)
    if subject.identifier is not None and subject.identifier.value:
        token = (
            f"{subject.identifier.system or ''}|{subject.identifier.value}"
            if subject.identifier.system
            else subject.identifier.value
        )
        return _one(search_by_identifier(session, settings, clinic_id, token), token, f"{expression}.identifier")
    raise FhirError(
        422,
        "invalid",
        "The subject must reference a Patient (Patient/{id} or the MRN identifier "
        f"with system {mrn_system(settings, clinic_id)}).",
        expression,
    )


def _one(found: list[Patient], token: str, expression: str) -> Patient:
    if not found:
        raise FhirError(404, "not-found", f"No patient with identifier {token}.", expression)
    return found[0]  # (clinic, MRN) is unique
