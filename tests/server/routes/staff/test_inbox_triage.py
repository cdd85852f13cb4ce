"""The triage-first inbox (issue 12 items 1-2, issue 16 item 3): patients grouped, most severe then newest; a
personal view that never hides unassigned urgent work; acknowledging assigns; pages of a fixed statement count
whatever the number of open alerts, audited in one INSERT."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from server.db import session_scope
from server.models import Alert, AlertEvent, AuditLog
from server.services.audit import record_views
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from server.services.staff.inbox import INBOX_PAGE_SIZE
from tests.support.patient import make_patient
from tests.support.staff import NURSE, PHARMACIST, patient_by_mrn, post_form, seed, sign_in, staff_by_email, text_of

MARIA, ROBERT, DOROTHY = "DEMO-001", "DEMO-002", "DEMO-003"


@pytest.fixture
def demo(engine, settings, clock):
    return seed(engine, settings, clock)


@pytest.fixture
def ctx(app, demo):
    return app.state.ctx


@pytest.fixture
def nurse(client, demo):
    sign_in(client, NURSE)
    return client


@contextmanager
def statements(engine):
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _row_order(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="alert-(\d+)" data-alert-id', html)]


def _alert(engine, patient_id: int, family: str) -> Alert:
    with Session(engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient_id, Alert.family == family)).one()


def _fever(ctx, engine, mrn, clock, key):
    patient = patient_by_mrn(engine, mrn)
    record_symptoms(ctx, patient.id, key=key, at=clock.now(), answers=SymptomAnswers(temperature_c=38.6))
    return _alert(engine, patient.id, "fever")


def _open_alerts_for_new_patients(engine, settings, clock, count: int, start: int) -> None:
    """`count` more patients, each with two open alerts (urgent and routine) and a page on the urgent one."""
    now = clock.now()
    for n in range(start, start + count):
        patient = make_patient(
            engine, settings, now, mrn=f"BULK-{n:04d}", first_name=f"Bulk{n}", timezone="America/Chicago"
        )
        with session_scope(engine) as session:
            for family, tier in (("fever", "urgent"), ("gi", "routine")):
                alert = Alert(
                    patient_id=patient.id,
                    family=family,
                    rule="R-FEVER" if family == "fever" else "R-NV-12",
                    tier=tier,
                    action="evaluate",
                    facts=f"{family} facts",
                    opened_at=now - timedelta(minutes=n),
                    updated_at=now,
                    next_page_at=now + timedelta(minutes=10) if tier == "urgent" else None,
                )
                session.add(alert)
                session.flush()
                session.add(AlertEvent(alert_id=alert.id, kind="paged", at=now, detail="paged on call 1"))


def test_urgent_first_then_newest_with_the_grid_once_per_patient(nurse, ctx, engine, clock):
    dorothy = patient_by_mrn(engine, DOROTHY)
    record_symptoms(ctx, dorothy.id, key="nausea-0001", at=clock.now(), answers=SymptomAnswers(nausea=2))
    clock.advance(minutes=5)
    older = _fever(ctx, engine, ROBERT, clock, "fever-0001")
    clock.advance(minutes=5)
    newer = _fever(ctx, engine, MARIA, clock, "fever-0002")
    page = nurse.get("/staff/inbox")
    order = _row_order(page.text)
    assert order[:2] == [newer.id, older.id]  # a new urgent alert lands on top, not under older cards
    words = text_of(page.text)
    assert words.count("Last 14 days of") == 3  # once per patient, not once per alert
    assert re.search(r"<details class=\"days-toggle\">\s*<summary>", page.text)  # collapsed until opened
    assert "(America/Chicago)" in words  # times say their zone
    assert "next page in 15 min" in words  # time to the next escalation of an open urgent alert
    assert "New" in words and 'class="alert-card alert-row tier-urgent status-open new"' in page.text


def test_assigned_to_me_never_hides_unassigned_urgent_work(nurse, ctx, engine, clock):
    urgent = _fever(ctx, engine, MARIA, clock, "fever-0003")
    robert = patient_by_mrn(engine, ROBERT)
    record_weight(ctx, robert.id, key="weight-0001", at=clock.now(), value=72.0, unit="kg", confirmed=True)
    weight = _alert(engine, robert.id, "weight")
    pharmacist = staff_by_email(engine, PHARMACIST)
    post_form(nurse, f"/staff/alerts/{weight.id}/assign", {"assignee_id": str(pharmacist.id), "back": "/staff/inbox"})
    mine = nurse.get("/staff/inbox?mine=true")
    assert _row_order(mine.text) == [urgent.id]  # not "No open alerts"; the colleague's alert is not mine
    assert "0 assigned to you · 1 urgent unassigned" in text_of(mine.text)
    post_form(nurse, f"/staff/alerts/{urgent.id}/assign", {"assignee_id": str(pharmacist.id), "back": "/staff/inbox"})
    mine = nurse.get("/staff/inbox?mine=true")
    assert _row_order(mine.text) == [] and "0 assigned to you · 0 urgent unassigned" in text_of(mine.text)


def test_acknowledging_assigns_the_alert_unless_someone_has_it(nurse, ctx, engine, clock):
    maria = _fever(ctx, engine, MARIA, clock, "fever-0004")
    robert = _fever(ctx, engine, ROBERT, clock, "fever-0005")
    nurse_id, pharmacist_id = staff_by_email(engine, NURSE).id, staff_by_email(engine, PHARMACIST).id
    post_form(nurse, f"/staff/alerts/{robert.id}/assign", {"assignee_id": str(pharmacist_id), "back": "/staff/inbox"})
    for alert in (maria, robert):
        post_form(nurse, f"/staff/alerts/{alert.id}/acknowledge", {"back": "/staff/inbox"})
    assert _alert(engine, maria.patient_id, "fever").assigned_to_staff_id == nurse_id
    assert _alert(engine, robert.patient_id, "fever").assigned_to_staff_id == pharmacist_id  # not taken away
    mine = nurse.get("/staff/inbox?mine=true")
    assert _row_order(mine.text) == [maria.id] and "1 assigned to you · 0 urgent unassigned" in text_of(mine.text)


def test_an_inbox_page_costs_the_same_statements_whatever_the_number_of_alerts(nurse, ctx, engine, settings, clock):
    before = nurse.get("/staff/inbox").text
    demo_rows, demo_patients = len(_row_order(before)), before.count('class="patient-group')
    _open_alerts_for_new_patients(engine, settings, clock, 3, start=0)
    with statements(ctx.engine) as few:
        small = nurse.get("/staff/inbox")
    _open_alerts_for_new_patients(engine, settings, clock, INBOX_PAGE_SIZE + 5, start=3)
    with statements(ctx.engine) as many:
        large = nurse.get("/staff/inbox")
    assert small.status_code == large.status_code == 200
    assert len(_row_order(small.text)) == demo_rows + 6
    assert large.text.count('class="patient-group') == INBOX_PAGE_SIZE
    assert len(many) == len(few) <= 25, many  # no query per alert or per patient
    audit_inserts = [s for s in many if s.lstrip().upper().startswith("INSERT INTO AUDIT_LOG")]
    assert len(audit_inserts) == 1  # the page's audit rows in one statement
    total = demo_patients + 3 + INBOX_PAGE_SIZE + 5
    assert f"Page 1 of 2 ({total} patients)" in text_of(large.text)
    second = nurse.get("/staff/inbox?page=2")
    assert second.text.count('class="patient-group') == total - INBOX_PAGE_SIZE
    assert not set(_row_order(second.text)) & set(_row_order(large.text))


def test_the_live_list_is_the_same_page_without_the_frame(nurse, ctx, engine, clock):
    alert = _fever(ctx, engine, MARIA, clock, "fever-0006")
    fragment = nurse.get("/staff/inbox/list?mine=true")
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="alert-list"')
    assert _row_order(fragment.text) == [alert.id] and 'data-count-urgent="1"' in fragment.text


def test_audit_rows_of_a_page_are_written_in_one_statement(ctx, engine, settings, clock):
    nurse = staff_by_email(engine, NURSE)
    ids = [make_patient(engine, settings, clock.now(), mrn=f"AUD-{n:03d}").id for n in range(40)]
    with statements(ctx.engine) as seen:
        record_views(ctx, nurse, "roster.view", ids, ip="10.0.0.1")
    assert len([s for s in seen if "audit_log" in s.lower()]) == 1
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "roster.view")).all()
    assert sorted(r.patient_id for r in rows) == sorted(ids) and {r.ip for r in rows} == {"10.0.0.1"}
