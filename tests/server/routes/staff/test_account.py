"""Staff accounts: argon2id sign-in, throttling (never a lockout) and rate limits, TOTP, revocable sessions, admin-only management."""

from __future__ import annotations

from contextlib import contextmanager

import pyotp
import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.models import AuditLog, Staff
from server.services.staff import auth as staff_auth
from tests.support.staff import (
    ADMIN,
    NURSE,
    PASSWORD,
    PHARMACIST,
    csrf_token,
    post_form,
    seed,
    sends_to_sign_in,
    sign_in,
    staff_by_email,
    text_of,
)


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
    failed = _audit(engine, "staff.login_failed")  # each failure counted by the audit, known email or not
    assert [row.staff_id for row in failed] == [staff_by_email(engine, NURSE).id, None]
    assert sends_to_sign_in(client)


def _sign_in_from(client, address: str, email: str, password: str = PASSWORD):
    return client.post(
        "/staff/login",
        data={"_csrf_token": csrf_token(client), "email": email, "password": password},
        headers={"Accept": "text/html", "X-Forwarded-For": address},
        follow_redirects=False,
    )


@pytest.fixture
def behind_proxy(settings):
    settings.forwarded_allow_ips = "*"  # the test client is the proxy: X-Forwarded-For names the client


def test_wrong_passwords_from_elsewhere_never_lock_out_the_right_password(client, app, demo, engine, behind_proxy):
    with _second_client(app) as attacker:
        for _ in range(30):
            answer = _sign_in_from(attacker, "203.0.113.5", PHARMACIST, "wrong-password-123")
            assert answer.status_code == 401
    assert _sign_in_from(client, "198.51.100.7", PHARMACIST).status_code == 303  # the owner, from their desk
    assert not _audit(engine, "staff.locked")


def test_no_lockout_is_left_to_lift_the_admin_page_has_no_unlock(client, app, demo, engine, behind_proxy):
    with _second_client(app) as attacker:
        for _ in range(10):
            _sign_in_from(attacker, "203.0.113.5", NURSE, "wrong-password-123")
    sign_in(client, ADMIN)
    page = client.get("/staff/admin/staff")
    assert page.status_code == 200 and "Unlock" not in page.text and ">locked</span>" not in page.text
    nurse = staff_by_email(engine, NURSE)
    assert not hasattr(nurse, "locked_until") and not hasattr(nurse, "failed_logins")
    gone = post_form(client, f"/staff/admin/staff/{nurse.id}/unlock", {}, follow_redirects=False)
    assert gone.status_code in (404, 405)


def test_failures_for_one_account_from_one_address_wait_longer_each_time(client, demo, engine, clock, behind_proxy):
    for _ in range(staff_auth.FREE_FAILURES):
        assert "Email or password is incorrect." in _sign_in_from(client, "203.0.113.9", NURSE, "wrong-pass-1").text
    slowed = _sign_in_from(client, "203.0.113.9", NURSE)  # even the right password waits out the delay
    assert slowed.status_code == 401 and "Too many sign-in attempts" in slowed.text
    clock.advance(seconds=2)
    assert _sign_in_from(client, "203.0.113.9", NURSE).status_code == 303
    assert [row.ip for row in _audit(engine, "staff.login")] == ["203.0.113.9"]  # the address as resolved


