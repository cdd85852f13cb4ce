"""Statement budgets (issue 16): what one request sends to the database is a count, not a timing, so an N+1 or a
second session shows up here as a failing number. Budgets are per request and independent of the data's size."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.statements import count_statements
from tests.support.patient import PatientBrowser, make_patient, sign_in_link

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


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/symptoms", {"nausea": "none", "fatigue": "tired_rest_helps", "loose_stools": 1}),
        ("/api/weights", {"value": 70.2, "unit": "kg"}),
        ("/api/doses", {"status": "taken", "antiemetic_taken": True}),
    ],
)
def test_an_entry_post_stays_within_its_statement_budget(browser, engine, path, body):
    browser.api("POST", "/api/antiemetics", json={"idempotency_key": _key()})  # warm: the first request compiles
    with count_statements(engine) as log:
        response = browser.api("POST", path, json={**body, "idempotency_key": _key()})
    assert response.status_code == 201, response.text
    budget = ENTRY_STATEMENTS + (1 if engine.dialect.name == "sqlite" else 0)
    assert log.count <= budget, log.statements
    assert log.transactions == 2  # the sign-in lookup and the entry's own transaction: nothing else opens one


# The roster and a patient's page: the same number of statements for a clinic of 3 patients or of 60 (issue 16).
@pytest.fixture
def nurse(app, engine, settings, clock):
    from litestar.testing import TestClient

    from tests.support.staff import NURSE, seed, sign_in

    seed(engine, settings, clock)
    with TestClient(app, base_url="http://testserver.local") as client:
        sign_in(client, NURSE)
        yield client


def _add_patients(engine, settings, clock, count: int, first: int = 0) -> None:
    now = clock.now()
    for i in range(first, first + count):
        make_patient(
            engine,
            settings,
            now,
            mrn=f"BULK-{i:03d}",
            first_name=f"Bulk{i:03d}",
            phone=None,
            weights=tuple((timedelta(days=d), 70.0 - d / 10) for d in range(1, 6)),
        )


def _roster_statements(nurse, engine, path: str = "/staff/patients") -> tuple[int, str]:
    nurse.get(path)  # warm
    with count_statements(engine) as log:
        page = nurse.get(path)
    assert page.status_code == 200
    return log.count, page.text


@pytest.mark.parametrize("path", ["/staff/patients", "/staff/patients?sort=weight", "/staff/patients?sort=name&q=bulk"])
def test_the_roster_costs_the_same_statements_whatever_the_clinic_size(nurse, engine, settings, clock, path):
    _add_patients(engine, settings, clock, 2)
    small, _ = _roster_statements(nurse, engine, path)
    _add_patients(engine, settings, clock, 60, first=2)
    large, html = _roster_statements(nurse, engine, path)
    assert large == small <= 12
    assert html.count('<a href="/staff/patients/') - html.count("/staff/patients/new") <= 50  # one page on the wire
    assert "Page 1 of 2" in html


def test_the_roster_pages_through_every_patient_once(nurse, engine, settings, clock):
    _add_patients(engine, settings, clock, 60)
    seen = []
    for page in (1, 2):
        html = nurse.get(f"/staff/patients?sort=mrn&page={page}").text
        seen += [m for m in html.split('href="/staff/patients/')[1:] if not m.startswith("new")]
    assert len(seen) == 63 and len({m.split('"')[0] for m in seen}) == 63


def test_a_patient_page_costs_the_same_statements_whatever_the_history(nurse, engine, settings, clock):
    from tests.support.staff import patient_by_mrn

    maria = patient_by_mrn(engine, "DEMO-001")
    small, _ = _roster_statements(nurse, engine, f"/staff/patients/{maria.id}")
    _add_patients(engine, settings, clock, 20)
    large, _ = _roster_statements(nurse, engine, f"/staff/patients/{maria.id}")
    assert large == small


def test_the_rules_inputs_query_stays_short_enough_for_psycopg_to_cache():
    """psycopg re-parses every execution of a statement longer than 4,096 characters (psycopg/_queries.py,
    MAX_CACHED_STATEMENT_LENGTH); the rules' inputs run on every entry, so theirs stays under it (patient_state._branch
    types the columns in the first branch only)."""
    from sqlalchemy.dialects import postgresql

    from server.services.patient_state import _inputs_query

    for one_patient in (True, False):
        sql = str(_inputs_query("postgresql", one_patient).compile(dialect=postgresql.dialect()))
        # One patient: a scalar (PostgreSQL keeps a generic plan); many: one array (the text never changes).
        assert ("ANY" in sql) is not one_patient and "POSTCOMPILE" not in sql
        assert len(sql) < 4096, (one_patient, len(sql))
