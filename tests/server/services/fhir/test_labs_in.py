"""Labs in over FHIR: mapping, units, duplicates, amendments, bundles, bad input, and the same path as staff entry."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlmodel import Session, select

from server.context import AppContext
from server.models import Alert, AuditLog, FhirLabObservation, LabResult, Staff
from server.services.labs import LabEntry, enter_labs
from tests.support.fhir import bearer, new_client, observation, seed_world


@pytest.fixture
def world(engine, settings, clock):
    return seed_world(engine, settings, clock)


@pytest.fixture
def headers(client, engine, clock, world):
    client_id, secret = new_client(engine, clock, world.clinic_id, "system/Observation.write", "system/*.read")
    return bearer(client, client_id, secret)


def post(client, headers, resource, path="/fhir/Observation"):
    return client.post(path, content=json.dumps(resource), headers=headers)


def labs(engine, patient_id):
    with Session(engine) as session:
        return list(
            session.exec(select(LabResult).where(LabResult.patient_id == patient_id).order_by(LabResult.id)).all()
        )


def open_alerts(engine, patient_id):
    with Session(engine) as session:
        return list(session.exec(select(Alert).where(Alert.patient_id == patient_id, Alert.status == "open")).all())


def outcome_of(answer) -> OperationOutcome:
    return OperationOutcome.model_validate(answer.json())


@pytest.mark.parametrize(
    "code, display, value, unit, field, stored",
    [
        ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", 128, "mmol/L", "sodium_mmol_l", 128.0),
        ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", 133, "meq/L", "sodium_mmol_l", 133.0),
        ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", 133, "mEq/L", "sodium_mmol_l", 133.0),
        ("777-3", "Platelets [#/volume] in Blood by Automated count", 180, "10*3/uL", "platelets_10e9_l", 180.0),
        ("26515-7", "Platelets [#/volume] in Blood", 180, "10*9/L", "platelets_10e9_l", 180.0),
        ("777-3", "Platelets [#/volume] in Blood by Automated count", 180000, "/uL", "platelets_10e9_l", 180.0),
        ("751-8", "Neutrophils [#/volume] in Blood by Automated count", 2.5, "10*3/uL", "anc_10e9_l", 2.5),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", 11.2, "g/dL", "hemoglobin_g_dl", 11.2),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", 112, "g/L", "hemoglobin_g_dl", 11.2),
    ],
)
def test_each_mapped_lab_is_stored_in_the_units_of_the_rules(
    client, engine, world, headers, code, display, value, unit, field, stored
):
    answer = post(client, headers, observation(world.maria, code=code, display=display, value=value, unit=unit))
    assert answer.status_code == 201, answer.text
    Observation.model_validate(answer.json())
    assert answer.headers["content-type"].startswith("application/fhir+json")
    [lab] = labs(engine, world.maria)
    assert getattr(lab, field) == pytest.approx(stored)
    assert lab.source == "import" and lab.entered_by_staff_id is None


def test_anc_of_0_4_from_a_client_opens_the_same_urgent_alert_as_staff_entry(
    client, engine, settings, clock, world, headers
):
    with Session(engine) as session:
        nurse = session.exec(select(Staff).where(Staff.email == "nurse@demo.clinic")).one()
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    enter_labs(
        ctx, nurse, world.maria, LabEntry(collected_on="2026-03-02", anc_10e9_l="0.4", key="staff-anc-0001"), ip=None
    )
    answer = post(
        client,
        headers,
        observation(
            world.robert,
            code="751-8",
            value=0.4,
            unit="10*9/L",
            display="Neutrophils [#/volume] in Blood by Automated count",
        ),
    )
    assert answer.status_code == 201, answer.text

    def lab_alerts(patient_id):
        return [(a.rule, a.tier, a.action, a.family) for a in open_alerts(engine, patient_id) if a.family == "labs"]

    assert lab_alerts(world.robert) == lab_alerts(world.maria) == [("R-ANC-05", "urgent", "interrupt", "labs")]


def test_the_same_observation_twice_is_stored_once(client, engine, world, headers):
    first = post(client, headers, observation(world.maria, value=128))
    again = post(client, headers, observation(world.maria, value=128))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    # Without an identifier: the same subject, code, time and value is the same result.
    third = post(client, headers, observation(world.maria, value=128, identifier=None))
    assert third.status_code == 200
    assert len(labs(engine, world.maria)) == 1


def test_preliminary_is_stored_without_running_the_rules_and_final_runs_them(client, engine, world, headers):
    answer = post(client, headers, observation(world.maria, value=126, status="preliminary"))
    assert answer.status_code == 201
    assert labs(engine, world.maria) == []
    assert not [a for a in open_alerts(engine, world.maria) if a.rule == "R-NA"]
    final = post(client, headers, observation(world.maria, value=126, status="final"))
    assert final.status_code == 201
    assert [lab.sodium_mmol_l for lab in labs(engine, world.maria)] == [126]
    assert [a.rule for a in open_alerts(engine, world.maria) if a.family == "labs"] == ["R-NA"]


def test_an_amended_value_replaces_the_earlier_one_and_re_runs_the_rules(client, engine, world, headers):
    assert post(client, headers, observation(world.maria, value=138)).status_code == 201
    assert not [a for a in open_alerts(engine, world.maria) if a.family == "labs"]
    amended = post(client, headers, observation(world.maria, value=128, status="amended"))
    assert amended.status_code == 201, amended.text
    rows = labs(engine, world.maria)
    assert [(r.sodium_mmol_l, r.superseded_at is not None) for r in rows] == [(138, True), (128, False)]
    assert [a.rule for a in open_alerts(engine, world.maria) if a.family == "labs"] == ["R-NA"]
    # The same amendment again is a duplicate.
    assert post(client, headers, observation(world.maria, value=128, status="amended")).status_code == 200
    assert len(labs(engine, world.maria)) == 2
    # A different *final* value for the same identifier is a contradiction only the lab can resolve.
    conflict = post(client, headers, observation(world.maria, value=140, status="final"))
    assert conflict.status_code == 409
    assert outcome_of(conflict).issue[0].expression == ["Observation.status"]


def test_a_lab_from_a_client_is_audited_with_the_client_as_the_actor(client, engine, world, headers):
    post(client, headers, observation(world.maria, value=128))
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "lab.create")).all()
    assert len(rows) == 1
    assert rows[0].fhir_client_id is not None and rows[0].staff_id is None and rows[0].patient_id == world.maria


@pytest.mark.parametrize(
    "change, status, expression",
    [
        (
            dict(code="2345-7", display="Glucose [Mass/volume] in Serum or Plasma", value=5.5, unit="mmol/L"),
            422,
            "Observation.code.coding",
        ),
        (dict(value=128, unit="mg/dL"), 422, "Observation.valueQuantity.code"),
        (dict(code="751-8", display="Neutrophils", value=2.0, unit="mmol/L"), 422, "Observation.valueQuantity.code"),
        (dict(value=190), 422, "Observation.valueQuantity.value"),
        (dict(code="718-7", display="Hemoglobin", value=300, unit="g/L"), 422, "Observation.valueQuantity.value"),
        (dict(value=128, effective="2026-03-09T07:30:00-05:00"), 422, "Observation.effectiveDateTime"),
        (dict(value=128, status="registered"), 422, "Observation.status"),
        (
            dict(value=128, subject={"identifier": {"system": "urn:companion:mrn:1", "value": "NOPE-9"}}),
            404,
            "Observation.subject.identifier",
        ),
    ],
)
def test_bad_input_gets_an_operation_outcome_naming_the_element_and_nothing_is_stored(
    client, engine, world, headers, change, status, expression
):
    answer = post(client, headers, observation(world.maria, **change))
    assert answer.status_code == status, answer.text
    issue = outcome_of(answer).issue[0]
    assert issue.expression == [expression]
    assert labs(engine, world.maria) == []
    with Session(engine) as session:
        assert session.exec(select(FhirLabObservation)).all() == []


def test_unknown_patient_wrong_type_and_malformed_json_are_refused(client, engine, world, headers):
    missing = post(client, headers, observation(999999))
    assert missing.status_code == 404 and outcome_of(missing).issue[0].code == "not-found"
    patient = post(client, headers, {"resourceType": "Patient", "id": "example", "active": True})
    assert patient.status_code == 422 and outcome_of(patient).issue[0].expression == ["Observation.resourceType"]
    broken = client.post("/fhir/Observation", content=b'{"resourceType": "Observation", "status": ', headers=headers)
    assert broken.status_code == 400 and outcome_of(broken).issue[0].code == "structure"
    bad_decimal = observation(world.maria)
    bad_decimal["valueQuantity"]["value"] = "one hundred"
    bad = post(client, headers, bad_decimal)
    assert bad.status_code == 400 and outcome_of(bad).issue[0].expression == ["Observation.valueQuantity.value"]
    assert labs(engine, world.maria) == []


def test_the_subject_can_be_named_by_the_mrn_identifier(client, engine, world, headers, settings):
    system = settings.fhir_mrn_system.replace("{clinic}", str(world.clinic_id))
    answer = post(client, headers, observation(subject={"identifier": {"system": system, "value": "DEMO-002"}}))
    assert answer.status_code == 201, answer.text
    assert len(labs(engine, world.robert)) == 1


def _bundle(kind: str, resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": f"urn:uuid:0f6c1a2e-0000-4000-8000-00000000000{i}",
                "resource": r,
                "request": {"method": "POST", "url": "Observation"},
            }
            for i, r in enumerate(resources)
        ],
    }


def test_a_transaction_with_one_bad_entry_stores_nothing(client, engine, world, headers):
    bundle = _bundle(
        "transaction",
        [
            observation(world.maria, value=128, identifier="T-1"),
            observation(world.maria, code="777-3", display="Platelets", value=60, unit="10*3/uL", identifier="T-2"),
            observation(world.maria, code="751-8", display="Neutrophils", value=0.4, unit="kg", identifier="T-3"),
        ],
    )
    answer = post(client, headers, bundle, "/fhir")
    assert answer.status_code == 422
    assert outcome_of(answer).issue[0].expression == ["Bundle.entry[2].resource.valueQuantity.code"]
    assert labs(engine, world.maria) == []
    bundle["entry"][2]["resource"]["valueQuantity"]["code"] = "10*3/uL"
    ok = post(client, headers, bundle, "/fhir")
    assert ok.status_code == 200, ok.text
    response = Bundle.model_validate(ok.json())
    assert response.type == "transaction-response"
    assert [e.response.status for e in response.entry] == ["201 Created"] * 3
    assert len(labs(engine, world.maria)) == 3


def test_a_batch_gives_per_entry_outcomes(client, engine, world, headers):
    bundle = _bundle(
        "batch",
        [
            observation(world.maria, value=128, identifier="B-1"),
            observation(world.maria, code="2345-7", display="Glucose", value=5.5, unit="mmol/L", identifier="B-2"),
            observation(999999, value=130, identifier="B-3"),
            observation(world.robert, code="718-7", display="Hemoglobin", value=95, unit="g/L", identifier="B-4"),
        ],
    )
    answer = post(client, headers, bundle, "/fhir")
    assert answer.status_code == 200, answer.text
    response = Bundle.model_validate(answer.json())
    assert response.type == "batch-response"
    assert [e.response.status.split()[0] for e in response.entry] == ["201", "422", "404", "201"]
    assert response.entry[1].response.outcome.issue[0].expression == ["Bundle.entry[1].resource.code.coding"]
    assert [lab.sodium_mmol_l for lab in labs(engine, world.maria)] == [128]
    assert [lab.hemoglobin_g_dl for lab in labs(engine, world.robert)] == [pytest.approx(9.5)]
