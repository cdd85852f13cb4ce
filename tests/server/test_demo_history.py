"""The demo clinic's six months of history (issue 14 item 4): the quality report over it has figures in every table,
the stories it tells are there, it is deterministic and idempotent, quick, and refused in production."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from server.context import AppContext
from server.demo import DemoRefused, seed_demo
from server.demo_history import HISTORY_PATIENTS, seed_demo_history
from server.models import Alert, AlertEvent, AntiemeticEvent, Clinic, DoseEvent, OutboundMessage, Patient, TreatmentPlan
from server.services.pqi.periods import parse_period
from server.services.pqi.quality_report import quality_report
from tests.server.test_demo import _snapshot

# Figures that may stay empty over the demo: nobody in the demo loses 20% of their weight.
MAY_BE_EMPTY = {("weight", "days_20")}


@pytest.fixture
def seeded(engine, settings, clock):
    seed_demo(engine, settings, clock.now())
    started = time.perf_counter()
    ids = seed_demo_history(AppContext(settings, engine, clock), clock.now())
    return ids, time.perf_counter() - started


def test_the_report_over_the_demo_period_has_figures_in_every_table(engine, settings, clock, seeded):
    ids, seconds = seeded
    assert len(ids) == len(HISTORY_PATIENTS) == 12
    assert seconds < 10, f"the demo history took {seconds:.1f} s: `make run` must start quickly"
    with Session(engine) as session:
        clinic = session.get(Clinic, session.get(Patient, ids[0]).clinic_id)  # type: ignore[union-attr]
        period = parse_period("", "", ZoneInfo(clinic.timezone), clock.now())  # the page's default: six months
        report = quality_report(session, clinic, settings, period, clock.now())
    assert len(period.months) == 6
    empty = []
    for table in report.tables:
        for column, _ in table.columns:
            figures = [row.cells.get(column) for row in table.rows]
            if (table.key, column) in MAY_BE_EMPTY:
                continue
            if not any(f is not None and f.value is not None for f in figures):
                empty.append((table.key, column))
    assert not empty, f"columns without a figure over the demo period: {empty}"
    # Every month of the charts has doses, and the trial's reference lines have something to stand beside.
    assert all(report.table("doses").figure(m.key, "taken").value for m in period.months)
    assert report.table("modifications").figure("period", "interrupted").value
    # The start of therapy: most checklists complete before the first dose, some teach-backs passed (never all).
    program = report.table("program")
    starts = program.figure("period", "new_starts")
    checklist, teach_back = program.figure("period", "checklist"), program.figure("period", "teach_back")
    assert starts.value and checklist.den == teach_back.den == starts.value
    assert starts.value / 2 < checklist.num < checklist.den
    assert 0 < teach_back.num < teach_back.den


def test_the_demo_tells_its_stories(engine, seeded):
    ids, _ = seeded
    with Session(engine) as session:
        mine = Patient.id.in_(ids)  # type: ignore[union-attr]
        patients = {p.mrn: p for p in session.exec(select(Patient).where(mine)).all()}
        plans = session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id.in_(ids))).all()
        operations = sorted((p.patient_id, p.version, p.status, p.dose_level) for p in plans if p.version > 1)
        alerts = session.exec(select(Alert).where(Alert.patient_id.in_(ids))).all()
        actions = session.exec(select(AlertEvent).where(AlertEvent.kind == "action")).all()
        doses = session.exec(select(DoseEvent).where(DoseEvent.patient_id.in_(ids))).all()
        antiemetics = session.exec(select(AntiemeticEvent).where(AntiemeticEvent.patient_id.in_(ids))).all()
        reminders = session.exec(select(OutboundMessage).where(OutboundMessage.patient_id.in_(ids))).all()
    elena, carmen, bashir = (patients[m].id for m in ("HIST-05", "HIST-03", "HIST-02"))
    # One hold then a resume one level lower; one reduction from a lab alert; one discontinuation.
    assert [(v, s, lvl) for pid, v, s, lvl in operations if pid == elena] == [(2, "held", 0), (3, "active", 1)]
    assert [(v, s, lvl) for pid, v, s, lvl in operations if pid == carmen] == [(2, "active", 1)]
    assert [(v, s) for pid, v, s, _ in operations if pid == bashir] == [(2, "discontinued")]
    assert len(actions) == 2
    by_rule = {a.rule: a for a in alerts}
    assert {"R-NV-3", "R-PLT-75", "R-WT-5", "R-WT-10", "R-MISS-2", "R-NA", "R-NO-DELIVERY"} <= set(by_rule)
    assert by_rule["R-NV-3"].page_level == 2 and by_rule["R-NV-3"].acknowledged_at is not None
    assert all(a.acknowledged_at is not None and a.acknowledged_at > a.opened_at for a in alerts)
    assert {d.status for d in doses} == {"taken", "missed", "vomited"}
    assert sum(d.antiemetic_taken is True for d in doses) > len(doses) * 0.7
    assert len(antiemetics) >= sum(d.antiemetic_taken is True for d in doses)
    assert {(m.status, m.delivery_status) for m in reminders} >= {
        ("sent", "delivered"),
        ("sent", "undelivered"),
        ("failed", None),
        ("sent", None),  # push
    }
    assert [p.mrn for p in patients.values() if p.sms_opted_out] == ["HIST-09"]


def test_the_history_is_idempotent_and_deterministic(engine, settings, clock, seeded):
    first = _snapshot(engine)
    clock.advance(days=2)  # even on a later day, a second `companion demo` adds nothing
    seed_demo_history(AppContext(settings, engine, clock), clock.now())
    assert _snapshot(engine) == first


def test_the_history_is_refused_in_production(engine, settings, clock):
    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(DemoRefused):
        seed_demo_history(AppContext(production, engine, clock), clock.now())
