"""Every route of the app, walked with every kind of caller, against the intended access matrix.

Routes are enumerated from `app.routes`, so a route added later is covered without touching this file. Each path is
classified by where it lives (the matrix below); a path nobody classified is treated as a patient page, the safe
default: if it is meant to be public, the test fails until someone says so here.

Callers: no session, the patient, another patient, and each staff role (nurse, pharmacist, physician, admin).
- public routes (health, schema, static, sign-in pages): no caller is refused;
- SMS webhooks: refused (403) for everyone without the provider's signature, sessions do not help;
- patient routes: only a patient session gets in; another patient's entry id is 404; staff sessions do not count;
- staff routes: no session -> 401 or the staff sign-in page; a patient -> 403 (or the sign-in page); all roles get in;
- admin routes: as staff routes, and 403 for every role but admin;
- FHIR routes (/fhir, machine clients with bearer tokens): 401 for every caller, sessions do not count (the
  token and scope matrix is in tests/server/fhir/test_fhir_access.py).
Every state-changing route is also refused without the CSRF token (except the signature-checked webhooks).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.auth import PATIENT_KEY, STAFF_KEY
from server.db import session_scope
from server.models import Alert, Patient, Staff, StaffSession
from server.services.entries import record_weight
from server.services.staff.accounts import create_staff
from tests.support.staff import CSRF_COOKIE, LiveServer, ctx_for, patient_by_mrn, seed, session_config, staff_by_email

# --------------------------------------------------------------------------------------------------------------------
# The intended matrix
# --------------------------------------------------------------------------------------------------------------------

PUBLIC_PATHS = {
    "/healthz",
    "/",
    "/signin",
    "/signout",
    "/offline",
    "/sw.js",
    "/manifest.webmanifest",
    "/i/{token:str}",
    "/static-data/red-flags.json",  # the urgent thresholds of the clinical reference (flow 7): no patient data
    "/api/sign-in-link",
    "/api/sign-in",
    "/api/sign-out",
    "/staff/login",
    "/staff/login/code",
    "/staff/logout",
    # FHIR: the CapabilityStatement and the published Questionnaire hold no patient data; the token endpoint
    # authenticates the client by its secret.
    "/fhir/metadata",
    "/fhir/Questionnaire/companion-symptoms",
    "/oauth/token",
}
PUBLIC_PREFIXES = ("/static/", "/schema")
OPS_PATHS = {"/metrics"}  # a scraper's bearer token, not a person's session: off (404) unless METRICS_TOKEN is set
WEBHOOK_PREFIX = "/sms/"
BEARER_PREFIX = "/fhir"  # machine clients with OAuth2 bearer tokens: no session counts, no cookies, no CSRF
STAFF_ROLES = ("nurse", "practitioner", "pharmacist", "physician", "admin")
# Plan-changing routes (issue 12 item 4): only roles PLAN_CHANGE_ROLES lets change plans get in (default below);
# which operation each role may perform is checked by the service (test_the_plan_operation_matrix).
PLAN_PATHS = {"/staff/alerts/{alert_id:int}/plan", "/staff/patients/{patient_id:int}/plan"}
PLAN_ROLES = ("nurse", "practitioner", "pharmacist", "physician")
PLAN_OPERATION_MATRIX = {  # the default PLAN_CHANGE_ROLES
    "physician": {"hold", "reduce", "resume", "change_level", "discontinue", "change_schedule"},
    "pharmacist": {"hold", "reduce", "resume", "change_level", "discontinue", "change_schedule"},
    "practitioner": {"hold", "reduce", "resume", "change_level", "discontinue", "change_schedule"},
    "nurse": {"hold"},
    "admin": set(),
}
# The start-of-therapy checklist's forms (issue 14): the clinical roles tick; an IT administrator is refused (403).
CHECKLIST_PATHS = {
    "/staff/patients/{patient_id:int}/checklist/{item:str}",
    "/staff/patients/{patient_id:int}/checklist/{item:str}/undo",
}
CHECKLIST_ROLES = ("nurse", "practitioner", "pharmacist", "physician")
# The clinic quality report (issue 14): read-only, every staff role and admin may read it (all clinical staff run the
# intervention; an admin oversees the clinic); its figures name only the reader's clinic's patients, and it is audited.
REPORT_PATHS = {"/staff/quality", "/staff/quality.csv", "/staff/quality/patients"}
CALLERS = ("anonymous", "patient", "other_patient", *STAFF_ROLES)
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def access_of(path: str) -> str:
    if path in OPS_PATHS:
        return "ops"
    if path.startswith(WEBHOOK_PREFIX):
        return "webhook"
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return "public"
    if path == BEARER_PREFIX or path.startswith(BEARER_PREFIX + "/"):
        return "bearer"
    if path.startswith("/staff/admin"):
        return "admin"
    if path in PLAN_PATHS:
        return "plan"
    if path in CHECKLIST_PATHS:
        return "checklist"
    if path in REPORT_PATHS:
        return "staff"
    if path == "/staff" or path.startswith("/staff/"):
        return "staff"
    return "patient"  # the safe default for anything not listed


# --------------------------------------------------------------------------------------------------------------------
# The world the walk runs in
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class World:
    ids: dict[str, str]  # path parameter -> value
    own_entry: int  # the patient's weight entry
    others_entry: int  # another patient's weight entry
    staff: dict[str, int]
    patient: int
    other_patient: int


@pytest.fixture
def world(app, engine, settings, clock) -> World:
    seed(engine, settings, clock)
    create_staff(
        engine,
        clinic_id=1,
        email="physician@demo.clinic",
        name="Phoebe Physician",
        role="physician",
        password="physician-password",
        now=clock.now(),
    )
    create_staff(
        engine,
        clinic_id=1,
        email="practitioner@demo.clinic",
        name="Priya Practitioner",
        role="practitioner",
        password="practitioner-password",
        now=clock.now(),
    )
    # Targets of staff actions, so an admin deactivating "someone" or a nurse holding "a plan" does not change
    # the callers of the walk.
    target = create_staff(
        engine,
        clinic_id=1,
        email="target@demo.clinic",
        name="Target Staff",
        role="nurse",
        password="target-password-1",
        now=clock.now(),
    )
    maria, robert, dorothy = (patient_by_mrn(engine, m) for m in ("DEMO-001", "DEMO-002", "DEMO-003"))
    ctx = ctx_for(settings, engine, clock)
    own = record_weight(ctx, maria.id, key="authz-weight-maria", at=clock.now(), value=67.0, unit="kg").entry.id
    other = record_weight(
        ctx, robert.id, key="authz-weight-robert", at=clock.now(), value=80.0, unit="kg", confirmed=True
    ).entry.id
    with Session(engine) as session:
        alert = session.exec(select(Alert).where(Alert.patient_id == dorothy.id)).first()
    if alert is None:
        from server.services.entries import SymptomAnswers, record_symptoms

        record_symptoms(ctx, dorothy.id, key="authz-sympt-dorothy", at=clock.now(), answers=SymptomAnswers(nausea=2))
        with Session(engine) as session:
            alert = session.exec(select(Alert).where(Alert.patient_id == dorothy.id)).first()
    staff = {role: staff_by_email(engine, f"{role}@demo.clinic").id for role in STAFF_ROLES}
    return World(
        ids={
            "alert_id": str(alert.id),
            "patient_id": str(dorothy.id),
            "staff_id": str(target.id),
            "token": "not-a-real-token",
            "topic": "nausea",
            "item": "edu_sheet",
            "kind": "weight",
            "entry_id": str(own),
            "file_path": "staff/staff.css",
            "path": "nothing-here",
        },
        own_entry=own,
        others_entry=other,
        staff=staff,
        patient=maria.id,
        other_patient=robert.id,
    )


# The `clock` fixture's instant (tests/conftest.py): staff sessions are signed in "now".
SIGNED_IN_AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC).timestamp()


def _session_for(engine, caller: str, world: World, signed_in_at: float = SIGNED_IN_AT) -> dict | None:
    """Built from the database each time: a route walked earlier may have bumped someone's session version."""
    with Session(engine) as session:
        if caller == "anonymous":
            return None
        if caller in ("patient", "other_patient"):
            patient = session.get(Patient, world.patient if caller == "patient" else world.other_patient)
            return {PATIENT_KEY: {"id": patient.id, "sv": patient.session_version}}
        staff = session.get(Staff, world.staff[caller])
        # As server.auth.sign_in_staff stores it: staff sessions carry their sign-in time (they expire) and name a
        # staff_session row (revoked at sign-out, ended when idle).
        raw = secrets.token_urlsafe(16)
        at = datetime.fromtimestamp(signed_in_at, UTC)
        session.add(
            StaffSession(id=hashlib.sha256(raw.encode()).hexdigest(), staff_id=staff.id, created_at=at, last_seen_at=at)
        )
        session.commit()
        return {STAFF_KEY: {"id": staff.id, "sv": staff.session_version, "at": signed_in_at, "sid": raw}}


