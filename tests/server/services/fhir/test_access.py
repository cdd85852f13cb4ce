"""Who may call the FHIR API: tokens, scopes, revocation, clinics, and the audit row of every request."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from server.models import AuditLog, FhirClient
from server.services.fhir.clients import revoke_client
from tests.support.fhir import bearer, new_client, observation, seed_world


@pytest.fixture
def world(engine, settings, clock):
    return seed_world(engine, settings, clock)


def routes(world):
    """(method, path, body) of every protected FHIR route, about a patient of the client's clinic."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": observation(world.maria), "request": {"method": "POST", "url": "Observation"}}],
    }
    return [
        ("GET", "/fhir/Patient?identifier=DEMO-001", None),
        ("GET", f"/fhir/Patient/{world.maria}/$everything", None),
        ("POST", "/fhir/Observation", observation(world.maria)),
        ("POST", "/fhir", bundle),
        ("GET", "/fhir/Patient/$export", None),
    ]


def call(client, method, path, body, headers=None):
    return client.request(method, path, content=json.dumps(body) if body else None, headers=headers or {})


def test_every_route_needs_a_token(client, world):
    for method, path, body in routes(world):
        answer = call(client, method, path, body, {"Content-Type": "application/fhir+json"})
        assert answer.status_code == 401, path
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    garbage = call(client, "GET", "/fhir/Patient?identifier=DEMO-001", None, {"Authorization": "Bearer nope"})
    assert garbage.status_code == 401


def test_scopes_are_enforced_per_route(client, engine, clock, world):
    reader = bearer(client, *new_client(engine, clock, world.clinic_id, "system/Patient.read"))
    writer = bearer(client, *new_client(engine, clock, world.clinic_id, "system/Observation.write"))
    expected_reader = [200, 200, 403, 403, 202]
    expected_writer = [403, 403, 201, 200, 403]
    got_reader = [call(client, m, p, b, reader).status_code for m, p, b in routes(world)]
    got_writer = [call(client, m, p, b, writer).status_code for m, p, b in routes(world)]
    assert (got_reader, got_writer) == (expected_reader, expected_writer)


def test_a_token_is_limited_to_the_scopes_asked_for_and_granted(client, engine, clock, world):
    ids = new_client(engine, clock, world.clinic_id, "system/Patient.read", "system/Observation.write")
    narrow = bearer(client, *ids, scope="system/Patient.read")
    assert call(client, "POST", "/fhir/Observation", observation(world.maria), narrow).status_code == 403
    refused = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ids[0],
            "client_secret": ids[1],
            "scope": "system/*.write",
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_wrong_secret_and_wrong_grant_are_refused(client, engine, clock, world):
    client_id, _ = new_client(engine, clock, world.clinic_id, "system/*.read")
    wrong = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "guess"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = client.post("/oauth/token", data={"grant_type": "password", "client_id": client_id, "client_secret": "x"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_a_revoked_client_loses_its_tokens_at_once_and_gets_no_new_ones(client, engine, clock, world):
    client_id, secret = new_client(engine, clock, world.clinic_id, "system/*.read")
    headers = bearer(client, client_id, secret)
    assert call(client, "GET", f"/fhir/Patient/{world.maria}/$everything", None, headers).status_code == 200
    with Session(engine) as session:
        pk = session.exec(select(FhirClient.id).where(FhirClient.client_id == client_id)).one()
    revoke_client(engine, pk, clinic_id=world.clinic_id, now=clock.now())
    assert call(client, "GET", f"/fhir/Patient/{world.maria}/$everything", None, headers).status_code == 401
    again = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert again.status_code == 401


def test_tokens_expire(client, engine, clock, world):
    headers = bearer(client, *new_client(engine, clock, world.clinic_id, "system/*.read"))
    clock.advance(minutes=6)
    assert call(client, "GET", "/fhir/Patient?identifier=DEMO-001", None, headers).status_code == 401


def test_another_clinics_patients_do_not_exist_for_a_client(client, engine, clock, world):
    headers = bearer(client, *new_client(engine, clock, world.clinic_id, "system/*.read", "system/Observation.write"))
    assert call(client, "GET", f"/fhir/Patient/{world.stranger}/$everything", None, headers).status_code == 404
    assert call(client, "POST", "/fhir/Observation", observation(world.stranger), headers).status_code == 404
    # The stranger has the same MRN in the other clinic: the search finds only this clinic's patient.
    found = call(client, "GET", "/fhir/Patient?identifier=DEMO-001", None, headers).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(world.maria)]


def test_every_request_is_audited_with_the_client(client, engine, clock, world):
    client_id, secret = new_client(engine, clock, world.clinic_id, "system/Patient.read")
    headers = bearer(client, client_id, secret)
    call(client, "GET", "/fhir/Patient?identifier=DEMO-001", None, headers)
    call(client, "POST", "/fhir/Observation", observation(world.maria), headers)  # 403
    call(client, "GET", "/fhir/Patient?identifier=DEMO-001", None, {})  # 401, no client
    with Session(engine) as session:
        pk = session.exec(select(FhirClient.id).where(FhirClient.client_id == client_id)).one()
        rows = session.exec(select(AuditLog).where(AuditLog.action.like("fhir.%")).order_by(AuditLog.id)).all()
    assert [(r.action, r.fhir_client_id) for r in rows] == [
        ("fhir.token", pk),
        ("fhir.patient.search", pk),
        ("fhir.observation.create", pk),
        ("fhir.patient.search", None),
    ]
    assert [r.detail.split()[:2] for r in rows[1:]] == [["HTTP", "200"], ["HTTP", "403"], ["HTTP", "401"]]
    assert rows[1].patient_id == world.maria
