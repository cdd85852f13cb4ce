"""The roster, a patient's page, labs, the timeline with message delivery, the weight chart, the visit summary,
and the admin's audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from server.db import session_scope
from server.models import Alert, AuditLog, InboundMessage, LabResult, OutboundMessage
from server.services.entries import SymptomAnswers, record_dose, record_symptoms
from tests.support.staff import ADMIN, NURSE, PHARMACIST, patient_by_mrn, post_form, seed, sign_in, text_of

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


@pytest.fixture
def pharmacist(client, demo):
    """A clinical role that may change doses (PLAN_CHANGE_ROLES: a nurse may only hold)."""
    sign_in(client, PHARMACIST)
    return client


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [text_of(row).strip() for row in body.split("</tr>") if "<td" in row]


def test_the_roster_shows_dose_status_day_adherence_weight_and_alerts(nurse, engine):
    page = nurse.get("/staff/patients")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert len(rows) == 3
    robert = next(r for r in rows if r.startswith("Chen, Robert"))
    assert "Xd level 1: 100 mg once weekly, Tue 09:00" in robert and "active" in robert
    assert re.search(r"active \d+ ", robert)  # days on therapy
    assert "100% (2/2)" in robert  # both scheduled doses of the last 14 days logged as taken
    assert "-13.2%" in robert  # latest weight vs baseline
    assert "1 same day" in robert  # the open weight alert
    dorothy = next(r for r in rows if r.startswith("Williams, Dorothy"))
    assert "XVd level 0" in dorothy


def test_the_roster_sorts_and_filters(nurse, engine):
    by_weight = _rows(nurse.get("/staff/patients?sort=weight").text)
    assert by_weight[0].startswith("Chen, Robert")  # the largest loss first
    by_name_desc = _rows(nurse.get("/staff/patients?sort=name&desc=true").text)
    assert [r.split(",")[0] for r in by_name_desc] == ["Williams", "Lopez", "Chen"]
    assert [r.split(",")[0] for r in _rows(nurse.get("/staff/patients?regimen=XVd").text)] == ["Williams"]
    assert [r.split(",")[0] for r in _rows(nurse.get("/staff/patients?q=demo-001").text)] == ["Lopez"]
    assert [r.split(",")[0] for r in _rows(nurse.get("/staff/patients?alerts=any").text)] == ["Chen"]
    assert "No patients match" in nurse.get("/staff/patients?status=discontinued").text


def test_labs_feed_the_rules_and_bad_values_name_the_field(nurse, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    bad = post_form(
        nurse,
        f"/staff/patients/{maria.id}/labs",
        {"collected_on": "2026-03-02", "sodium_mmol_l": "99", "key": "lab-key-0001"},
    )
    assert bad.status_code == 422 and "sodium mmol l" in text_of(bad.text)
    not_a_number = post_form(
        nurse,
        f"/staff/patients/{maria.id}/labs",
        {"collected_on": "2026-03-02", "platelets_10e9_l": "lots", "key": "lab-key-0002"},
    )
    assert not_a_number.status_code == 422 and "Platelets" in text_of(not_a_number.text)
    future = post_form(
        nurse,
        f"/staff/patients/{maria.id}/labs",
        {"collected_on": "2026-03-09", "sodium_mmol_l": "128", "key": "lab-key-0003"},
    )
    assert future.status_code == 422 and "collected on" in text_of(future.text)
    empty = post_form(nurse, f"/staff/patients/{maria.id}/labs", {"collected_on": "2026-03-02", "key": "lab-key-0004"})
    assert empty.status_code == 422
    with Session(engine) as session:
        assert session.exec(select(LabResult)).all() == []

    good = {
        "collected_on": "2026-03-02",
        "sodium_mmol_l": "128",
        "platelets_10e9_l": "140",
        "anc_10e9_l": "2.1",
        "hemoglobin_g_dl": "10.4",
        "key": "lab-key-0005",
    }
    answer = post_form(nurse, f"/staff/patients/{maria.id}/labs", good)
    assert answer.status_code == 200
    assert "Labs saved. Findings: Sodium 128 mmol/L: interrupt (R-NA)" in text_of(answer.text)  # in words (issue 12)
    post_form(nurse, f"/staff/patients/{maria.id}/labs", good)  # a double submit stores one result
    with Session(engine) as session:
        [lab] = session.exec(select(LabResult)).all()
        [alert] = session.exec(select(Alert).where(Alert.patient_id == maria.id, Alert.family == "labs")).all()
        [audit] = session.exec(select(AuditLog).where(AuditLog.action == "lab.create")).all()
    assert (lab.sodium_mmol_l, lab.entered_by_staff_id is not None, lab.source) == (128, True, "staff")
    assert alert.rule == "R-NA" and "sodium 128" in alert.facts
    assert audit.patient_id == maria.id and audit.ip


def test_the_timeline_shows_entries_alerts_messages_with_delivery_status_and_plan_versions(nurse, ctx, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    now = clock.now()
    with session_scope(engine) as session:
        session.add(
            OutboundMessage(
                dedupe_key="t-1",
                patient_id=maria.id,
                kind="dose",
                channel="sms",
                to_address="+1",
                body="Time for your medicine",
                scheduled_for=now - timedelta(hours=5),
                send_at=now - timedelta(hours=5),
                status="sent",
                sent_at=now - timedelta(hours=5),
                delivery_status="delivered",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            OutboundMessage(
                dedupe_key="t-2",
                patient_id=maria.id,
                kind="weight",
                channel="sms",
                to_address="+1",
                scheduled_for=now - timedelta(hours=3),
                send_at=now - timedelta(hours=3),
                status="sent",
                sent_at=now - timedelta(hours=3),
                delivery_status="undelivered",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            InboundMessage(
                provider_id="SM-in-1",
                from_number="+15555550201",
                to_number="+15005550006",
                body="TOOK",
                patient_id=maria.id,
                handled_as="dose_taken",
                reply="Thanks",
                received_at=now - timedelta(hours=2),
            )
        )
    record_symptoms(ctx, maria.id, key="tl-sympt-1", at=now, answers=SymptomAnswers(temperature_c=38.4, chills=True))
    record_dose(ctx, maria.id, key="tl-dose-01", at=now, status="taken", antiemetic_taken=True)
    # The urgent fever alert is still unacknowledged, so the hold is confirmed (issue 12 item 4).
    post_form(
        nurse,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "reason": "Fever: evaluate", "dexamethasone_on_hold": "continue", "confirmed": "true"},
    )
    words = text_of(nurse.get(f"/staff/patients/{maria.id}/timeline").text)
    assert "Symptom check-in" in words and "38.4 °C, chills" in words
    assert "Dose taken" in words and "antiemetic taken" in words
    assert "Alert opened: R-FEVER (Urgent)" in words
    assert "Sent dose by sms Time for your medicine delivered" in words
    assert "Sent weight by sms" in words and "undelivered" in words
    assert "Received SMS “TOOK” → handled as dose_taken; replied “Thanks”" in words
    assert "Plan v2: held, Xd level 0 Fever: evaluate (Nora Nurse); dexamethasone continues" in words
    assert "Weight" in words  # the demo's weights


def test_the_weight_chart_is_an_svg_with_baseline_lines(nurse, engine):
    robert = patient_by_mrn(engine, ROBERT)
    chart = nurse.get(f"/staff/patients/{robert.id}/weight.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    svg = chart.text
    assert svg.startswith("<svg") and "baseline 82.0" in svg and "−10% hold 73.8" in svg and "−20% urgent 65.6" in svg
    assert svg.count("<circle") >= 8


def test_the_visit_summary_is_one_printable_page_since_the_last_visit(nurse, ctx, engine, clock):
    robert = patient_by_mrn(engine, ROBERT)
    record_symptoms(
        ctx,
        robert.id,
        key="vs-sympt-1",
        at=clock.now(),
        answers=SymptomAnswers(nausea=2, vomiting_episodes=3, fatigue=2),
    )
    page = nurse.get(f"/staff/patients/{robert.id}/summary?since=2026-02-02")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Visit summary, 02 Feb 2026 to 02 Mar 2026" in words
    assert "4 scheduled: 4 taken, 0 vomited, 0 missed, 0 not logged" in words
    assert "Nausea (grade 0-3) 2" in words and "Vomiting (episodes/24 h) 3" in words
    assert "-13.2%" in words and "R-WT-10" in words and "still open" in words
    assert "@media print" in nurse.get("/static/staff/staff.css").text
    # Opening it again during the same visit keeps the same period; the next visit starts where this one was printed.
    assert "Visit summary, 02 Feb 2026" in text_of(
        nurse.get(f"/staff/patients/{robert.id}/summary?since=2026-02-02").text
    )
    assert "Visit summary, 02 Feb 2026" in text_of(nurse.get(f"/staff/patients/{robert.id}/summary").text)  # 28 days
    clock.advance(days=14)
    sign_in(nurse, NURSE)  # two weeks later: a new sign-in (staff sessions last 12 hours)
    assert "Visit summary, 02 Mar 2026" in text_of(nurse.get(f"/staff/patients/{robert.id}/summary").text)


def test_an_admin_reads_and_filters_the_audit_log(client, nurse, engine, app):
    maria = patient_by_mrn(engine, MARIA)
    nurse.get(f"/staff/patients/{maria.id}")
    sign_in(client, ADMIN)
    page = client.get("/staff/admin/audit")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "patient.view" in words and "Nora Nurse (nurse)" in words and "testclient" in words
    only = client.get(f"/staff/admin/audit?action=patient.view&patient_id={maria.id}")
    rows = _rows(only.text)
    assert rows and all("patient.view" in r for r in rows)
    assert "No entries" in client.get("/staff/admin/audit?action=nothing.like.this").text
    assert client.get("/staff/admin/audit?staff_id=&patient_id=&since=&until=").status_code == 200


@pytest.mark.parametrize(
    "choice,words",
    [
        ("continue", "continues as prescribed: the patient is reminded"),
        ("hold", "held too: the patient is told not to take it"),
    ],
)
def test_holding_xd_asks_what_happens_to_dexamethasone_and_the_plan_shows_it(nurse, engine, choice, words):
    # clinical-reference §1: a selinexor hold never silently stops the partner drugs
    maria = patient_by_mrn(engine, MARIA)  # Xd
    page = nurse.get(f"/staff/patients/{maria.id}").text
    assert 'name="dexamethasone_on_hold" value="continue"' in page and 'value="hold"' in page
    missing = post_form(nurse, f"/staff/patients/{maria.id}/plan", {"operation": "hold", "reason": "Fever"})
    assert missing.status_code == 422
    assert (
        "dexamethasone on hold: Choose what happens to dexamethasone while selinexor is on hold: continue as "
        "prescribed, or hold it too."
    ) in text_of(missing.text)
    bad = post_form(
        nurse,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "reason": "Fever", "dexamethasone_on_hold": "stop"},
    )
    assert bad.status_code == 422 and "Choose: continue dexamethasone as prescribed, or hold it too." in text_of(
        bad.text
    )
    post_form(
        nurse,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "reason": "Fever", "dexamethasone_on_hold": choice},
    )
    words_on_page = text_of(nurse.get(f"/staff/patients/{maria.id}").text)
    assert f"Dexamethasone during the hold {words}" in words_on_page
    assert "dexamethasone " + ("held too" if choice == "hold" else "continues") in words_on_page  # plan versions
    with Session(engine) as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "plan.hold")).one()
    assert f"(dexamethasone: {choice})" in entry.detail


@pytest.mark.parametrize(
    "form,ok,words",
    [
        (
            {"operation": "reduce"},
            False,  # level 1 is 100 mg: not whole 40 mg tablets
            "Xd level 1 (100 mg once weekly) is a 100 mg dose, which is not a whole number of 40 mg tablets",
        ),
        (
            {"operation": "resume", "level": "3"},
            False,
            "Xd level 3 (60 mg once weekly) is a 60 mg dose, which is not a whole number of 40 mg tablets",
        ),
        ({"operation": "resume", "level": "2"}, True, ""),  # 80 mg = 2 x 40 mg
    ],
)
def test_every_plan_change_refuses_a_level_that_is_not_whole_tablets(pharmacist, engine, form, ok, words):
    # clinical-reference §1: refuse a level whose dose is not a whole number of that patient's tablets
    maria = patient_by_mrn(engine, MARIA)  # Xd level 0: 80 mg
    with session_scope(engine) as session:
        row = session.get(type(maria), maria.id)
        row.tablet_strength_mg = 40
    answer = post_form(
        pharmacist, f"/staff/patients/{maria.id}/plan", {**form, "reason": "staff decision"}, follow_redirects=False
    )
    if ok:
        assert answer.status_code == 303
    else:
        assert answer.status_code == 422 and words in text_of(answer.text)
        assert "choose another level or tablet strength" in text_of(answer.text)