def _concrete(path: str, world: World, caller: str) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "entry_id" and caller == "other_patient":
            return str(world.own_entry)  # the first patient's entry, asked for by someone else
        return world.ids.get(name, "1")

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def _routes(app) -> list[tuple[str, str]]:
    walked = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ()) - {"OPTIONS", "HEAD"}):
            walked.append((route.path, method))
    return walked


class Caller:
    """One kind of caller, speaking real HTTP to the served app (so the endless SSE stream is just a status line).

    The session cookie is rebuilt from the database before each request: a route walked earlier may have bumped
    someone's session version (sign out everywhere) on purpose.
    """

    def __init__(self, app, settings, engine, world: World, name: str, base_url: str) -> None:
        self.name, self._engine, self._world = name, engine, world
        self._cookies = TestClient(app, base_url="http://testserver.local", session_config=session_config(settings))
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.http.get("/staff/login")  # the CSRF cookie
        self.csrf = self.http.cookies[CSRF_COOKIE]

    def close(self) -> None:
        self.http.close()

    def _session_cookie(self) -> dict:
        self._cookies.cookies.clear()
        session = _session_for(self._engine, self.name, self._world)
        if session is None:
            return {}
        self._cookies.set_session_data(session)
        return {k: v for k, v in self._cookies.cookies.items() if k != CSRF_COOKIE}

    def call(self, method: str, path: str, *, csrf: bool = True) -> tuple[int, str]:
        self.http.cookies.clear()
        self.http.cookies.set(CSRF_COOKIE, self.csrf)
        for key, value in self._session_cookie().items():
            self.http.cookies.set(key, value)
        headers = {"Accept": "text/html"}
        kwargs: dict = {}
        if csrf:
            headers["x-csrftoken"] = self.csrf
        if method in STATE_CHANGING:
            if path.startswith("/api/"):
                kwargs["json"] = {}
            else:
                kwargs["data"] = {"_csrf_token": self.csrf} if csrf else {"x": "1"}
        with self.http.stream(method, path, headers=headers, follow_redirects=False, **kwargs) as answer:
            return answer.status_code, answer.headers.get("location", "")


