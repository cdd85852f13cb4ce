"""Shared helpers for the FHIR API tests (imported as `fhir_test_helpers`; no tests here).

The Observations are written by hand after the examples of the FHIR R4 specification (observation-example-f001,
the CBC example "observation-example-f202" style: identifier, status, category, LOINC code, subject, effective time,
issued, performer, valueQuantity in UCUM, reference range), not produced by the code under test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, time

from sqlmodel import Session, select

from server.demo import seed_demo
from server.models import Clinic, Patient
from server.services.fhir.clients import register_client

MRN_SYSTEM_TEMPLATE = "urn:companion:mrn:{clinic}"

SODIUM = {
    "resourceType": "Observation",
    "id": "na-example",
    "identifier": [
        {"use": "official", "system": "http://lab.example.org/identifiers/observations", "value": "NA-6323"}
    ],
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory",
                    "display": "Laboratory",
                }
            ]
        }
    ],
    "code": {
        "coding": [
            {"system": "http://loinc.org", "code": "2951-2", "display": "Sodium [Moles/volume] in Serum or Plasma"}
        ],
        "text": "Sodium",
    },
    "subject": {"reference": "Patient/PATIENT"},
    "effectiveDateTime": "2026-03-02T07:30:00-05:00",
    "issued": "2026-03-02T08:45:10.000-05:00",
    "performer": [{"display": "A. Langeveld, Clinical Laboratory"}],
    "valueQuantity": {"value": 128, "unit": "mmol/l", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    "interpretation": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": "L",
                    "display": "Low",
                }
            ]
        }
    ],
    "referenceRange": [
        {
            "low": {"value": 135, "unit": "mmol/l", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
            "high": {"value": 145, "unit": "mmol/l", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        }
    ],
}


def observation(
    patient_id: int | str | None = None,
    *,
    code: str = "2951-2",
    display: str = "Sodium",
    value=128,
    unit: str = "mmol/L",
    status: str = "final",
    identifier: str | None = "NA-6323",
    effective: str = "2026-03-02T07:30:00-05:00",
    subject: dict | None = None,
) -> dict:
    """A lab Observation shaped like the specification's examples, with the parts a test varies."""
    obs = copy.deepcopy(SODIUM)
    obs["code"] = {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display}
    obs["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    obs["status"] = status
    obs["effectiveDateTime"] = effective
    obs["subject"] = subject or {"reference": f"Patient/{patient_id}"}
    del obs["interpretation"], obs["referenceRange"]
    if identifier is None:
        del obs["identifier"]
    else:
        obs["identifier"][0]["value"] = identifier
    return obs


@dataclass
class World:
    clinic_id: int
    other_clinic_id: int
    maria: int  # DEMO-001, Xd
    robert: int  # DEMO-002, Xd
    dorothy: int  # DEMO-003, XVd
    stranger: int  # a patient of another clinic


def seed_world(engine, settings, clock) -> World:
    """The demo clinic with its three patients, and a second clinic with one patient."""
    seed_demo(engine, settings, clock.now())
    from server.db import session_scope
    from server.models import TreatmentPlan

    with session_scope(engine) as session:
        clinic = session.exec(select(Clinic)).first()
        other = Clinic(name="Other Clinic", phone="+15555550999", timezone="America/New_York", created_at=clock.now())
        session.add(other)
        session.flush()
        stranger = Patient(
            clinic_id=other.id,
            first_name="Sam",
            last_name="Other",
            date_of_birth=date(1950, 1, 1),
            mrn="DEMO-001",
            timezone="America/New_York",
            baseline_weight_kg=70,
            created_at=clock.now(),
        )
        session.add(stranger)
        session.flush()
        session.add(
            TreatmentPlan(
                patient_id=stranger.id,
                version=1,
                regimen="Xd",
                dose_level=0,
                status="active",
                start_date=clock.now().date(),
                day1_weekday=0,
                day3_weekday=2,
                dose_time=time(8, 0),
                created_at=clock.now(),
            )
        )
        clinic_id, other_id, stranger_id = clinic.id, other.id, stranger.id
    with Session(engine) as session:
        ids = {p.mrn: p.id for p in session.exec(select(Patient).where(Patient.clinic_id == clinic_id)).all()}
    return World(clinic_id, other_id, ids["DEMO-001"], ids["DEMO-002"], ids["DEMO-003"], stranger_id)


def new_client(engine, clock, clinic_id: int, *scopes: str) -> tuple[str, str]:
    client, secret = register_client(
        engine, name="Lab system", clinic_id=clinic_id, scopes=list(scopes), now=clock.now()
    )
    return client.client_id, secret


def bearer(http, client_id: str, secret: str, scope: str | None = None) -> dict:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        form["scope"] = scope
    answer = http.post("/oauth/token", data=form)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}", "Content-Type": "application/fhir+json"}
