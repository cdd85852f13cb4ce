"""The inbox page sends a fixed number of statements whatever the number of open alerts and held patients (issue
12: 500 open alerts across 200 patients in under 300 ms; tests/bench/test_bench_inbox_triage.py times it)."""

from __future__ import annotations

from server.db import session_scope
from server.models import Alert
from tests.statements import count_statements
from tests.support.patient import make_patient
from tests.support.staff import NURSE, seed, sign_in


def _held_patients_with_alerts(engine, settings, clock, first: int, count: int) -> None:
    now = clock.now()
    for n in range(first, first + count):
        patient = make_patient(
            engine, settings, now, mrn=f"HELD-{n:03d}", first_name=f"Held{n}", phone=None, status="held"
        )
        with session_scope(engine) as session:
            for family, rule, tier in (("weight", "R-WT-10", "same_day"), ("fever", "R-FEVER", "urgent")):
                session.add(
                    Alert(
                        patient_id=patient.id,
                        family=family,
                        rule=rule,
                        tier=tier,
                        action="evaluate",
                        facts=f"seeded {rule}",
                        opened_at=now,
                        updated_at=now,
                    )
                )


def _inbox_statements(client, engine) -> int:
    assert client.get("/staff/inbox").status_code == 200  # warm: the session's first use may touch its row
    with count_statements(engine) as log:
        answer = client.get("/staff/inbox")
    assert answer.status_code == 200
    return log.count


def test_the_inbox_sends_the_same_statements_for_2_or_12_held_patients_with_open_alerts(
    client, engine, settings, clock
):
    seed(engine, settings, clock)
    sign_in(client, NURSE)
    _held_patients_with_alerts(engine, settings, clock, 0, 2)
    few = _inbox_statements(client, engine)
    _held_patients_with_alerts(engine, settings, clock, 2, 10)
    many = _inbox_statements(client, engine)
    assert many == few, (few, many)
    assert "Held11" in client.get("/staff/inbox").text
