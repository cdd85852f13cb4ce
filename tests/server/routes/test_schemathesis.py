"""Schemathesis over the JSON APIs (issue 13, item 9): every operation of the app's own OpenAPI schema (the patient
API, as a signed-in patient with the CSRF header the API requires), and the machine and staff JSON endpoints that
/schema leaves out (the FHIR API with a bearer token, the staff inbox index as a signed-in nurse), each fuzzed with
Schemathesis' valid and invalid cases. No answer may be a server error; the patient API's 2xx answers must also match
their documented content type and schema.

Runs on whichever database the suite runs on (SQLite by default, PostgreSQL with DATABASE_URL). Example counts are
bounded so the whole file takes about a minute on a 2-CPU machine.

Requests go through Litestar's TestClient (the session cookie and CSRF token it holds), not Schemathesis' own ASGI
transport, so each test's app, engine and clock stay the test's.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tests.support.fhir import bearer, new_client, seed_world
from tests.support.patient import BASE_URL, PatientBrowser, sign_in_link
from tests.support.staff import NURSE, csrf_token, sign_in

EXAMPLES_PER_OPERATION = 25
# Operations that change who is signed in: the walk signs the patient in again after each of them.
SESSION_CHANGING = {"/api/sign-in", "/api/sign-out"}


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    """Send a Schemathesis case through the test's own client (its cookies), with the given extra headers."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), dict):
        body["data"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"] if isinstance(kwargs["data"], bytes) else str(kwargs["data"]).encode()
    return client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=kwargs["headers"], **body
    )


def _walk(operations: list[Any], each: Any) -> list[str]:
    """Run `each(case)` on Schemathesis' valid and invalid cases of every operation; the failures, described."""
    failures: list[str] = []
    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def run(case: Any) -> None:
            try:
                each(case)
            except FailureGroup as failure:  # keep walking: report every failing operation at the end
                failures.append(f"{case.method} {case.formatted_path}: {str(failure)[:600]}")

        run()
    return failures


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


# ------------------------------------------------------------------------------------------ the patient API (/schema)


def test_schemathesis_patient_api_never_answers_5xx(app, engine, patient, clock):
    schema = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
    operations = _operations(schema)
    assert len(operations) >= 15  # every documented operation of the patient API is walked
    with TestClient(app, base_url=BASE_URL) as client:
        browser = PatientBrowser(client)
        browser.sign_in(sign_in_link(engine, patient, clock.now()))

        def each(case: Any) -> None:
            answer = _send(client, case, {"x-csrftoken": browser.csrf})
            checks = [not_a_server_error]
            if 200 <= answer.status_code < 300:
                checks += [content_type_conformance, response_schema_conformance]
            try:
                case.validate_response(answer, checks=checks)
            finally:
                if case.operation.path in SESSION_CHANGING:
                    browser.sign_in(sign_in_link(engine, patient, clock.now()))

        failures = _walk(operations, each)
    assert not failures, "\n\n".join(failures[:8])


# ------------------------------------------------------------------ the endpoints /schema leaves out, described here

_STRING = {"type": "string"}
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_CODING = {
    "type": "object",
    "properties": {"system": _STRING, "code": _STRING, "display": _STRING},
}
_OBSERVATION = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Observation", "Patient", "Bundle"]},
        "status": {"type": "string", "enum": ["final", "amended", "corrected", "preliminary", "cancelled", "x"]},
        "identifier": {
            "type": "array",
            "items": {"type": "object", "properties": {"system": _STRING, "value": _STRING}},
        },
        "code": {"type": "object", "properties": {"coding": {"type": "array", "items": _CODING}, "text": _STRING}},
        "subject": {"type": "object", "properties": {"reference": _STRING, "identifier": _ANY_OBJECT}},
        "effectiveDateTime": _STRING,
        "issued": _STRING,
        "valueQuantity": {
            "type": "object",
            "properties": {"value": {"type": "number"}, "unit": _STRING, "system": _STRING, "code": _STRING},
        },
    },
}
_BUNDLE = {
    "type": "object",
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction", "batch", "collection"]},
        "entry": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": _STRING,
                    "resource": _OBSERVATION,
                    "request": {"type": "object", "properties": {"method": _STRING, "url": _STRING}},
                },
            },
        },
    },
}


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or _STRING}


