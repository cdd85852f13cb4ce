"""Benchmarks with a floor measured in the same run (`make bench`; issue 16), on SQLite and on PostgreSQL
(POSTGRES_TEST_URL or DATABASE_URL; skipped without one, failed under CI=true).

Each figure is printed with its floor and their ratio, and with the statements one request sends (an SQLAlchemy
event counter, so an N+1 shows as a number). Requests go through the app in-process (Litestar's TestClient, one
client, sequential): the floors are routes registered on the same app, behind the same middleware, so the ratio is
the project's own cost per request:

- entry POST (a symptom check-in, rules included) vs a route that does the cookie-session lookup and one INSERT;
- Today vs a route that renders the same template with the same view, computed once beforehand;
- the sweep, per patient, vs one indexed SELECT per patient;
- the roster's and the inbox's first pages and a patient's page against the issue's absolute targets (150 ms, 150 ms
  and 50 ms).

Scale: BENCH_PATIENTS x BENCH_ENTRIES (default 1,000 x 100, ~1 open alert per 5 patients) so the whole `make bench`
finishes in a few minutes on a 2-CPU machine; the issue's 5,000 x 200 is `BENCH_PATIENTS=5000 BENCH_ENTRIES=200`.
A benchmark that misses its target fails.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from bench_data import ENTRIES, bench_database, generate
from litestar import Request, get, post
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.auth import current_patient
from server.clock import SystemClock
from server.context import AppContext
from server.db import session_scope
from server.models import Alert, Patient, SymptomReport, WeightEntry
from server.services import patient_views
from server.services.staff.accounts import create_staff
from server.services.sweep import sweep_patient_rules
from tests.statements import count_statements
from tests.support.patient import PatientBrowser, sign_in_link
from tests.support.staff import sign_in

ENTRY_RATIO_TARGET = 0.5  # issue 16: an entry's throughput >= 0.5 of the floor's
ENTRY_STATEMENT_TARGET = 8
ROSTER_TARGET_MS = 150
PATIENT_PAGE_TARGET_MS = 50
SWEEP_TARGET_MS_PER_PATIENT = 1.0  # issue 16: a full sweep of 5,000 patients < 5 s
SQLITE_LOCK_TARGET_MS = 50  # "a few milliseconds" per write transaction, with room for a shared machine
ROUNDS, PER_ROUND = 3, 30
ENTRY_PATIENTS = 20  # the entry POST's patients, in turn
STAFF_PASSWORD = "bench-password-long-enough"
BASE = "http://testserver.local"


@post("/bench/floor/entry", sync_to_thread=True)
def floor_entry(request: Request) -> dict:
    """The entry floor: who is signed in (one SELECT), one INSERT of a similar row, one transaction."""
    patient = current_patient(request)
    ctx = request.app.state.ctx
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        row = SymptomReport(
            patient_id=patient.id,
            idempotency_key=uuid.uuid4().hex,
            at=now,
            nausea=0,
            fatigue=1,
            source="app",
            recorded_at=now,
        )
        session.add(row)
        session.flush()
        return {"id": row.id}


@get("/bench/floor/today", sync_to_thread=True)
def floor_today(request: Request) -> object:
    """The Today floor: who is signed in, then the same template and view (computed once, before timing)."""
    from server.routes.patient.rendering import new_key, page

    patient = current_patient(request)
    view = request.app.state.bench_today_view
    return page(
        request, request.app.state.ctx, "patient/today.html", patient=patient, view=view, key=new_key, welcome=False
    )


def _time_ms(call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _interleaved(project, floor) -> tuple[float, float]:
    """Median ms of the project and its floor, measured in alternating rounds (a shared machine drifts)."""
    mine, base = [], []
    for _ in range(ROUNDS):
        mine += _time_ms(project, PER_ROUND)
        base += _time_ms(floor, PER_ROUND)
    return statistics.median(mine), statistics.median(base)


def _statements(engine, call) -> int:
    with count_statements(engine) as log:
        call()
    return log.count


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, tmp_path, _sqlite_template):
    settings, engine = bench_database(request, tmp_path, _sqlite_template, BASE)
    now = datetime.now(UTC)
    started = time.perf_counter()
    data = generate(engine, now)
    seeded_s = time.perf_counter() - started
    create_staff(
        engine,
        clinic_id=data["clinic_id"],
        email="bench@nurse.example",
        name="Bench Nurse",
        role="nurse",
        password=STAFF_PASSWORD,
        now=now,
    )
    app = create_app(settings, engine=engine, clock=SystemClock())
    app.register(floor_entry)
    app.register(floor_today)
    print(f"\n[{request.param}] {len(data['patient_ids']):,} patients x {ENTRIES} entries seeded in {seeded_s:.1f} s")
    yield request.param, app, engine, data
    engine.dispose()


@pytest.mark.slow
def test_bench_against_floors(world):
    name, app, engine, data = world
    ctx: AppContext = app.state.ctx
    lines, failures = [], []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    pid = data["patient_ids"][0]
    with Session(engine) as session:
        patient = session.get(Patient, pid)
        posting = [session.get(Patient, p) for p in data["patient_ids"][:ENTRY_PATIENTS]]
    with TestClient(app, base_url=BASE) as client:
        # The entries come from ENTRY_PATIENTS patients in turn (each phone's cookies and CSRF token), as a clinic's
        # check-ins do: one patient posting hundreds of check-ins in a day would measure a history no one has.
        phones = []
        for someone in posting:
            client.cookies.clear()
            phone = PatientBrowser(client)
            phone.sign_in(sign_in_link(engine, someone, datetime.now(UTC)))
            phones.append((httpx.Cookies(client.cookies), {"x-csrftoken": phone.csrf}))
        turn = itertools.cycle(phones)
        body = {"nausea": "none", "fatigue": "none", "loose_stools": 1}

        def project_entry():
            cookies, headers = next(turn)
            client.cookies = cookies
            answer = client.post("/api/symptoms", json={**body, "idempotency_key": uuid.uuid4().hex}, headers=headers)
            assert answer.status_code == 201, answer.text

        def floor():
            cookies, headers = next(turn)
            client.cookies = cookies
            assert client.post("/bench/floor/entry", headers=headers).status_code == 201

        project_entry(), floor()  # warm
        entry_ms, floor_ms = _interleaved(project_entry, floor)
        entry_statements, floor_statements = _statements(engine, project_entry), _statements(engine, floor)
        ratio = floor_ms / entry_ms
        lines.append(
            f"entry POST /api/symptoms: {entry_ms:.2f} ms vs floor (session lookup + INSERT) "
            f"{floor_ms:.2f} ms: throughput ratio {ratio:.2f} (target >= {ENTRY_RATIO_TARGET}); "
            f"statements {entry_statements} vs {floor_statements} (target <= {ENTRY_STATEMENT_TARGET})"
        )
        check(ratio >= ENTRY_RATIO_TARGET, "entry ratio")
        check(entry_statements <= ENTRY_STATEMENT_TARGET, "entry statements")

        client.cookies = phones[0][0]  # Today of `patient`, the first of them
        app.state.bench_today_view = patient_views.today_view(engine, patient, ctx.clock.now())

        def today():
            assert client.get("/today").status_code == 200

        def today_floor():
            assert client.get("/bench/floor/today").status_code == 200

        today(), today_floor()
        today_ms, render_ms = _interleaved(today, today_floor)
        lines.append(
            f"GET /today: {today_ms:.2f} ms vs floor (same template and view, no queries for the view) "
            f"{render_ms:.2f} ms: ratio {render_ms / today_ms:.2f}; statements "
            f"{_statements(engine, today)} vs {_statements(engine, today_floor)}"
        )

        client.cookies.clear()
        sign_in(client, "bench@nurse.example", STAFF_PASSWORD)

        def roster():
            assert client.get("/staff/patients").status_code == 200

        def patient_page():
            assert client.get(f"/staff/patients/{pid}").status_code == 200

        def inbox():
            assert client.get("/staff/inbox").status_code == 200

        roster(), patient_page(), inbox()
        roster_ms = statistics.median(_time_ms(roster, 10))
        page_ms = statistics.median(_time_ms(patient_page, 10))
        inbox_ms = statistics.median(_time_ms(inbox, 10))
        with Session(engine) as session:
            open_alerts = session.exec(
                select(sa.func.count()).select_from(Alert).where(Alert.status != "resolved")
            ).one()
        lines.append(
            f"roster first page: {roster_ms:.1f} ms (target < {ROSTER_TARGET_MS} ms), statements "
            f"{_statements(engine, roster)}; a patient's page: {page_ms:.1f} ms (target < "
            f"{PATIENT_PAGE_TARGET_MS} ms), statements {_statements(engine, patient_page)}; inbox first page "
            f"({open_alerts:,} open alerts): {inbox_ms:.1f} ms (target < {ROSTER_TARGET_MS} ms), statements "
            f"{_statements(engine, inbox)}"
        )
        check(roster_ms < ROSTER_TARGET_MS, "roster")
        check(page_ms < PATIENT_PAGE_TARGET_MS, "patient page")
        check(inbox_ms < ROSTER_TARGET_MS, "inbox")

    # The sweep: every patient, twice (the first may open alerts; the second is the steady state).
    holds: list[float] = []
    began: dict[int, float] = {}

    def on_begin(conn, cursor, statement, *_):
        if statement == "BEGIN IMMEDIATE":
            began[id(conn)] = time.perf_counter()

    def on_end(conn):
        start = began.pop(id(conn), None)
        if start is not None:
            holds.append((time.perf_counter() - start) * 1000)

    sa.event.listen(engine, "before_cursor_execute", on_begin)
    sa.event.listen(engine, "commit", on_end)
    sa.event.listen(engine, "rollback", on_end)
    try:
        sweeps = []
        for _ in range(2):
            start = time.perf_counter()
            with count_statements(engine) as log:
                changes = sweep_patient_rules(ctx, ctx.clock.now())
            sweeps.append(((time.perf_counter() - start) * 1000, log.count, changes))
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_begin)
        sa.event.remove(engine, "commit", on_end)
        sa.event.remove(engine, "rollback", on_end)
    ids = data["patient_ids"]
    w = WeightEntry.__table__
    latest = sa.select(sa.func.max(w.c.at)).where(w.c.patient_id == sa.bindparam("p"))
    start = time.perf_counter()
    with engine.connect() as conn:
        for p in ids:
            conn.execute(latest, {"p": p}).scalar()
    floor_per_patient = (time.perf_counter() - start) * 1000 / len(ids)
    for label, (ms, statements, changes) in zip(("first", "steady"), sweeps, strict=True):
        per_patient = ms / len(ids)
        lines.append(
            f"sweep ({label}): {ms:,.0f} ms for {len(ids):,} patients = {per_patient:.3f} ms/patient vs "
            f"floor (one indexed SELECT) {floor_per_patient:.3f} ms: ratio "
            f"{floor_per_patient / per_patient:.2f}; {statements} statements, {changes} alert changes "
            f"(target < {SWEEP_TARGET_MS_PER_PATIENT} ms/patient)"
        )
    check(sweeps[1][0] / len(ids) < SWEEP_TARGET_MS_PER_PATIENT, "steady sweep")
    if name == "sqlite":
        longest = max(holds, default=0.0)
        lines.append(
            f"sweep on SQLite: {len(holds)} write transactions, the longest held the write lock "
            f"{longest:.1f} ms (target < {SQLITE_LOCK_TARGET_MS} ms)"
        )
        check(longest < SQLITE_LOCK_TARGET_MS, "sqlite write lock")
    print("\n".join(f"  [{name}] {line}" for line in lines))
    assert not failures, f"missed targets: {failures}"
