"""Admins register and revoke the FHIR API's machine clients in the staff pages (issue 15 item 2)."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from server.models import AuditLog, FhirClient
from tests.support.staff import ADMIN, NURSE, post_form, seed, sign_in


def test_an_admin_registers_a_client_sees_its_secret_once_and_the_client_gets_a_token(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, ADMIN)
    page = post_form(client, "/staff/admin/fhir-clients", {"name": "Lab system", "scopes": "system/Observation.write"})
    assert page.status_code == 200
    client_id = re.search(r"Client id</dt><dd><code>([^<]+)</code>", page.text).group(1)
    secret = re.search(r"Client secret</dt><dd><code>([^<]+)</code>", page.text).group(1)
    with Session(engine) as session:
        stored = session.exec(select(FhirClient).where(FhirClient.client_id == client_id)).one()
        assert stored.scopes == "system/Observation.write" and secret not in stored.secret_hash
        assert session.exec(select(AuditLog).where(AuditLog.action == "fhir_client.create")).first() is not None
    assert secret not in client.get("/staff/admin/fhir-clients").text  # shown once
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert token.status_code == 200 and token.json()["access_token"]

    revoked = post_form(client, f"/staff/admin/fhir-clients/{stored.id}/revoke", follow_redirects=False)
    assert revoked.status_code == 303
    again = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert again.status_code in (400, 401)


def test_a_bad_scope_is_refused_in_words_and_nothing_is_stored(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, ADMIN)
    page = post_form(client, "/staff/admin/fhir-clients", {"name": "EHR", "scopes": "everything"})
    assert page.status_code == 422
    assert "is not a scope like system/Observation.write" in page.text
    blank = post_form(client, "/staff/admin/fhir-clients", {"name": "", "scopes": ""})
    assert blank.status_code == 422 and "Give the client a name" in blank.text
    with Session(engine) as session:
        assert session.exec(select(FhirClient)).all() == []


def test_a_nurse_may_not_register_clients(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, NURSE)
    assert client.get("/staff/admin/fhir-clients").status_code == 403
    assert post_form(client, "/staff/admin/fhir-clients", {"name": "x", "scopes": "system/*.read"}).status_code == 403
