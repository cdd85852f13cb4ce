"""Inbox triage benchmark (`make bench`; issue 12): the inbox with 500 open alerts across 200 patients renders its
first page in under 300 ms server time, on SQLite and on PostgreSQL (POSTGRES_TEST_URL or DATABASE_URL; skipped
without one, failed under CI=true).

The figure is reported with a floor measured in the same run: a route registered on the same app, behind the same
middleware, that does the staff session lookup and renders the same template with the same rows computed once
beforehand. So the ratio is the inbox's own cost (its queries, the audit row, building the views) over a bare
render. Requests go through the app in-process (Litestar's TestClient, sequential), several interleaved rounds,
median; the statements one inbox request sends are counted too (an N+1 shows as a number).

The data: 200 patients with 30 days of entries (a dose log on dose days, a daily symptom check-in, a weight every
other day, so every 14-day grid is full), 500 open alerts of real rules (two or three families per patient, mixed
tiers, a third acknowledged, some assigned, each with its history), and 20 patients on hold (the resume panel).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import pytest
from bench_data import bench_database
from litestar import Request, get
from litestar.response import Template
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.auth import current_staff
from server.clinical.rules import RULES
from server.clock import SystemClock
from server.db import session_scope
from server.models import (
    Alert,
    AlertEvent,
    Clinic,
    DoseEvent,
    Patient,
    Staff,
    SymptomReport,
    TreatmentPlan,
    WeightEntry,
)
from server.routes.staff.common import render
from server.services.clinic_scope import staff_choices
from server.services.staff import inbox
from server.services.staff.accounts import create_staff
from server.services.staff.wording import OUTCOMES
from tests.statements import count_statements
from tests.support.staff import sign_in

PATIENTS = 200
OPEN_ALERTS = 500
HELD_PATIENTS = 20
HISTORY_DAYS = 30
TARGET_MS = 300
ROUNDS, PER_ROUND = 3, 10
PASSWORD = "bench-password-long-enough"
BASE = "http://testserver.local"
# Families in a fixed order; patient i takes two or three of them, each with one of its rules (tiers mixed).
FAMILY_RULES: dict[str, list[str]] = {}
for _rule in RULES.values():
    if _rule.tier.value != "self_care" and _rule.id not in ("R-RESUME", "R-PLAN-UNSEEN"):
        FAMILY_RULES.setdefault(_rule.family, []).append(_rule.id)
FAMILIES = sorted(FAMILY_RULES)


@get("/bench/floor/inbox", sync_to_thread=True)
def floor_inbox(request: Request) -> Template:
    """The inbox floor: who is signed in, then the same template with the same rows (computed once, before timing)."""
    assert current_staff(request) is not None
    return render(request, "staff/inbox.html", nav="inbox", error=None, confirm=None, **request.app.state.bench_inbox)


def _seed(engine, now: datetime) -> tuple[int, int]:
    """The clinic (nurse and a colleague), its 200 patients and their 500 open alerts; returns (clinic, colleague)."""
    with session_scope(engine) as session:
        clinic = Clinic(name="Bench Triage Clinic", phone="+15555550100", timezone="America/New_York", created_at=now)
        session.add(clinic)
        session.flush()
        clinic_id = clinic.id
    create_staff(engine, clinic_id=clinic_id, email="nurse@bench.example", name="Bench Nurse", role="nurse",
                 password=PASSWORD, now=now)  # fmt: skip
    colleague = create_staff(engine, clinic_id=clinic_id, email="np@bench.example", name="Bench Practitioner",
                             role="practitioner", password=PASSWORD, now=now)  # fmt: skip
    start = (now - timedelta(days=HISTORY_DAYS)).date()
    with session_scope(engine) as session:
        nurse_id = session.exec(select(Staff.id).where(Staff.email == "nurse@bench.example")).one()
        patients = [
            Patient(
                clinic_id=clinic_id,
                first_name=f"Tri{i:03d}",
                last_name=f"Bench{i % 37:02d}",
                date_of_birth=date(1950, 1, 1),
                mrn=f"TRI-{i:05d}",
                timezone="America/New_York",
                baseline_weight_kg=70.0,
                weight_unit="kg",
                created_at=now - timedelta(days=HISTORY_DAYS + 5),
            )
            for i in range(PATIENTS)
        ]
        session.add_all(patients)
        session.flush()
        rows: list = []
        for i, patient in enumerate(patients):
            first = TreatmentPlan(
                patient_id=patient.id,
                version=1,
                regimen="Xd",
                dose_level=0,
                status="active",
                start_date=start,
                day1_weekday=0,
                day3_weekday=2,
                dose_time=clock_time(8),
                antiemetic_name="ondansetron 8 mg",
                created_at=now - timedelta(days=HISTORY_DAYS + 5),
            )
            rows.append(first)
            if i < HELD_PATIENTS:
                rows.append(
                    TreatmentPlan(
                        patient_id=patient.id,
                        version=2,
                        regimen="Xd",
                        dose_level=0,
                        status="held",
                        hold_rule="R-NA",
                        start_date=start,
                        day1_weekday=0,
                        day3_weekday=2,
                        dose_time=clock_time(8),
                        antiemetic_name="ondansetron 8 mg",
                        reason="sodium 128",
                        changed_by_staff_id=nurse_id,
                        created_at=now - timedelta(days=3),
                    )
                )
            for day in range(HISTORY_DAYS):
                at = now - timedelta(days=HISTORY_DAYS - day, hours=-1)
                key = f"tri-{patient.id}-{day}"
                if at.weekday() in (0, 2):
                    rows.append(
                        DoseEvent(
                            patient_id=patient.id,
                            idempotency_key=f"{key}-d",
                            scheduled_for=at.date(),
                            at=at,
                            status="taken" if (i + day) % 9 else "missed",
                            antiemetic_taken=True,
                            recorded_at=at,
                        )
                    )
                rows.append(
                    SymptomReport(
                        patient_id=patient.id,
                        idempotency_key=f"{key}-s",
                        at=at,
                        nausea=(i + day) % 3,
                        loose_stools=1 + (day % 3),
                        fatigue=(i + 2 * day) % 3,
                        appetite=day % 2,
                        recorded_at=at,
                    )
                )
                if day % 2 == 0:
                    kg = 70.0 - (i % 9) * 0.8 - day * 0.05
                    rows.append(
                        WeightEntry(
                            patient_id=patient.id,
                            idempotency_key=f"{key}-w",
                            at=at,
                            kg=kg,
                            entered_value=kg,
                            entered_unit="kg",
                            recorded_at=at,
                        )
                    )
        session.add_all(rows)
        alerts: list[Alert] = []
        for n in range(OPEN_ALERTS):
            i = n % PATIENTS  # rounds over the patients: 100 get three alerts, 100 get two
            family = FAMILIES[(i + n // PATIENTS * 3) % len(FAMILIES)]
            rule = RULES[FAMILY_RULES[family][(i + n) % len(FAMILY_RULES[family])]]
            opened = now - timedelta(minutes=5 + (n * 37) % (3 * 24 * 60))
            acknowledged = n % 3 == 0
            alerts.append(
                Alert(
                    patient_id=patients[i].id,
                    family=family,
                    rule=rule.id,
                    tier=rule.tier.value,
                    action=rule.action.value,
                    status="acknowledged" if acknowledged else "open",
                    facts=f"bench: {rule.condition}"[:2000],
                    opened_at=opened,
                    updated_at=opened,
                    acknowledged_at=opened + timedelta(minutes=2) if acknowledged else None,
                    acknowledged_by_staff_id=nurse_id if acknowledged else None,
                    assigned_to_staff_id=(nurse_id, colleague.id, None, None)[n % 4],
                    page_level=0 if acknowledged else 1,
                    next_page_at=None if acknowledged else opened + timedelta(minutes=15),
                )
            )
        session.add_all(alerts)
        session.flush()
        events = []
        for alert in alerts:
            events.append(AlertEvent(alert_id=alert.id, kind="created", at=alert.opened_at, detail=alert.facts[:80]))
            events.append(AlertEvent(alert_id=alert.id, kind="paged", at=alert.opened_at, detail="paged on call 1"))
            if alert.status == "acknowledged":
                events.append(
                    AlertEvent(alert_id=alert.id, kind="acknowledged", at=alert.acknowledged_at, staff_id=nurse_id)
                )
        session.add_all(events)
    return clinic_id, colleague.id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, tmp_path, _sqlite_template):
    settings, engine = bench_database(request, tmp_path, _sqlite_template, BASE)
    now = datetime.now(UTC)
    started = time.perf_counter()
    _seed(engine, now)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # the planner's statistics, as autovacuum would have them (committed)
            conn.exec_driver_sql("ANALYZE")
    seeded_s = time.perf_counter() - started
    app = create_app(settings, engine=engine, clock=SystemClock())
    app.register(floor_inbox)
    print(f"\n[{request.param}] {PATIENTS} patients, {OPEN_ALERTS} open alerts seeded in {seeded_s:.1f} s")
    yield request.param, app, engine
    engine.dispose()


def _times_ms(call, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _floor_data(app, engine) -> dict:
    """What the inbox route computes for its first page, computed here once (the floor only renders it)."""
    ctx = app.state.ctx
    now = ctx.clock.now()
    with Session(engine) as session:
        nurse = session.exec(select(Staff).where(Staff.email == "nurse@bench.example")).one()
        ready = inbox.resume_ready(session, nurse, now)
        result = inbox.inbox_groups(session, nurse, now, inbox.InboxFilter(), ready=ready)
        choices = staff_choices(session, nurse)
    return {
        "result": result,
        "views": result.views,
        "ready": ready,
        "counts": result.counts.by_tier,
        "staff_choices": choices,
        "outcomes": OUTCOMES,
        "filter": inbox.InboxFilter(),
        "now": now,
    }


@pytest.mark.slow
def test_bench_inbox_first_page_against_a_bare_render(world):
    name, app, engine = world
    with TestClient(app, base_url=BASE) as client:
        assert sign_in(client, "nurse@bench.example", PASSWORD).status_code == 303
        app.state.bench_inbox = _floor_data(app, engine)
        shown = len(app.state.bench_inbox["views"])

        def project():
            answer = client.get("/staff/inbox")
            assert answer.status_code == 200 and 'id="alert-list"' in answer.text

        def floor():
            answer = client.get("/bench/floor/inbox")
            assert answer.status_code == 200 and 'id="alert-list"' in answer.text

        project(), floor()  # warm (template compilation, caches)
        # The same page either way: the floor renders exactly the rows the inbox shows.
        assert client.get("/staff/inbox").text.count('class="alert-card') == client.get(
            "/bench/floor/inbox"
        ).text.count('class="alert-card')
        mine, base = [], []
        for _ in range(ROUNDS):  # interleaved: a shared machine drifts
            mine += _times_ms(project, PER_ROUND)
            base += _times_ms(floor, PER_ROUND)
        inbox_ms, floor_ms = statistics.median(mine), statistics.median(base)
        with count_statements(engine) as log:
            project()
        statements = log.count
        with count_statements(engine) as log:
            floor()
        floor_statements = log.count
    print(
        f"[{name}] GET /staff/inbox (first page: {shown} of {OPEN_ALERTS} open alerts): {inbox_ms:.1f} ms "
        f"(target < {TARGET_MS} ms) vs bare render of the same rows {floor_ms:.1f} ms: ratio {inbox_ms / floor_ms:.2f}; "
        f"statements {statements} vs {floor_statements}"
    )
    assert inbox_ms < TARGET_MS, f"inbox first page {inbox_ms:.1f} ms on {name} (target < {TARGET_MS} ms)"
