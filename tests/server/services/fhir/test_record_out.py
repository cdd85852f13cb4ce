"""The record out: CapabilityStatement, Patient search, $everything (round trip), and the bulk $export as NDJSON."""

from __future__ import annotations

import json
import time as wall
from datetime import date, datetime, time, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.questionnaire import Questionnaire
from sqlmodel import select

from server.db import session_scope
from server.models import Alert, Patient, Staff, TreatmentPlan, WeightEntry
from tests.support.fhir import bearer, new_client, seed_world


@pytest.fixture
def world(engine, settings, clock):
    return seed_world(engine, settings, clock)


@pytest.fixture
def reader(client, engine, clock, world):
    return bearer(client, *new_client(engine, clock, world.clinic_id, "system/*.read"))


def test_metadata_is_a_capability_statement(client):
    answer = client.get("/fhir/metadata")
    assert answer.status_code == 200
    statement = CapabilityStatement.model_validate(answer.json())
    assert statement.fhirVersion == "4.0.1"
    patient = next(r for r in statement.rest[0].resource if r.type == "Patient")
    assert {o.name for o in patient.operation} == {"everything", "export"}
    questionnaire = Questionnaire.model_validate(client.get("/fhir/Questionnaire/companion-symptoms").json())
    assert "nausea" in [item.linkId for item in questionnaire.item]


def test_patient_search_by_mrn_with_and_without_system(client, settings, world, reader):
    system = settings.fhir_mrn_system.replace("{clinic}", str(world.clinic_id))
    for token in (f"{system}|DEMO-002", "DEMO-002"):
        bundle = Bundle.model_validate(client.get("/fhir/Patient", params={"identifier": token}, headers=reader).json())
        assert bundle.type == "searchset" and bundle.total == 1
        patient = bundle.entry[0].resource
        assert (patient.id, patient.identifier[0].system, patient.identifier[0].value) == (
            str(world.robert),
            system,
            "DEMO-002",
        )
    other = client.get("/fhir/Patient", params={"identifier": "urn:other|DEMO-002"}, headers=reader).json()
    assert other["total"] == 0