def _query(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema or _STRING}


def _json_body(schema: dict[str, Any], media_type: str = "application/fhir+json") -> dict[str, Any]:
    return {"required": True, "content": {media_type: {"schema": schema}}}


_ANSWERS = {"default": {"description": "any answer"}}
HIDDEN_OPERATIONS: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "FHIR and staff JSON endpoints (hidden from /schema)", "version": "1"},
    "paths": {
        "/oauth/token": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grant_type": {"type": "string", "enum": ["client_credentials", "password"]},
                                    "client_id": _STRING,
                                    "client_secret": _STRING,
                                    "scope": _STRING,
                                },
                            }
                        }
                    },
                },
                "responses": _ANSWERS,
            }
        },
        "/fhir/metadata": {"get": {"responses": _ANSWERS}},
        "/fhir/Patient": {"get": {"parameters": [_query("identifier")], "responses": _ANSWERS}},
        "/fhir/Patient/{patient_id}/$everything": {"get": {"parameters": [_path("patient_id")], "responses": _ANSWERS}},
        "/fhir/Observation": {"post": {"requestBody": _json_body(_OBSERVATION), "responses": _ANSWERS}},
        "/fhir": {"post": {"requestBody": _json_body(_BUNDLE), "responses": _ANSWERS}},
        "/fhir/Patient/$export": {"get": {"parameters": [_query("_type")], "responses": _ANSWERS}},
        "/fhir/$export-status/{job_key}": {
            "get": {"parameters": [_path("job_key")], "responses": _ANSWERS},
            "delete": {"parameters": [_path("job_key")], "responses": _ANSWERS},
        },
        "/fhir/$export-file/{job_key}/{name}": {
            "get": {"parameters": [_path("job_key"), _path("name")], "responses": _ANSWERS}
        },
        "/staff/inbox/index": {"get": {"responses": _ANSWERS}},
        "/staff/inbox/list": {
            "get": {
                "parameters": [
                    _query("tier", {"type": "string", "enum": ["", "urgent", "same_day", "routine"]}),
                    _query("mine", {"type": "boolean"}),
                    _query("page", {"type": "integer"}),
                ],
                "responses": _ANSWERS,
            }
        },
        "/staff/inbox/alerts/{alert_id}": {
            "get": {"parameters": [_path("alert_id", {"type": "integer"})], "responses": _ANSWERS}
        },
    },
}


@pytest.fixture
def world(engine, settings, clock):
    return seed_world(engine, settings, clock)


def test_schemathesis_fhir_and_staff_json_never_answer_5xx(app, engine, clock, world):
    schema = schemathesis.openapi.from_dict(HIDDEN_OPERATIONS)
    operations = _operations(schema)
    # One client (one app lifespan): the FHIR requests carry the bearer token, the staff ones the nurse's cookie.
    with TestClient(app, base_url=BASE_URL) as client:
        scopes = ("system/*.read", "system/Observation.write")
        token = bearer(client, *new_client(engine, clock, world.clinic_id, *scopes))
        assert sign_in(client, NURSE).status_code in (302, 303)

        def each(case: Any) -> None:
            if case.operation.path.startswith("/staff/"):
                answer = _send(client, case, {"x-csrftoken": csrf_token(client)})
            else:
                answer = _send(client, case, {"Authorization": token["Authorization"]})
            case.validate_response(answer, checks=[not_a_server_error])

        failures = _walk(operations, each)
    assert not failures, "\n\n".join(failures[:8])