@pytest.fixture
def callers(app, settings, engine, world):
    with LiveServer(app) as server:
        made = {name: Caller(app, settings, engine, world, name, server.base_url) for name in CALLERS}
        yield made
        for caller in made.values():
            caller.close()


def _redirected_to(code: int, location: str, prefix: str) -> bool:
    """A refusal that sends the browser to a sign-in page (302 from the guards; a 303 after a POST is the
    route's own answer, e.g. "signed out everywhere, sign in again")."""
    return code in (302, 307) and location.startswith(prefix)


def _verdict(access: str, caller: str, code: int, location: str) -> str | None:
    """None when the answer matches the matrix, otherwise what was expected."""
    if code >= 500:
        return None  # not an access answer: test_no_route_answers_any_caller_with_a_server_error reports it
    staff_sign_in = _redirected_to(code, location, "/staff/login")
    patient_sign_in = _redirected_to(code, location, "/signin")
    let_in = code not in (401, 403) and not staff_sign_in and not patient_sign_in
    is_staff = caller in STAFF_ROLES
    if access == "public":
        return None if code not in (401, 403) else "public: never refused"
    if access == "webhook":
        return None if code == 403 else "webhook without a provider signature: 403"
    if access == "ops":
        return None if code == 404 else "ops route with metrics off: 404 for every session"
    if access == "bearer":
        return None if code == 401 else "FHIR route without a bearer token: 401, whatever the session"
    if access == "patient":
        if caller in ("patient", "other_patient"):
            return None if let_in else "patient route: a patient session gets in"
        return None if (code == 401 or patient_sign_in) else "patient route: 401 or the patient sign-in page"
    if access in ("staff", "admin", "plan", "checklist"):
        if caller == "anonymous":
            return None if (code == 401 or staff_sign_in) else "staff route: 401 or the staff sign-in page"
        if not is_staff:
            return None if (code == 403 or staff_sign_in) else "staff route: 403 for a patient"
        if access == "admin" and caller != "admin":
            return None if code == 403 else "admin route: 403 for non-admin staff"
        if access == "plan" and caller not in PLAN_ROLES:
            return None if code == 403 else "plan route: 403 for a role that may not change plans"
        if access == "checklist" and caller not in CHECKLIST_ROLES:
            return None if code == 403 else "checklist route: 403 for a role that may not tick the checklist"
        return None if let_in else f"{access} route: {caller} gets in"
    return f"unknown access {access}"


def test_every_route_answers_every_caller_as_the_matrix_says(app, world, callers):
    routes = _routes(app)
    assert len(routes) > 40  # the walk sees the whole app, not an empty router
    problems = []
    for path, method in routes:
        access = access_of(path)
        for name, caller in callers.items():
            target = _concrete(path, world, name)
            code, location = caller.call(method, target)
            problem = _verdict(access, name, code, location)
            if problem:
                problems.append(f"{method} {target} as {name}: got {code} {location} (expected {problem})")
    assert not problems, "\n".join(problems)


