"""Issue 11 items 1, 3 and 8 (architecture flows 5 and 6): the patient's screens never contradict the advice, every
plan change reaches the patient and is confirmed, and History shows what the care team did with each report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from notifications.messages import render_reminder
from server.clinical.advice import CareTeamContact, wait_for_team_advice
from server.i18n import render_advice
from server.models import Alert, OutboundMessage, PlanChangeNotice
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from server.services.outbox.recipients import Recipient
from server.services.plan_notices import acknowledge_notice
from server.services.plans import change_plan
from server.services.staff.alert_actions import acknowledge_alert
from server.services.sweep import sweep_patient_rules
from tests.support.patient import BASE_URL, PatientBrowser, make_patient, sign_in_link
from tests.support.staff import NURSE, PHARMACIST, ctx_for, seed, sign_in, staff_by_email, text_of

WAIT = "Wait for your care team before your next selinexor dose."


@pytest.fixture
def loop(app, engine, settings, clock):
    """The demo clinic with its staff, and Ana: today (Monday) is her Day 1, 80 mg (4 tablets) Monday and Wednesday."""
    seed(engine, settings, clock)
    ana = make_patient(engine, settings, clock.now(), mrn="LOOP-1", phone="+15555550377")
    ctx = ctx_for(settings, engine, clock)
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, ana, clock.now()))
        yield ctx, ana, phone, staff_by_email(engine, PHARMACIST)  # a clinical role: may reduce (PLAN_CHANGE_ROLES)


def _today(phone) -> str:
    answer = phone.get("/today")
    assert answer.status_code == 200
    return text_of(answer.text)


def _alert(engine, patient_id) -> Alert:
    with Session(engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient_id)).one()


def _notices(engine, patient_id) -> list[PlanChangeNotice]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(PlanChangeNotice).where(PlanChangeNotice.patient_id == patient_id).order_by(PlanChangeNotice.id)
            ).all()
        )


def test_an_interrupt_alert_turns_today_the_week_and_the_api_into_wait_for_your_team_until_staff_act(loop, clock):
    ctx, ana, phone, clinician = loop
    before = _today(phone)
    assert WAIT not in before and "Selinexor 80 mg · 8:00 AM" in before  # Wednesday in the week strip
    # 12% below the 70 kg baseline: R-WT-10 (interrupt, same day): "do not take your next dose until they do".
    result = record_weight(ctx, ana.id, key="loop-weight-01", at=clock.now(), value=61.6, unit="kg", confirmed=True)
    assert "Do not take your next selinexor dose until they do." in result.advice.messages
    page = _today(phone)
    assert WAIT in page and "Your care team was told on Monday, March 2 at 9:00 AM." in page
    assert "Next selinexor dose after today" not in page and "Selinexor 80 mg · 8:00 AM" not in page
    assert "I took my selinexor now" not in page
    assert page.count("Wait for your care team") >= 2  # the card and Wednesday in the week strip
    assert "call the clinic" in page and "If you feel worse, call 911." in page
    api = phone.api("GET", "/api/today").json()
    assert api["next_dose"] is None and api["wait_for_team"]["message"] == WAIT
    assert api["wait_for_team"]["seen_at"] is None
    assert [d["wait_for_team"] for d in api["week"]] == [True, False, True, False, False, False, False]
    # The care team acknowledges: the patient sees it, with the time; the wait goes on (nobody has told them to take it).
    clock.advance(minutes=25)
    acknowledge_alert(ctx, clinician, _alert(ctx.engine, ana.id).id, ip=None)
    page = _today(phone)
    assert "Your care team has seen your report (Monday, March 2 at 9:25 AM)." in page and WAIT in page
    assert phone.api("GET", "/api/today").json()["wait_for_team"]["seen_at"] == clock.now().isoformat()
    # The pharmacist acts: a new plan version. The change notice replaces the wait.
    clock.advance(minutes=10)
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="reduce", reason="R-WT-10: one level lower")
    page = _today(phone)
    assert WAIT not in page
    assert (
        "Your selinexor changed: now 5 tablets on Mondays only (before: 4 tablets on Mondays and Wednesdays)." in page
    )
    api = phone.api("GET", "/api/today").json()
    assert api["wait_for_team"] is None and api["plan_change"]["operation"] == "reduce"
    assert api["next_dose"] is not None


def test_a_resolved_alert_or_a_routine_one_never_turns_on_the_wait(loop, clock):
    ctx, ana, phone, clinician = loop
    record_symptoms(ctx, ana.id, key="loop-nausea-1", at=clock.now(), answers=SymptomAnswers(nausea=2))
    assert _alert(ctx.engine, ana.id).tier == "routine"
    assert WAIT not in _today(phone)


def test_the_wait_advice_never_promises_today_after_hours():
    open_now = CareTeamContact(clinic_open_now=True, clinic_phone="+15555550100", emergency_number="911")
    closed = CareTeamContact(
        clinic_open_now=False,
        next_call_day=date(2026, 3, 9),
        clinic_phone="+15555550100",
        after_hours_phone="+15555550199",
        emergency_number="911",
    )
    assert render_advice(wait_for_team_advice(open_now), "en") == [
        "If nobody has called you, call the clinic: +15555550100.",
        "If you feel worse, call 911.",
    ]
    words = render_advice(wait_for_team_advice(closed), "en")
    assert words[:2] == ["The clinic is closed now.", "A nurse will call you on Monday morning."]
    assert "+15555550199" in words[2] and not any("today" in w for w in words)
    assert render_advice(wait_for_team_advice(closed), "es")[0] != words[0]


def test_the_dose_reminder_says_wait_for_your_team_without_naming_the_drug_unless_opted_in():
    payload = {"dose_local": "2026-03-04T08:00:00-05:00", "dose_mg": 80, "tablets": 4, "strength_mg": 20}
    for drug_names, named in (
        (False, "Wait for your care team before your next dose."),
        (True, "Wait for your care team before your next selinexor dose."),
    ):
        recipient = Recipient(
            patient_id=1,
            language="en",
            phone="+15555550123",
            sms_consent=True,
            sms_opted_out=False,
            channel_preference="sms",
            drug_names=drug_names,
            weight_unit="kg",
            push_targets=(),
            clinic_name="Clinic",
            clinic_phone="+15555550100",
            awaiting_team=True,
        )
        text = render_reminder("dose", payload, recipient, "sms", "https://c.example").text
        assert text.startswith(named) and "+15555550100" in text and "Reply T" not in text and "80 mg" not in text


def test_every_plan_change_writes_a_notice_with_before_and_after_and_queues_a_message(loop, clock, engine):
    ctx, ana, phone, clinician = loop
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="reduce", reason="platelets")
    [notice] = _notices(engine, ana.id)
    assert (notice.before["dose_mg"], notice.before["tablets"], notice.before["twice_weekly"]) == (80, 4, True)
    assert (notice.after["dose_mg"], notice.after["tablets"], notice.after["twice_weekly"]) == (100, 5, False)
    with Session(engine) as session:
        [message] = session.exec(select(OutboundMessage).where(OutboundMessage.kind == "plan_notice")).all()
    payload = json.loads(message.payload)
    assert payload["notice_id"] == notice.id and message.patient_id == ana.id and message.body is None
    sms = Recipient(
        patient_id=ana.id,
        language="en",
        phone="+15555550377",
        sms_consent=True,
        sms_opted_out=False,
        channel_preference="sms",
        drug_names=False,
        weight_unit="kg",
        push_targets=(),
        clinic_name="Clinic",
        clinic_phone="+15555550100",
    )
    text = render_reminder("plan_notice", payload, sms, "sms", "https://c.example").text
    assert text == (
        "Your dose changed: now 5 tablets on Mondays only (before: 4 tablets on Mondays and Wednesdays). "
        "Reply OK to tell your care team you have read this."
    )
    es = render_reminder("plan_notice", payload, Recipient(**{**sms.__dict__, "language": "es"}), "sms", "x").text
    assert (
        es.startswith(
            "Su dosis cambió: ahora 5 comprimidos solo los lunes (antes: 4 comprimidos los lunes y los miércoles)."
        )
        and "Responda OK" in es
    )
    # A hold, then a resume: the hold's notice supersedes the unconfirmed reduction; each says its own words.
    clock.advance(hours=1)
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="hold", reason="fever", dexamethasone_on_hold="continue")
    page = _today(phone)
    assert "Your selinexor is on hold: do not take it until your care team tells you to restart." in page
    assert "Before the hold: 5 tablets on Mondays only." in page
    assert "Keep taking dexamethasone as prescribed." in page  # the hold's choice (issue 10 item 3)
    clock.advance(hours=1)
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="resume", reason="better", level=1)
    assert "Your selinexor restarts: 5 tablets on Mondays only." in _today(phone)
    notices = _notices(engine, ana.id)
    assert [n.operation for n in notices] == ["reduce", "hold", "resume"]
    assert [n.superseded_at is not None for n in notices] == [True, True, False]


def test_i_understand_records_the_confirmation_and_staff_see_it(loop, app, clock, engine):
    ctx, ana, phone, clinician = loop
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="reduce", reason="platelets")
    [notice] = _notices(engine, ana.id)
    assert "I understand" in _today(phone)
    clock.advance(minutes=5)
    answer = phone.form("/plan-change/confirm", {"notice_id": str(notice.id)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/today?confirmed=1"
    [notice] = _notices(engine, ana.id)
    assert (notice.acknowledged_at, notice.acknowledged_via) == (clock.now(), "app")
    page = text_of(phone.get("/today?confirmed=1").text)
    assert "I understand" not in page and "Your care team can see that you have read the change." in page
    # Confirming again (a double tap, the API after the form) keeps the first time.
    clock.advance(minutes=5)
    again = phone.api("POST", "/api/plan-change/confirm", json={"notice_id": notice.id})
    assert again.status_code == 200 and again.json()["acknowledged_at"] == notice.acknowledged_at.isoformat()
    from server.app import create_app

    # The staff member's own browser: a second app on the same database (one TestClient per app and event loop).
    with TestClient(create_app(ctx.settings, engine=engine, clock=clock), base_url=BASE_URL) as staff:
        sign_in(staff, NURSE)
        record = text_of(staff.get(f"/staff/patients/{ana.id}").text)
        assert "confirmed by the patient at" in record and "(by app)" in record
        timeline = text_of(staff.get(f"/staff/patients/{ana.id}/timeline").text)
        assert "Plan change confirmed by the patient" in timeline


def test_another_patients_notice_cannot_be_confirmed(loop, engine, settings, clock):
    ctx, ana, phone, clinician = loop
    other = make_patient(engine, settings, clock.now(), mrn="LOOP-2", phone="+15555550378")
    change_plan(
        ctx, other.id, staff_id=clinician.id, operation="hold", reason="fever", dexamethasone_on_hold="continue"
    )
    [notice] = _notices(engine, other.id)
    assert phone.api("POST", "/api/plan-change/confirm", json={"notice_id": notice.id}).status_code == 404
    assert phone.form("/plan-change/confirm", {"notice_id": str(notice.id)}).status_code == 404
    assert _notices(engine, other.id)[0].acknowledged_at is None


def test_an_unconfirmed_change_opens_r_plan_unseen_twelve_hours_before_the_next_affected_dose(loop, clock, engine):
    ctx, ana, phone, clinician = loop
    # Monday 09:00 New York, after today's 08:00 dose: 80 mg Mon/Wed becomes 100 mg Mondays only. The next dose
    # the change affects is Wednesday 08:00 (13:00 UTC), which the old plan had and the new one does not.
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="reduce", reason="platelets")
    clock.set(datetime(2026, 3, 4, 0, 30, tzinfo=UTC))  # Tuesday 19:30 New York: 12.5 h before
    sweep_patient_rules(ctx, clock.now())
    assert not _unseen(engine, ana.id)
    clock.set(datetime(2026, 3, 4, 1, 30, tzinfo=UTC))  # 11.5 h before
    sweep_patient_rules(ctx, clock.now())
    [alert] = _unseen(engine, ana.id)
    assert alert.tier == "same_day" and "not acknowledged by the patient" in alert.facts


def test_a_confirmed_change_opens_no_r_plan_unseen(loop, clock, engine):
    ctx, ana, phone, clinician = loop
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="reduce", reason="platelets")
    acknowledge_notice(ctx, ana.id, None, via="app")
    clock.set(datetime(2026, 3, 4, 1, 30, tzinfo=UTC))
    sweep_patient_rules(ctx, clock.now())
    assert not _unseen(engine, ana.id)


def _unseen(engine, patient_id) -> list[Alert]:
    with Session(engine) as session:
        return list(
            session.exec(select(Alert).where(Alert.patient_id == patient_id, Alert.rule == "R-PLAN-UNSEEN")).all()
        )


def test_history_shows_each_reports_status_sent_seen_acted(loop, clock):
    ctx, ana, phone, clinician = loop
    record_symptoms(ctx, ana.id, key="loop-sympt-01", at=clock.now(), answers=SymptomAnswers(nausea=1))
    clock.advance(minutes=1)
    record_symptoms(ctx, ana.id, key="loop-sympt-02", at=clock.now(), answers=SymptomAnswers(nausea=3))
    statuses = [s["report_status"]["state"] for s in phone.api("GET", "/api/history").json()["symptoms"]]
    assert statuses == ["sent", "sent"]
    clock.advance(minutes=9)  # 09:10
    acknowledge_alert(ctx, clinician, _alert(ctx.engine, ana.id).id, ip=None)
    page = text_of(phone.get("/history").text)
    assert "Seen by your care team (Mon, Mar 2 at 9:10 AM)." in page and "Sent to your care team." in page
    clock.advance(minutes=20)  # 09:30
    change_plan(ctx, ana.id, staff_id=clinician.id, operation="hold", reason="R-NV-3", dexamethasone_on_hold="continue")
    page = text_of(phone.get("/history").text)
    assert "Your care team acted on it (Mon, Mar 2 at 9:30 AM)." in page
    assert [s["report_status"]["state"] for s in phone.api("GET", "/api/history").json()["symptoms"]] == [
        "acted",
        "sent",
    ]


@pytest.mark.parametrize(
    "body, kind",
    [
        ("UNDERSTOOD", "plan_change"),
        ("entendido.", "plan_change"),
        ("Got it", "plan_change"),
        ("ok", "confirm"),
        ("Sí", "confirm"),
        ("1", "unknown"),
    ],
)
def test_a_plan_change_is_confirmed_by_a_word_in_either_language_never_a_digit(body, kind):
    from server.services.sms_inbound import parse_command

    assert parse_command(body).kind == kind
