"""Statement budgets (issue 16): what one request sends to the database is a count, not a timing, so an N+1 or a
second session shows up here as a failing number. Budgets are per request and independent of the data's size."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from test_patient_helpers import PatientBrowser, make_patient, sign_in_link

from tests.statements import count_statements

# Statements per entry POST (issue 16: <= 8): the signed-in patient, then one transaction: the patient with their
# clinic, the idempotency key, the plan versions, the INSERT, the rules' inputs (one UNION ALL), the open alerts;
# a weight also reads the previous weight and a dose the anti-nausea log before it. SQLite adds its BEGIN IMMEDIATE.
ENTRY_STATEMENTS = 8


@pytest.fixture
def browser(app, engine, settings, clock):
    from litestar.testing import TestClient

    patient = make_patient(engine, settings, clock.now(), weights=((timedelta(days=2), 70.0),))
    with TestClient(app, base_url="http://testserver.local") as client:
        b = PatientBrowser(client)
        b.sign_in(sign_in_link(engine, patient, clock.now()))
        yield b


def _key() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("path, body", [
    ("/api/symptoms", {"nausea": "none", "fatigue": "tired_rest_helps", "loose_stools": 1}),
    ("/api/weights", {"value": 70.2, "unit": "kg"}),
    ("/api/doses", {"status": "taken", "antiemetic_taken": True}),
])
def test_an_entry_post_stays_within_its_statement_budget(browser, engine, path, body):
    browser.api("POST", "/api/antiemetics", json={"idempotency_key": _key()})  # warm: the first request compiles
    with count_statements(engine) as log:
        response = browser.api("POST", path, json={**body, "idempotency_key": _key()})
    assert response.status_code == 201, response.text
    budget = ENTRY_STATEMENTS + (1 if engine.dialect.name == "sqlite" else 0)
    assert log.count <= budget, log.statements
    assert log.transactions == 2  # the sign-in lookup and the entry's own transaction: nothing else opens one
