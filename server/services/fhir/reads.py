"""Reads of the FHIR API: Patient search by MRN and Patient/$everything (filtered by the caller's read scopes)."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from sqlmodel import Session

from ...context import AppContext
from .clients import Caller
from .patients import patient_in_clinic, search_by_identifier
from .record_out import load_records, resources_for, searchset


def search_patients(ctx: AppContext, caller: Caller, identifier: str | None) -> tuple[Bundle, list[int]]:
    """GET /fhir/Patient?identifier=[system|]value: a searchset of the clinic's matching patients (and their ids)."""
    with Session(ctx.engine) as session:
        found = search_by_identifier(session, ctx.settings, caller.clinic_id, identifier or "")
        records, names = load_records(session, found)
    patients = [resources_for(r, names, ctx.settings, lambda kind: kind == "Patient")[0] for r in records]
    return searchset(patients, ctx.settings.public_base_url), [p.id for p in found]


def everything(ctx: AppContext, caller: Caller, patient_id: str) -> Bundle:
    """GET /fhir/Patient/{id}/$everything: the patient's record, the types the token may read."""
    with Session(ctx.engine) as session:
        patient = patient_in_clinic(session, caller.clinic_id, patient_id, "Patient.id")
        records, names = load_records(session, [patient])
    resources = resources_for(records[0], names, ctx.settings, lambda kind: caller.can(kind, "read"))
    return searchset(resources, ctx.settings.public_base_url)