def test_no_route_answers_any_caller_with_a_server_error(app, world, callers):
    """The same walk (empty or bad input for every form and API): every answer is a clear 4xx, never a 500."""
    errors = []
    for path, method in _routes(app):
        for name, caller in callers.items():
            target = _concrete(path, world, name)
            code, _ = caller.call(method, target)
            if code >= 500:
                errors.append(f"{method} {target} as {name}: {code}")
    assert not errors, "\n".join(errors)


def test_a_patient_reads_only_their_own_entries(app, engine, settings, world):
    config = session_config(settings)
    for caller, entry, expected in (
        ("patient", world.own_entry, 200),
        ("other_patient", world.own_entry, 404),
        ("patient", world.others_entry, 404),
    ):
        with TestClient(app, base_url="http://testserver.local", session_config=config) as client:
            client.set_session_data(_session_for(engine, caller, world))
            answer = client.get(f"/api/entries/weight/{entry}")
            assert answer.status_code == expected, (caller, entry, answer.text)


def test_state_changing_routes_refuse_a_request_without_the_csrf_token(app, world, callers):
    problems = []
    for path, method in _routes(app):
        if method not in STATE_CHANGING or path.startswith(WEBHOOK_PREFIX):
            continue
        if access_of(path) == "bearer" or path == "/oauth/token":
            continue  # bearer-token and client-secret routes carry no cookies to forge (CSRF-exempt in server.app)
        access = access_of(path)
        name = {"admin": "admin", "staff": "nurse", "patient": "patient"}.get(access, "anonymous")
        code, _ = callers[name].call(method, _concrete(path, world, name), csrf=False)
        if code != 403:
            problems.append(f"{method} {path} as {name} without a CSRF token: {code}")
    assert not problems, "\n".join(problems)


def test_a_revoked_or_deactivated_session_is_refused(app, engine, settings, world, clock):
    config = session_config(settings)
    with TestClient(app, base_url="http://testserver.local", session_config=config) as client:
        client.set_session_data(_session_for(engine, "pharmacist", world))
        assert client.get("/staff/inbox").status_code == 200
        with session_scope(engine) as session:
            session.get(Staff, world.staff["pharmacist"]).session_version += 1
        assert client.get("/staff/inbox", headers={"Accept": "text/html"}, follow_redirects=False).status_code == 302
    with TestClient(app, base_url="http://testserver.local", session_config=config) as client:
        client.set_session_data(_session_for(engine, "nurse", world))
        with session_scope(engine) as session:
            session.get(Staff, world.staff["nurse"]).active = False
        assert client.get("/staff/inbox").status_code == 401


def test_a_staff_session_expires_after_twelve_hours(app, engine, settings, world, clock):
    settings.staff_idle_timeout_minutes = 720  # the cap under test, not the idle timeout
    config = session_config(settings)
    with TestClient(app, base_url="http://testserver.local", session_config=config) as client:
        client.set_session_data(_session_for(engine, "nurse", world, signed_in_at=clock.now().timestamp()))
        assert client.get("/staff/inbox").status_code == 200
        clock.advance(hours=11, minutes=59)
        assert client.get("/staff/inbox").status_code == 200
        clock.advance(minutes=2)
        assert client.get("/staff/inbox").status_code == 401


def test_pages_carry_security_headers(client):
    answer = client.get("/healthz")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_the_plan_operation_matrix(app, engine, settings, world, clock, role):
    """Each role may perform exactly the plan operations of the default PLAN_CHANGE_ROLES, in the service itself
    (whatever route or caller asks)."""
    from server.errors import Forbidden
    from server.services.plans import ScheduleChange, change_plan

    ctx = ctx_for(settings, engine, clock)
    staff_id = world.staff[role]
    patient = world.patient
    allowed = set()
    # active -> change level -> hold -> resume -> reduce -> change schedule -> discontinue: each step from a state
    # where the ladder allows it, so a refusal can only be the role's.
    steps = [
        ("change_level", dict(operation="resume", level=1)),
        ("hold", dict(operation="hold", dexamethasone_on_hold="continue")),
        ("resume", dict(operation="resume", level=1)),
        ("reduce", dict(operation="reduce")),
        (
            "change_schedule",
            dict(operation="change_schedule", schedule=ScheduleChange(dose_time=None, antiemetic_offset_min=45)),
        ),
        ("discontinue", dict(operation="discontinue")),
    ]
    for kind, kwargs in steps:
        try:
            change_plan(ctx, patient, staff_id=staff_id, reason=f"matrix {kind}", **kwargs)
        except Forbidden:
            # Put the plan where the next step expects it, as a physician would.
            change_plan(ctx, patient, staff_id=world.staff["physician"], reason=f"setup {kind}", **kwargs)
            continue
        allowed.add(kind)
    assert allowed == PLAN_OPERATION_MATRIX[role]