def test_an_unknown_email_gets_the_same_answer_after_a_password_hash_and_is_audited(client, demo, engine, monkeypatch):
    hashed = []
    real = staff_auth.staff_accounts.verify_password
    monkeypatch.setattr(staff_auth.staff_accounts, "verify_password", lambda *a: hashed.append(1) or real(*a))
    wrong = sign_in(client, NURSE, "not-the-password")
    unknown = sign_in(client, "nobody@demo.clinic", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401 and len(hashed) == 2
    assert text_of(wrong.text).replace(NURSE, "") == text_of(unknown.text).replace("nobody@demo.clinic", "")
    failed = _audit(engine, "staff.login_failed")
    assert [(row.staff_id is None, "nobody@demo.clinic" in row.detail) for row in failed] == [
        (False, False),
        (True, True),
    ]
    for _ in range(staff_auth.FREE_FAILURES):
        sign_in(client, "nobody@demo.clinic", "not-the-password")
    hashed.clear()
    throttled = sign_in(client, "nobody@demo.clinic", "not-the-password")
    assert "Too many sign-in attempts" in throttled.text and len(hashed) == 1  # as slow as a real check
    assert _audit(engine, "staff.login_throttled")


def test_too_many_failures_from_one_address_block_that_address_only(
    client, app, demo, engine, monkeypatch, behind_proxy
):
    monkeypatch.setattr(staff_auth, "IP_MAX_FAILURES", 3)
    for n in range(4):
        _sign_in_from(client, "203.0.113.20", f"guess{n}@demo.clinic", "wrong-password-123")
    answer = _sign_in_from(client, "203.0.113.20", NURSE)
    assert answer.status_code == 401 and "Too many sign-in attempts" in answer.text
    with _second_client(app) as other:
        assert _sign_in_from(other, "198.51.100.30", NURSE).status_code == 303


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(client, demo, engine):
    _sign_in_from(client, "10.9.8.7", NURSE)
    [row] = _audit(engine, "staff.login")
    assert row.ip == "testclient"  # the direct peer: a client cannot write a made-up address into the audit log


def test_totp_second_factor_is_required_once_enabled_and_a_code_works_once(client, app, demo, engine, clock):
    sign_in(client, NURSE)
    post_form(client, "/staff/account/totp/setup")
    page = client.get("/staff/account")
    assert "<svg" in page.text  # the QR code to scan
    secret = next(part for part in text_of(page.text).split() if len(part) == 32 and part.isalnum() and part.isupper())
    bad = post_form(client, "/staff/account/totp/enable", {"code": "000000", "password": PASSWORD})
    assert bad.status_code == 422 and "code" in bad.text
    code = pyotp.TOTP(secret).at(clock.now())
    assert (
        post_form(
            client, "/staff/account/totp/enable", {"code": code, "password": PASSWORD}, follow_redirects=False
        ).status_code
        == 303
    )
    assert staff_by_email(engine, NURSE).totp_secret == secret

    with _second_client(app) as other:
        step_one = sign_in(other, NURSE)
        assert step_one.headers["location"] == "/staff/login/code"
        assert sends_to_sign_in(other)  # not yet in
        assert post_form(other, "/staff/login/code", {"code": "123456"}).status_code == 401
        assert [row.staff_id for row in _audit(engine, "staff.login_failed")] == [staff_by_email(engine, NURSE).id]
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
        post_form(
            client,
            "/staff/account/password",
            {"current_password": PASSWORD, "new_password": "a-much-better-passphrase"},
        )
        assert client.get("/staff/inbox").status_code == 200
        assert sends_to_sign_in(laptop)
        assert sign_in(laptop, NURSE, "a-much-better-passphrase").status_code == 303


def test_a_nurse_cannot_manage_staff_accounts(client, demo, engine):
    sign_in(client, NURSE)
    assert client.get("/staff/admin/staff").status_code == 403
    assert client.get("/staff/admin/audit").status_code == 403
    created = post_form(
        client,
        "/staff/admin/staff",
        {"email": "new@demo.clinic", "name": "New", "role": "admin", "password": "long-enough-password"},
    )
    assert created.status_code == 403
    pharmacist = staff_by_email(engine, PHARMACIST)
    assert post_form(client, f"/staff/admin/staff/{pharmacist.id}/deactivate").status_code == 403
    with Session(engine) as session:
        assert session.exec(select(Staff).where(Staff.email == "new@demo.clinic")).first() is None
    assert staff_by_email(engine, PHARMACIST).active


def test_an_admin_creates_and_deactivates_accounts(client, app, demo, engine):
    sign_in(client, ADMIN)
    bad = post_form(
        client,
        "/staff/admin/staff",
        {
            "email": "ph@demo.clinic",
            "name": "Phil",
            "role": "pharmacist",
            "password": "long-enough-password",
            "phone": "+44 20 7183 8750",
            "on_call_order": "3",
        },
    )
    assert bad.status_code == 422 and "landline" in bad.text  # the field is named, nothing stored
    ok = post_form(
        client,
        "/staff/admin/staff",
        {
            "email": "ph@demo.clinic",
            "name": "Phil",
            "role": "pharmacist",
            "password": "long-enough-password",
            "phone": "+1 202 555 0188",
            "on_call_order": "3",
        },
        follow_redirects=False,
    )
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


def test_a_totp_code_is_accepted_once_across_processes_and_restarts(demo, engine, settings, clock, database_url):
    from server.context import AppContext
    from server.db import create_db_engine

    secret = staff_auth.new_totp_secret()
    nurse = staff_by_email(engine, NURSE)
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    staff_auth.enable_totp(ctx, nurse.id, secret, pyotp.TOTP(secret).at(clock.now()), PASSWORD, ip="127.0.0.1")
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now())
    assert staff_auth.check_totp(ctx, nurse.id, code, ip="127.0.0.1").id == nurse.id
    other_process = create_db_engine(database_url)  # another web process, or this one after a restart
    try:
        with pytest.raises(staff_auth.SignInError):
            staff_auth.check_totp(
                AppContext(settings=settings, engine=other_process, clock=clock), nurse.id, code, ip="127.0.0.1"
            )
    finally:
        other_process.dispose()
    assert staff_by_email(engine, NURSE).totp_last_step == pyotp.TOTP(secret).timecode(clock.now())


