"""The alert inbox: order (tier, then age), what each card says (clinical-reference §6), the actions
(acknowledge, assign, note, resolve, act on the label), R-RESUME, and the live stream."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlmodel import Session, select

from server.models import Alert, AlertEvent, AuditLog, OutboundMessage, TreatmentPlan
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from tests.support.staff import (
    NURSE,
    PHARMACIST,
    LiveServer,
    SseReader,
    http_sign_in,
    patient_by_mrn,
    post_form,
    seed,
    sign_in,
    staff_by_email,
    text_of,
)

MARIA, ROBERT, DOROTHY = "DEMO-001", "DEMO-002", "DEMO-003"


@pytest.fixture
def demo(engine, settings, clock):
    return seed(engine, settings, clock)


@pytest.fixture
def ctx(app, demo):
    return app.state.ctx  # the app's own context: its publish feeds the live inbox


@pytest.fixture
def nurse(client, demo):
    sign_in(client, NURSE)
    return client


def _alerts(engine, patient_id=None) -> list[Alert]:
    with Session(engine) as session:
        query = select(Alert).order_by(Alert.id)
        if patient_id is not None:
            query = query.where(Alert.patient_id == patient_id)
        return list(session.exec(query).all())


def _events(engine, alert_id) -> list[AlertEvent]:
    with Session(engine) as session:
        return list(
            session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)).all()
        )


def _weight_loss(ctx, engine, mrn, pct, clock, key):
    patient = patient_by_mrn(engine, mrn)
    kg = round(patient.baseline_weight_kg * (1 - pct / 100), 1)
    record_weight(ctx, patient.id, key=key, at=clock.now(), value=kg, unit="kg", confirmed=True)
    return patient


def _card_order(html: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'id="alert-(\d+)" data-alert-id', html)]


def test_open_alerts_are_grouped_by_patient_most_severe_then_newest(nurse, ctx, engine, clock):
    dorothy = patient_by_mrn(engine, DOROTHY)
    record_symptoms(ctx, dorothy.id, key="nausea-0001", at=clock.now(), answers=SymptomAnswers(nausea=2))  # routine
    clock.advance(minutes=5)
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0001")  # same day
    clock.advance(minutes=5)
    maria = patient_by_mrn(engine, MARIA)
    record_symptoms(ctx, maria.id, key="fever-0001", at=clock.now(), answers=SymptomAnswers(temperature_c=38.6))
    clock.advance(minutes=5)
    record_symptoms(
        ctx, robert.id, key="nausea-0002", at=clock.now(), answers=SymptomAnswers(nausea=1, vomiting_episodes=2)
    )
    by_patient = {(a.patient_id, a.family): a for a in _alerts(engine)}
    # Issue 12 item 1: patients by their most severe alert; a patient's alerts together (Robert's routine GI alert
    # under his same-day weight alert, before Dorothy's older routine one).
    expected = [
        by_patient[(maria.id, "fever")].id,
        by_patient[(robert.id, "weight")].id,
        by_patient[(robert.id, "gi")].id,
        by_patient[(dorothy.id, "gi")].id,
    ]
    assert [by_patient[(maria.id, "fever")].tier, by_patient[(robert.id, "weight")].tier] == ["urgent", "same_day"]
    page = nurse.get("/staff/inbox")
    assert page.status_code == 200
    assert _card_order(page.text) == expected
    counts = text_of(page.text)
    assert "1 urgent" in counts and "1 same day" in counts and "2 routine" in counts


def test_a_card_shows_the_facts_rule_label_action_resume_dose_next_dose_and_14_days(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0002")
    [alert] = _alerts(engine, robert.id)
    card = nurse.get(f"/staff/inbox/alerts/{alert.id}")
    assert card.status_code == 200
    words = text_of(card.text)
    assert "12.0% below the baseline of 82.0 kg" in words  # the facts
    assert "R-WT-10: weight 10% to less than 20% below baseline" in words  # the rule
    assert "Interrupt: hold selinexor until recovery, then resume one level lower" in words  # label action
    assert "level 2: 80 mg once weekly" in words  # the dose to resume at (Xd level 1 -> 2)
    assert "Tue 3 Mar 09:00 (America/Chicago)" in words  # the next scheduled dose
    assert words.count("Last 14 days") == 1 and "Weight %" in words and "-12.0" in words


def test_a_matching_entry_updates_the_open_alert_instead_of_opening_another(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0003")
    clock.advance(hours=1)
    _weight_loss(ctx, engine, ROBERT, 21, clock, "weight-0004")
    [alert] = _alerts(engine, robert.id)
    assert (alert.rule, alert.tier) == ("R-WT-20", "urgent")  # raised, one alert
    assert _card_order(nurse.get("/staff/inbox").text) == [alert.id]


def test_acknowledging_records_who_and_stops_the_paging(nurse, ctx, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    record_symptoms(ctx, maria.id, key="fever-0002", at=clock.now(), answers=SymptomAnswers(temperature_c=38.9))
    [alert] = _alerts(engine, maria.id)
    assert alert.next_page_at is not None
    with Session(engine) as session:
        [page] = session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id)).all()
    assert page.status == "pending" and page.to_address == "+15555550111"  # the on-call nurse, at once
    clock.advance(minutes=3)
    answer = post_form(nurse, f"/staff/alerts/{alert.id}/acknowledge", {"back": "/staff/inbox"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/staff/inbox#alert-{alert.id}"
    [alert] = _alerts(engine, maria.id)
    nurse_row = staff_by_email(engine, NURSE)
    assert (alert.status, alert.acknowledged_by_staff_id, alert.next_page_at) == ("acknowledged", nurse_row.id, None)
    assert alert.acknowledged_at == clock.now()
    with Session(engine) as session:
        page = session.get(OutboundMessage, page.id)
    assert page.status == "cancelled"  # not yet handed to the provider: no longer needed
    kinds = [e.kind for e in _events(engine, alert.id)]
    assert kinds == ["created", "paged", "acknowledged"]
    again = post_form(nurse, f"/staff/alerts/{alert.id}/acknowledge", {"back": "/staff/inbox"})
    assert again.status_code == 200 and [e.kind for e in _events(engine, alert.id)].count("acknowledged") == 1


def test_assign_note_and_resolve_are_recorded_on_the_alert(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0005")
    [alert] = _alerts(engine, robert.id)
    pharmacist = staff_by_email(engine, PHARMACIST)
    post_form(nurse, f"/staff/alerts/{alert.id}/assign", {"assignee_id": str(pharmacist.id)})
    post_form(nurse, f"/staff/alerts/{alert.id}/note", {"note": "Called: eating small meals, dizzy on standing"})
    missing = post_form(nurse, f"/staff/alerts/{alert.id}/resolve", {"outcome": ""})
    assert missing.status_code == 422 and "outcome: Say what was done" in text_of(missing.text)
    post_form(nurse, f"/staff/alerts/{alert.id}/resolve", {"outcome": "Dose held", "outcome_detail": "recheck Friday"})
    [alert] = _alerts(engine, robert.id)
    assert (alert.status, alert.outcome, alert.assigned_to_staff_id) == (
        "resolved",
        "Dose held: recheck Friday",
        pharmacist.id,
    )
    kinds = [e.kind for e in _events(engine, alert.id) if e.staff_id is not None]
    assert kinds == ["assigned", "note", "acknowledged", "resolved"]
    assert nurse.get(f"/staff/inbox/alerts/{alert.id}").status_code == 204
    assert _card_order(nurse.get("/staff/inbox").text) == []
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditLog).where(AuditLog.patient_id == robert.id)).all()]
    assert {"alert.assign", "alert.note", "alert.resolve"} <= set(actions)


def _plan_reminders(engine, patient_id, now):
    from server.db import session_scope
    from server.models import Patient
    from server.services.outbox.planning import replan_patient

    with session_scope(engine) as session:
        replan_patient(session, session.get(Patient, patient_id), now)


def test_holding_from_an_alert_versions_the_plan_cancels_reminders_and_arms_r_resume(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0006")
    _plan_reminders(engine, robert.id, clock.now())  # the worker's planner has run (the demo seeds no reminders)
    [alert] = _alerts(engine, robert.id)
    no_reason = post_form(
        nurse, f"/staff/alerts/{alert.id}/plan", {"operation": "hold", "reason": "", "back": "/staff/inbox"}
    )
    assert no_reason.status_code == 422 and "reason: Say why" in text_of(no_reason.text)
    no_choice = post_form(
        nurse,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "hold", "reason": "Weight down 12%", "back": "/staff/inbox"},
    )
    # clinical-reference §1: a hold never silently stops dexamethasone; the staff member says what happens to it
    assert no_choice.status_code == 422
    assert "Choose what happens to dexamethasone while selinexor is on hold" in text_of(no_choice.text)
    answer = post_form(
        nurse,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "hold", "reason": "Weight down 12%", "dexamethasone_on_hold": "hold", "back": "/staff/inbox"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    with Session(engine) as session:
        plans = session.exec(
            select(TreatmentPlan).where(TreatmentPlan.patient_id == robert.id).order_by(TreatmentPlan.version)
        ).all()
        doses = session.exec(
            select(OutboundMessage).where(OutboundMessage.patient_id == robert.id, OutboundMessage.kind == "dose")
        ).all()
    held = plans[-1]
    assert (held.version, held.status, held.hold_rule, held.reason) == (2, "held", "R-WT-10", "Weight down 12%")
    assert held.dexamethasone_on_hold == "hold"
    assert held.changed_by_staff_id == staff_by_email(engine, NURSE).id
    assert doses and all(r.status == "cancelled" for r in doses)  # the held doses will not be reminded
    [alert] = _alerts(engine, robert.id)
    assert alert.status == "acknowledged"
    assert [e.kind for e in _events(engine, alert.id)][-2:] == ["acknowledged", "action"]

    # The weight comes back above 90% of baseline: the inbox says the resume criterion is met.
    clock.advance(days=3)
    record_weight(ctx, robert.id, key="weight-0007", at=clock.now(), value=75.0, unit="kg", confirmed=True)
    # Three days later: a new shift, a new sign-in (staff sessions last 12 hours). A nurse may hold, not resume
    # (PLAN_CHANGE_ROLES, issue 12 item 4): the pharmacist resumes.
    sign_in(nurse, PHARMACIST)
    page = text_of(nurse.get("/staff/inbox").text)
    assert "Resume criteria met (1)" in page and "resume criteria of R-WT-10 met" in page
    assert "restart at level 2: 80 mg once weekly" in page
    resume = post_form(
        nurse,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "resume", "level": "2", "reason": "Weight recovered", "back": "/staff/inbox"},
        follow_redirects=False,
    )
    assert resume.status_code == 303
    with Session(engine) as session:
        latest = session.exec(
            select(TreatmentPlan).where(TreatmentPlan.patient_id == robert.id).order_by(TreatmentPlan.version.desc())
        ).first()
    assert (latest.version, latest.status, latest.dose_level, latest.hold_rule) == (3, "active", 2, None)
    assert "Resume criteria met (" not in text_of(nurse.get("/staff/inbox").text)


def test_reduce_resume_and_discontinue_follow_the_ladder(nurse, ctx, engine):
    sign_in(nurse, PHARMACIST)  # a role that may change levels (PLAN_CHANGE_ROLES)
    maria = patient_by_mrn(engine, MARIA)  # Xd level 0
    post_form(nurse, f"/staff/patients/{maria.id}/plan", {"operation": "reduce", "reason": "Platelets 60"})
    post_form(
        nurse,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "reason": "Nausea grade 3", "hold_rule": "R-NV-3", "dexamethasone_on_hold": "continue"},
    )
    post_form(nurse, f"/staff/patients/{maria.id}/plan", {"operation": "resume", "level": "2", "reason": "Better"})
    post_form(
        nurse,
        f"/staff/patients/{maria.id}/plan",
        {
            "operation": "change_schedule",
            "day1_weekday": "1",
            "dose_time": "07:15",
            "antiemetic_name": "granisetron",
            "reason": "Works Mondays",
        },
    )
    bad = post_form(nurse, f"/staff/patients/{maria.id}/plan", {"operation": "resume", "level": "9", "reason": "x"})
    assert bad.status_code == 422 and "level" in text_of(bad.text)
    post_form(nurse, f"/staff/patients/{maria.id}/plan", {"operation": "discontinue", "reason": "Progression"})
    with Session(engine) as session:
        plans = session.exec(
            select(TreatmentPlan).where(TreatmentPlan.patient_id == maria.id).order_by(TreatmentPlan.version)
        ).all()
    assert [(p.version, p.status, p.dose_level, p.hold_rule) for p in plans] == [
        (1, "active", 0, None),
        (2, "active", 1, None),
        (3, "held", 1, "R-NV-3"),
        (4, "active", 2, None),
        (5, "active", 2, None),
        (6, "discontinued", 2, None),
    ]
    assert (plans[4].day1_weekday, plans[4].day3_weekday, plans[4].dose_time.isoformat(), plans[4].antiemetic_name) == (
        1,
        3,
        "07:15:00",
        "granisetron",
    )
    page = text_of(nurse.get(f"/staff/patients/{maria.id}").text)
    assert "Works Mondays" in page and "Progression" in page


def test_another_clinics_alert_or_patient_is_not_found(nurse, ctx, engine, clock):
    from server.db import session_scope
    from server.models import Clinic, Patient

    with session_scope(engine) as session:
        other = Clinic(name="Other Clinic", phone="+12025550100", timezone="America/New_York", created_at=clock.now())
        session.add(other)
        session.flush()
        maria = patient_by_mrn(engine, MARIA)
        clone = Patient(**{**maria.model_dump(exclude={"id"}), "clinic_id": other.id, "mrn": "OTHER-1"})
        session.add(clone)
        session.flush()
        session.add(
            TreatmentPlan(
                patient_id=clone.id,
                version=1,
                regimen="Xd",
                dose_level=0,
                status="active",
                start_date=clock.now().date(),
                day1_weekday=0,
                day3_weekday=2,
                dose_time=maria.created_at.time().replace(microsecond=0),
                created_at=clock.now(),
            )
        )
        clone_id = clone.id
    record_symptoms(ctx, clone_id, key="fever-other", at=clock.now(), answers=SymptomAnswers(temperature_c=39.0))
    [alert] = _alerts(engine, clone_id)
    assert nurse.get(f"/staff/inbox/alerts/{alert.id}").status_code == 404
    assert post_form(nurse, f"/staff/alerts/{alert.id}/acknowledge").status_code == 404
    assert nurse.get(f"/staff/patients/{clone_id}").status_code == 404
    assert post_form(nurse, f"/staff/patients/{clone_id}/plan", {"operation": "hold", "reason": "x"}).status_code == 404
    assert alert.id not in _card_order(nurse.get("/staff/inbox").text)
    assert _alerts(engine, clone_id)[0].status == "open"


def test_views_of_patient_data_are_audited_with_the_address(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0008")
    nurse.get("/staff/inbox")
    nurse.get(f"/staff/patients/{robert.id}")
    nurse.get(f"/staff/patients/{robert.id}/timeline")
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.patient_id == robert.id)).all()
    assert {"inbox.view", "patient.view", "patient.timeline"} <= {r.action for r in rows}
    assert all(r.ip and r.staff_id for r in rows if r.action.endswith("view"))


def test_a_new_alert_reaches_the_open_inbox_stream_within_a_second(app, demo, ctx, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    with LiveServer(app) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        http_sign_in(http, NURSE)
        with SseReader(http) as stream:
            started = time.perf_counter()
            record_symptoms(
                ctx, maria.id, key="fever-live-1", at=clock.now(), answers=SymptomAnswers(temperature_c=38.7)
            )
            data, arrived = stream.next_event("alert", timeout=2)
            event = json.loads(data)
            [alert] = [a for a in _alerts(engine, maria.id) if a.family == "fever"]
            assert event == {"alert_id": alert.id, "patient_id": maria.id, "kind": "created", "tier": "urgent"}
            assert arrived - started < 1.0
            card = http.get(f"/staff/inbox/alerts/{alert.id}")
            assert card.status_code == 200 and "R-FEVER" in card.text
            # Staff actions are live too (another nurse's inbox updates when this one acknowledges).
            post = http.post(
                f"/staff/alerts/{alert.id}/acknowledge",
                data={"_csrf_token": http.cookies["csrftoken"], "back": "/staff/inbox"},
            )
            assert post.status_code in (200, 303)
            data, _ = stream.next_event("alert", timeout=2)
            assert json.loads(data)["kind"] == "acknowledged"


def test_the_stream_is_for_staff_only(client, demo):
    answer = client.get("/staff/inbox/stream", headers={"Accept": "text/event-stream"}, follow_redirects=False)
    assert answer.status_code == 401


def test_the_resync_index_lists_open_alerts_without_health_data(nurse, ctx, engine, clock):
    robert = _weight_loss(ctx, engine, ROBERT, 12, clock, "weight-0009")
    [alert] = _alerts(engine, robert.id)
    index = nurse.get("/staff/inbox/index").json()["alerts"]
    assert index == [
        {
            "id": alert.id,
            "tier": "same_day",
            "status": "open",
            "updated": alert.updated_at.isoformat(),
            "assignee": None,
        }
    ]
    card = nurse.get(f"/staff/inbox/alerts/{alert.id}").text
    assert f'data-updated="{alert.updated_at.isoformat()}"' in card  # what the page compares


def test_publishing_never_fails_the_caller(settings, engine):
    from server.live import LivePublisher, create_channels_plugin, publisher_for_process

    publisher = LivePublisher(create_channels_plugin(settings), engine, use_pg_notify=False)
    publisher("inbox", {"alert_id": 1})  # no app serving: nobody listens, nothing breaks
    publisher_for_process(settings, engine)("inbox", {"alert_id": 1})
