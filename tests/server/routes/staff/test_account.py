"""Staff accounts: argon2id sign-in, lockout and rate limits, TOTP, revocable sessions, admin-only management."""

from __future__ import annotations

from contextlib import contextmanager

import pyotp
import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.models import AuditLog, Staff
from server.services.staff import auth as staff_auth

from tests.support.staff import ADMIN, NURSE, PASSWORD, PHARMACIST, post_form, seed, sends_to_sign_in, sign_in, staff_by_email, text_of


@pytest.fixture
def demo(engine, settings, clock):
    return seed(engine, settings, clock)


@contextmanager
def _second_client(app):
    """Another browser on the same app. Not entered as a context: the app's lifespan (its channels plugin) runs
    once, in the `client` fixture; a second concurrent lifespan would start the plugin on another event loop."""
    yield TestClient(app, base_url="http://testserver.local")


def _audit(engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action)).all())


def test_signing_in_with_email_and_password_opens_the_inbox(client, demo, engine):
    answer = sign_in(client, NURSE.upper())  # emails are case-insensitive
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/inbox"
    assert client.get("/staff/inbox").status_code == 200
    assert staff_by_email(engine, NURSE).password_hash.startswith("$argon2id$")
    [row] = _audit(engine, "staff.login")
    assert row.ip  # from where