def test_everything_round_trips_and_holds_the_whole_record(client, engine, clock, world, reader):
    # A plan change by a nurse, so the plan has a history with its Provenance.
    with session_scope(engine) as session:
        nurse = session.exec(select(Staff).where(Staff.email == "nurse@demo.clinic")).one()
        first = session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == world.dorothy)).one()
        data = first.model_dump(exclude={"id"})
        data.update(
            version=2,
            dose_level=1,
            reason="Platelets 60: reduce one level",
            changed_by_staff_id=nurse.id,
            created_at=clock.now() - timedelta(hours=1),
        )
        session.add(TreatmentPlan(**data))
        session.add(
            Alert(
                patient_id=world.dorothy,
                family="labs",
                rule="R-PLT-75",
                tier="same_day",
                action="reduce",
                facts="Platelets 60 x10^9/L",
                opened_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    answer = client.get(f"/fhir/Patient/{world.dorothy}/$everything", headers=reader)
    assert answer.status_code == 200, answer.text
    bundle = Bundle.model_validate(answer.json())
    assert json.loads(bundle.model_dump_json()) == answer.json()  # parses and serialises back unchanged
    by_type: dict[str, list] = {}
    for entry in bundle.entry:
        by_type.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    assert set(by_type) >= {
        "Patient",
        "MedicationRequest",
        "Provenance",
        "MedicationAdministration",
        "Observation",
        "QuestionnaireResponse",
        "Flag",
    }
    plans = by_type["MedicationRequest"]
    assert [p.status for p in plans] == ["stopped", "active"]
    assert plans[1].dosageInstruction[0].doseAndRate[0].doseQuantity.value == 80  # XVd level 1
    assert plans[1].priorPrescription.reference == f"MedicationRequest/{plans[0].id}"
    change = next(p for p in by_type["Provenance"] if p.target[0].reference == f"MedicationRequest/{plans[1].id}")
    assert change.agent[0].who.display == nurse.name and change.reason[0].text == "Platelets 60: reduce one level"
    doses = by_type["MedicationAdministration"]
    assert {d.status for d in doses} == {"completed", "not-done"}  # DEMO-003 missed her third dose
    assert [d.statusReason[0].text for d in doses if d.status == "not-done"] == ["missed"]
    codes = {o.code.coding[0].code for o in by_type["Observation"]}
    assert {"29463-7", "8310-5"} <= codes
    weight = next(o for o in by_type["Observation"] if o.code.coding[0].code == "29463-7")
    assert weight.valueQuantity.code == "kg" and weight.category[0].coding[0].code == "vital-signs"
    assert by_type["QuestionnaireResponse"][0].questionnaire.endswith("/fhir/Questionnaire/companion-symptoms")
    [flag] = by_type["Flag"]
    assert (flag.status, flag.code.coding[0].code, flag.extension[0].valueCode) == ("active", "R-PLT-75", "same_day")


def test_everything_lists_only_the_types_the_token_may_read(client, engine, clock, world):
    headers = bearer(
        client, *new_client(engine, clock, world.clinic_id, "system/Patient.read", "system/Observation.read")
    )
    bundle = client.get(f"/fhir/Patient/{world.robert}/$everything", headers=headers).json()
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Patient", "Observation"}


def _seed_many(engine, clinic_id: int, count: int, now: datetime) -> None:
    start = date(2026, 2, 2)
    with session_scope(engine) as session:
        patients = [
            Patient(
                clinic_id=clinic_id,
                first_name=f"P{i}",
                last_name="Bulk",
                date_of_birth=date(1950, 1, 1),
                mrn=f"BULK-{i:05d}",
                timezone="America/New_York",
                baseline_weight_kg=70.0,
                created_at=now,
            )
            for i in range(count)
        ]
        session.add_all(patients)
        session.flush()
        for p in patients:
            session.add(
                TreatmentPlan(
                    patient_id=p.id,
                    version=1,
                    regimen="Xd",
                    dose_level=0,
                    status="active",
                    start_date=start,
                    day1_weekday=0,
                    day3_weekday=2,
                    dose_time=time(8, 0),
                    created_at=now,
                )
            )
            session.add(
                WeightEntry(
                    patient_id=p.id,
                    idempotency_key=f"bulk-w-{p.id}",
                    at=now,
                    kg=69.5,
                    entered_value=69.5,
                    entered_unit="kg",
                    recorded_at=now,
                )
            )


@pytest.mark.slow
def test_bulk_export_of_1000_patients_completes_and_its_ndjson_validates(client, engine, clock, world, reader):
    _seed_many(engine, world.clinic_id, 1000, clock.now())
    kickoff = client.get("/fhir/Patient/$export", headers={**reader, "Prefer": "respond-async"})
    assert kickoff.status_code == 202
    status_url = kickoff.headers["content-location"]
    assert status_url.startswith("http://testserver.local/fhir/$export-status/")
    deadline = wall.monotonic() + 120
    while True:
        status = client.get(status_url.removeprefix("http://testserver.local"), headers=reader)
        if status.status_code != 202:
            break
        assert wall.monotonic() < deadline, "export did not finish"
        wall.sleep(0.5)
    assert status.status_code == 200, status.text
    manifest = status.json()
    counts = {out["type"]: out["count"] for out in manifest["output"]}
    assert counts["Patient"] == 1003  # the three demo patients too, not the other clinic's
    assert counts["MedicationRequest"] >= 1003 and counts["Observation"] >= 1000
    for out in manifest["output"]:
        answer = client.get(out["url"].removeprefix("http://testserver.local"), headers=reader)
        assert answer.headers["content-type"].startswith("application/fhir+ndjson")
        lines = answer.text.splitlines()
        assert len(lines) == out["count"]
        model = get_fhir_model_class(out["type"])
        for line in lines:
            assert model.model_validate_json(line).get_resource_type() == out["type"]
    # Another client cannot read this export.
    other = bearer(client, *new_client(engine, clock, world.clinic_id, "system/*.read"))
    assert client.get(status_url.removeprefix("http://testserver.local"), headers=other).status_code == 404