def test_signing_out_revokes_the_session_so_a_copied_cookie_stops_working(client, app, demo, engine):
    sign_in(client, NURSE)
    copied = dict(client.cookies)
    post_form(client, "/staff/logout")
    with _second_client(app) as thief:
        for name, value in copied.items():
            thief.cookies.set(name, value)
        assert sends_to_sign_in(thief)
    [row] = _audit(engine, "staff.logout")
    assert row.staff_id == staff_by_email(engine, NURSE).id


def test_a_staff_session_ends_after_the_idle_timeout(client, demo, clock, settings):
    sign_in(client, NURSE)
    clock.advance(minutes=settings.staff_idle_timeout_minutes - 1)
    assert client.get("/staff/inbox").status_code == 200  # in use: the idle clock starts again
    clock.advance(minutes=settings.staff_idle_timeout_minutes - 1)
    assert client.get("/staff/inbox").status_code == 200
    clock.advance(minutes=settings.staff_idle_timeout_minutes + 1)
    assert sends_to_sign_in(client)


def test_turning_on_two_step_sign_in_asks_for_the_password(client, demo, engine, clock):
    sign_in(client, NURSE)
    post_form(client, "/staff/account/totp/setup")
    page = client.get("/staff/account")
    secret = next(part for part in text_of(page.text).split() if len(part) == 32 and part.isalnum() and part.isupper())
    code = pyotp.TOTP(secret).at(clock.now())
    refused = post_form(client, "/staff/account/totp/enable", {"code": code, "password": "not-my-password"})
    assert refused.status_code == 422 and staff_by_email(engine, NURSE).totp_secret is None
    post_form(client, "/staff/account/totp/enable", {"code": code, "password": PASSWORD})
    assert staff_by_email(engine, NURSE).totp_secret == secret


def test_an_admin_resets_a_colleagues_second_factor_and_it_is_audited(client, app, demo, engine, settings, clock):
    nurse = staff_by_email(engine, NURSE)
    from server.context import AppContext

    secret = staff_auth.new_totp_secret()
    staff_auth.enable_totp(
        AppContext(settings=settings, engine=engine, clock=clock),
        nurse.id,
        secret,
        pyotp.TOTP(secret).at(clock.now()),
        PASSWORD,
        ip=None,
    )
    sign_in(client, ADMIN)
    answer = post_form(client, f"/staff/admin/staff/{nurse.id}/reset-second-factor")
    assert answer.status_code == 200 and "was reset" in answer.text
    after = staff_by_email(engine, NURSE)
    assert after.totp_secret is None and after.session_version == nurse.session_version + 1
    [row] = _audit(engine, "staff.totp_reset")
    assert row.staff_id == staff_by_email(engine, ADMIN).id and NURSE in row.detail


def test_with_required_mfa_staff_without_an_app_are_sent_to_set_it_up(client, demo, settings):
    settings.require_staff_mfa = True
    sign_in(client, NURSE)
    answer = client.get("/staff/inbox", headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code in (302, 303) and answer.headers["location"] == "/staff/account#totp"
    assert client.get("/staff/account").status_code == 200


def test_required_mfa_is_on_by_default_in_production_only():
    from server.settings import load_settings

    assert load_settings(COMPANION_ENV="test").staff_mfa_required is False
    assert load_settings(COMPANION_ENV="test", REQUIRE_STAFF_MFA="true").staff_mfa_required is True


def test_passwords_refuse_common_patterns_the_email_and_very_long_ones(client, demo):
    sign_in(client, ADMIN)
    for password, why in (
        ("P@ssw0rd2024!", "too common"),
        ("Welcome2024!!", "too common"),
        ("new@demo.clinic", "email address"),
        ("x" * 129 + "Y1", "at most 128"),
    ):
        answer = post_form(
            client,
            "/staff/admin/staff",
            {"email": "new@demo.clinic", "name": "New", "role": "nurse", "password": password},
        )
        assert answer.status_code == 422 and why in answer.text, password
    changed = post_form(
        client, "/staff/account/password", {"current_password": PASSWORD, "new_password": "Qwerty123456!"}
    )
    assert changed.status_code == 422 and "too common" in changed.text


def test_reading_the_audit_log_is_audited(client, demo, engine):
    sign_in(client, ADMIN)
    assert client.get("/staff/admin/audit?action=staff.login").status_code == 200
    [row] = _audit(engine, "audit.view")
    assert row.staff_id == staff_by_email(engine, ADMIN).id and "action=staff.login" in row.detail