def test_a_wrong_password_gets_one_generic_message_and_is_counted(client, demo, engine):
    wrong = sign_in(client, NURSE, "not-the-password")
    unknown = sign_in(client, "nobody@demo.clinic", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is incorrect." in wrong.text and "Email or password is incorrect." in unknown.text
    assert staff_by_email(engine, NURSE).failed_logins == 1
    assert sends_to_sign_in(client)


def test_five_failures_lock_the_account_for_fifteen_minutes(client, demo, engine, clock):
    for _ in range(staff_auth.MAX_FAILED_LOGINS):
        sign_in(client, PHARMACIST, "wrong-password-123")
    locked = sign_in(client, PHARMACIST)  # even the right password is refused while locked
    assert locked.status_code == 401 and "locked" in locked.text
    assert _audit(engine, "staff.locked")
    clock.advance(minutes=14)
    assert sign_in(client, PHARMACIST).status_code == 401
    clock.advance(minutes=2)
    assert sign_in(client, PHARMACIST).status_code == 303
    assert staff_by_email(engine, PHARMACIST).failed_logins == 0


def test_too_many_attempts_from_one_address_are_refused(client, demo, engine):
    staff_auth.limiter_for(engine).limit = 3
    for _ in range(3):
        sign_in(client, NURSE, "wrong-password-123")
    answer = sign_in(client, "someone-else@demo.clinic", "whatever-password")
    assert answer.status_code == 401 and "Too many sign-in attempts" in answer.text


def test_totp_second_factor_is_required_once_enabled_and_a_code_works_once(client, app, demo, engine, clock):
    sign_in(client, NURSE)
    post_form(client, "/staff/account/totp/setup")
    page = client.get("/staff/account")
    assert "<svg" in page.text  # the QR code to scan
    secret = next(part for part in text_of(page.text).split() if len(part) == 32 and part.isalnum() and part.isupper())
    bad = post_form(client, "/staff/account/totp/enable", {"code": "000000"})
    assert bad.status_code == 422 and "code" in bad.text
    code = pyotp.TOTP(secret).at(clock.now())
    assert post_form(client, "/staff/account/totp/enable", {"code": code}, follow_redirects=False).status_code == 303
    assert staff_by_email(engine, NURSE).totp_secret == secret

    with _second_client(app) as other:
        step_one = sign_in(other, NURSE)
        assert step_one.headers["location"] == "/staff/login/code"
        assert sends_to_sign_in(other)  # not yet in
        assert post_form(other, "/staff/login/code", {"code": "123456"}).status_code == 401
        assert staff_by_email(engine, NURSE).failed_logins == 1
        # The code used to enable the factor a moment ago cannot be replayed; the next one works.
        assert post_form(other, "/staff/login/code", {"code": code}).status_code == 401
        clock.advance(seconds=30)
        fresh = pyotp.TOTP(secret).at(clock.now())
        assert post_form(other, "/staff/login/code", {"code": fresh}, follow_redirects=False).status_code == 303
        assert other.get("/staff/inbox").status_code == 200


def test_sign_out_everywhere_ends_every_session(client, app, demo):
    with _second_client(app) as laptop:
        sign_in(laptop, NURSE)
        sign_in(client, NURSE)
        assert laptop.get("/staff/inbox").status_code == 200
        post_form(client, "/staff/account/sign-out-everywhere")
        assert sends_to_sign_in(client)
        assert sends_to_sign_in(laptop)


def test_changing_the_password_signs_out_other_devices_but_not_this_one(client, app, demo):
    with _second_client(app) as laptop:
        sign_in(laptop, NURSE)
        sign_in(client, NURSE)
        short = post_form(client, "/staff/account/password", {"current_password": PASSWORD, "new_password": "short"})
        assert short.status_code == 422 and "new password" in short.text
        post_form(client, "/staff/account/password", {"current_password": PASSWORD,
                                                      "new_password": "a-much-better-passphrase"})
        assert client.get("/staff/inbox").status_code == 200
        assert sends_to_sign_in(laptop)
        assert sign_in(laptop, NURSE, "a-much-better-passphrase").status_code == 303


def test_a_nurse_cannot_manage_staff_accounts(client, demo, engine):
    sign_in(client, NURSE)
    assert client.get("/staff/admin/staff").status_code == 403
    assert client.get("/staff/admin/audit").status_code == 403
    created = post_form(client, "/staff/admin/staff", {"email": "new@demo.clinic", "name": "New", "role": "admin",
                                                       "password": "long-enough-password"})
    assert created.status_code == 403
    pharmacist = staff_by_email(engine, PHARMACIST)
    assert post_form(client, f"/staff/admin/staff/{pharmacist.id}/deactivate").status_code == 403
    with Session(engine) as session:
        assert session.exec(select(Staff).where(Staff.email == "new@demo.clinic")).first() is None
    assert staff_by_email(engine, PHARMACIST).active


def test_an_admin_creates_and_deactivates_accounts(client, app, demo, engine):
    sign_in(client, ADMIN)
    bad = post_form(client, "/staff/admin/staff", {"email": "ph@demo.clinic", "name": "Phil", "role": "pharmacist",
                                                   "password": "long-enough-password", "phone": "+44 20 7183 8750",
                                                   "on_call_order": "3"})
    assert bad.status_code == 422 and "landline" in bad.text  # the field is named, nothing stored
    ok = post_form(client, "/staff/admin/staff", {"email": "ph@demo.clinic", "name": "Phil", "role": "pharmacist",
                                                  "password": "long-enough-password", "phone": "+1 202 555 0188",
                                                  "on_call_order": "3"}, follow_redirects=False)
    assert ok.status_code == 303
    phil = staff_by_email(engine, "ph@demo.clinic")
    assert (phil.phone_e164, phil.on_call_order, phil.role) == ("+12025550188", 3, "pharmacist")

    with _second_client(app) as phils:
        assert sign_in(phils, "ph@demo.clinic", "long-enough-password").status_code == 303
        post_form(client, f"/staff/admin/staff/{phil.id}/deactivate")
        assert sends_to_sign_in(phils)
        assert sign_in(phils, "ph@demo.clinic", "long-enough-password").status_code == 401
    assert [r.detail for r in _audit(engine, "staff.deactivate")] == [f"staff #{phil.id} ph@demo.clinic"]
    admin = staff_by_email(engine, ADMIN)
    own = post_form(client, f"/staff/admin/staff/{admin.id}/deactivate")
    assert own.status_code == 422 and "your own account" in own.text


def test_signing_out_ends_the_session(client, demo):
    sign_in(client, NURSE)
    assert post_form(client, "/staff/logout", follow_redirects=False).status_code == 303
    assert sends_to_sign_in(client)


def test_a_form_without_the_csrf_token_is_refused(client, demo, engine):
    client.get("/staff/login")
    answer = client.post("/staff/login", data={"email": NURSE, "password": PASSWORD})
    assert answer.status_code == 403
    assert not _audit(engine, "staff.login")
