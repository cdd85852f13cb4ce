"""Password-less sign-in: single-use links (72 h), the SMS outbox row, asking for a new link, revoking sessions."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.context import AppContext
from server.db import session_scope
from server.models import AuditLog, OutboundMessage, Patient, PushSubscription, SignInToken
from server.services import invites
from tests.support.patient import BASE_URL, PatientBrowser, make_patient, sign_in_link


@pytest.fixture
def ctx(settings, engine, clock) -> AppContext:
    return AppContext(settings=settings, engine=engine, clock=clock)


def _token(link: str) -> str:
    return link.rsplit("/i/", 1)[1]


def test_a_link_stores_only_a_hash_and_expires_after_72_hours(engine, patient, clock):
    link = sign_in_link(engine, patient, clock.now())
    assert link.startswith(f"{BASE_URL}/i/")
    with Session(engine) as session:
        row = session.exec(select(SignInToken)).one()
    assert row.token_hash == hashlib.sha256(_token(link).encode()).hexdigest()
    assert _token(link) not in str(row.model_dump())
    assert row.expires_at - row.created_at == timedelta(hours=72)


def test_a_link_works_once(ctx, engine, patient, clock):
    token = _token(sign_in_link(engine, patient, clock.now()))
    assert invites.redeem_sign_in_link(ctx, token).id == patient.id
    with pytest.raises(invites.InvalidSignInLink) as used:
        invites.redeem_sign_in_link(ctx, token)
    assert used.value.reason == "used" and "already used" in used.value.message


def test_an_expired_or_unknown_link_is_refused(ctx, engine, patient, clock):
    token = _token(sign_in_link(engine, patient, clock.now()))
    clock.advance(hours=72)
    with pytest.raises(invites.InvalidSignInLink) as expired:
        invites.redeem_sign_in_link(ctx, token)
    assert expired.value.reason == "expired"
    with pytest.raises(invites.InvalidSignInLink) as unknown:
        invites.redeem_sign_in_link(ctx, "not-a-real-token")
    assert unknown.value.reason == "unknown"


def test_opening_the_link_does_not_use_it_the_button_does(app, engine, patient, clock):
    """Messaging apps fetch links for previews: only the POST from the page signs in."""
    link = sign_in_link(engine, patient, clock.now())
    path = link.removeprefix(BASE_URL)
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        page = phone.get(path)
        assert page.status_code == 200 and "Welcome, Ana" in page.text and "Open my app" in page.text
        assert phone.get(path).status_code == 200  # still unused
        today = phone.form(path, {}, follow_redirects=True)
        assert today.status_code == 200 and today.url.path == "/today"
        assert "You are signed in on this phone" in today.text
        again = phone.get(path)
        assert again.status_code == 410 and "already used" in again.text and 'name="phone"' in again.text


def test_the_session_cookie_is_httponly_and_samesite_lax(app, engine, patient, clock):
    path = sign_in_link(engine, patient, clock.now()).removeprefix(BASE_URL)
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.get(path)
        response = phone.form(path, {}, follow_redirects=False)
    cookie = _session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=15552000" in cookie  # long-lived: 180 days
    assert "secure" not in cookie  # plain http in development and tests


def _session_cookie(response) -> str:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("session=")][0]


def test_the_session_cookie_is_secure_in_production(engine, database_url, tmp_path, clock):
    from server.app import create_app
    from server.settings import load_settings

    settings = load_settings(
        COMPANION_ENV="production",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path),
        SECRET_KEY="production-secret-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL="https://companion.example.org",
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="tok",
        TWILIO_FROM_NUMBER="+15555550199",
    )
    patient = make_patient(engine, settings, clock.now(), mrn="PROD-1")
    base = "https://companion.example.org"
    path = sign_in_link(engine, patient, clock.now(), base).removeprefix(base)
    with TestClient(create_app(settings, engine=engine, clock=clock), base_url=base) as client:
        phone = PatientBrowser(client)
        phone.get(path)
        response = phone.form(path, {}, follow_redirects=False)
    assert response.status_code == 303
    assert "; secure" in _session_cookie(response).lower()


def test_send_writes_an_sms_for_the_worker_in_the_patients_language(engine, settings, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="ES-2", language="es")
    with session_scope(engine) as session:
        url = invites.send_sign_in_link(
            session, session.get(Patient, patient.id), now=clock.now(), base_url=settings.public_base_url, staff_id=None
        )
    with Session(engine) as session:
        sms = session.exec(select(OutboundMessage)).one()
        token = session.exec(select(SignInToken)).one()
    assert (sms.kind, sms.channel, sms.status, sms.to_address) == ("invite", "sms", "pending", "+15555550301")
    assert sms.dedupe_key == f"invite:{token.token_hash[:16]}"
    assert sms.send_at == sms.next_attempt_at == sms.scheduled_for == clock.now()
    assert sms.expires_at == clock.now() + timedelta(hours=72) and sms.patient_id == patient.id
    assert url in sms.body and settings.clinic_name in sms.body and "enlace" in sms.body
    assert "selinexor" not in sms.body.lower() and "xpovio" not in sms.body.lower()
    assert "myeloma" not in sms.body.lower() and "mieloma" not in sms.body.lower()


def test_send_refuses_a_patient_without_a_number_or_opted_out(engine, settings, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="NOPHONE", phone=None)
    with session_scope(engine) as session:
        with pytest.raises(invites.FieldError) as error:
            invites.send_sign_in_link(session, session.get(Patient, patient.id), now=clock.now(), base_url=BASE_URL)
    assert error.value.field == "phone_e164"


def test_asking_for_a_link_answers_the_same_for_any_number(app, engine, patient, clock):
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        enrolled = phone.form("/signin", {"phone": "(555) 555-0301"})
        stranger = phone.form("/signin", {"phone": "(555) 555-0999"})
        api_enrolled = phone.api("POST", "/api/sign-in-link", {"phone": "+1 555 555 0301"})
        api_stranger = phone.api("POST", "/api/sign-in-link", {"phone": "+1 555 555 0998"})

    def page_text(response) -> str:
        return re.sub(r'value="[^"]*"', "", response.text)  # CSRF tokens differ per form

    assert enrolled.status_code == stranger.status_code == 200
    assert page_text(enrolled) == page_text(stranger) and "Check your text messages" in enrolled.text
    assert api_enrolled.status_code == api_stranger.status_code == 202
    assert api_enrolled.json() == api_stranger.json()
    with Session(engine) as session:
        sent = session.exec(select(OutboundMessage).where(OutboundMessage.kind == "sign_in")).all()
    assert [r.to_address for r in sent] == ["+15555550301", "+15555550301"]


def test_a_bad_number_is_named_beside_the_field(app):
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        page = phone.form("/signin", {"phone": "12"})
        api = phone.api("POST", "/api/sign-in-link", {"phone": "12"})
    assert page.status_code == 422 and 'aria-invalid="true"' in page.text and "for example (555) 555-0123" in page.text
    assert api.status_code == 422 and api.json()["field"] == "phone"


def test_link_requests_are_rate_limited_per_client_and_capped_per_patient(app, engine, patient):
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        answers = [phone.api("POST", "/api/sign-in-link", {"phone": "+15555550301"}).status_code for _ in range(11)]
        page = phone.form("/signin", {"phone": "+15555550301"})
    assert answers[:10] == [202] * 10 and answers[10] == 429
    assert page.status_code == 429 and "Too many requests" in page.text
    with Session(engine) as session:
        sent = session.exec(select(OutboundMessage).where(OutboundMessage.patient_id == patient.id)).all()
    assert len(sent) == invites.MAX_REQUESTED_LINKS_PER_HOUR  # the rest were dropped silently


def test_revoking_ends_every_session_and_voids_unused_links(app, ctx, engine, patient, clock):
    unused = sign_in_link(engine, patient, clock.now())
    with session_scope(engine) as session:
        session.add(
            PushSubscription(
                patient_id=patient.id, endpoint="https://push.example/1", p256dh="k", auth="a", created_at=clock.now()
            )
        )
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        assert phone.get("/today").status_code == 200
        assert invites.revoke_patient_sessions(ctx, patient.id, staff_id=None) == 2
        gone = phone.get("/today", follow_redirects=False, headers={"accept": "text/html"})
        assert gone.status_code in (302, 303) and gone.headers["location"].startswith("/signin")
        assert phone.api("GET", "/api/today").status_code == 401
    with pytest.raises(invites.InvalidSignInLink):
        invites.redeem_sign_in_link(ctx, _token(unused))
    with Session(engine) as session:
        audit = session.exec(select(AuditLog)).one()
        assert session.exec(select(PushSubscription)).all() == []
    assert audit.action == "patient.sessions_revoked" and audit.patient_id == patient.id


def test_api_sign_in_starts_a_session(app, engine, patient, clock):
    token = _token(sign_in_link(engine, patient, clock.now()))
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        assert phone.api("POST", "/api/sign-in", {"token": "wrong"}).json()["reason"] == "unknown"
        assert phone.api("POST", "/api/sign-in", {"token": token}).json()["id"] == patient.id
        assert phone.api("GET", "/api/me").json()["first_name"] == "Ana"
        assert phone.api("POST", "/api/sign-out").status_code == 204
        assert phone.api("GET", "/api/me").status_code == 401


def test_qr_code_is_an_inline_svg():
    svg = invites.sign_in_qr_svg("http://127.0.0.1:8000/i/abc")
    assert svg.startswith("<svg") and "viewBox" in svg and "<title>" in svg and "width=" not in svg.split(">")[0]


def test_companion_demo_prints_a_fresh_sign_in_link(tmp_path):
    from server.cli import cli

    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "COMPANION_VAR_DIR": str(tmp_path / "var"),
        "COMPANION_ENV": "development",
    }
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    first = runner.invoke(cli, ["demo"])
    second = runner.invoke(cli, ["demo"])
    links = [re.search(r"(http://\S+/i/\S+)", out.output).group(1) for out in (first, second)]
    assert links[0] != links[1]  # a fresh link each run
    assert "patient" in first.output.lower()


def test_link_requests_count_across_processes(app, settings, engine, clock, patient):
    from server.app import create_app

    second_process = create_app(settings, engine=engine, clock=clock)  # another web worker on the same database
    with TestClient(app, base_url=BASE_URL) as client:
        first = [
            PatientBrowser(client).api("POST", "/api/sign-in-link", {"phone": "+15555550301"}).status_code
            for _ in range(10)
        ]
    with TestClient(second_process, base_url=BASE_URL) as client:
        refused = PatientBrowser(client).api("POST", "/api/sign-in-link", {"phone": "+15555550301"})
    assert first == [202] * 10 and refused.status_code == 429


def test_sign_in_links_are_rate_limited_per_client(app, engine, patient, clock):
    token = _token(sign_in_link(engine, patient, clock.now()))
    with TestClient(app, base_url=BASE_URL) as client:
        answers = [client.get(f"/i/{token}x{n}").status_code for n in range(61)]
        redeem = PatientBrowser(client).form(f"/i/{token}", {})
    assert answers[:60] == [410] * 60 and answers[60] == 429
    assert redeem.status_code == 429  # even a good token waits: the address has been guessing


@pytest.mark.parametrize("how", ["form", "api"])
def test_signing_out_makes_a_copied_cookie_stop_working(app, engine, patient, clock, how):
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        copied = dict(client.cookies)  # what someone who copied the cookie (or a backup of the phone) holds
        assert phone.api("GET", "/api/me").status_code == 200
        if how == "form":
            assert phone.form("/signout", {}, follow_redirects=False).status_code == 303
        else:
            assert phone.api("POST", "/api/sign-out").status_code == 204
        client.cookies.clear()
        client.cookies.update(copied)
        assert phone.api("GET", "/api/me").status_code == 401
        page = phone.get("/today", follow_redirects=False, headers={"accept": "text/html"})
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/signin")
    with Session(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "patient.signed_out")).one()
    assert audit.patient_id == patient.id and audit.staff_id is None


def test_a_copied_cookie_signing_out_again_changes_nothing(app, ctx, engine, patient, clock):
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        copied = dict(client.cookies)
        assert phone.api("POST", "/api/sign-out").status_code == 204
        phone.sign_in(sign_in_link(engine, patient, clock.now()))  # a new session
        fresh = dict(client.cookies)
        client.cookies.clear()
        client.cookies.update(copied)
        assert phone.api("POST", "/api/sign-out").status_code == 204  # the stale copy: nothing to end
        client.cookies.clear()
        client.cookies.update(fresh)
        assert phone.api("GET", "/api/me").status_code == 200  # the new session was not ended by the stale copy
