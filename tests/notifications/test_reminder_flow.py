"""Reminders end to end: planner -> outbox -> dispatcher -> the real twilio SDK over HTTP -> the fake provider.

Time is driven by the frozen clock: `run_until` jumps to each due instant and runs the planner and the
dispatcher, as the worker's scheduler would.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from notifications.dispatcher import dispatch_once
from notifications.planner import run_planner
from server.errors import FieldError
from server.models import OutboundMessage, Staff
from server.services.plans import change_plan
from tests.support.notifications import clinician_id, reminder_id, reminders_of, run_until, utc

NY = ZoneInfo("America/New_York")
PHONE = "+15551230001"
DRUG_WORDS = ("selinexor", "xpovio", "dexamethasone", "ondansetron", "bortezomib", "myeloma", "lymphoma")


def sent_kinds(ctx, messages: list[dict]) -> list[tuple[str, datetime]]:
    with Session(ctx.engine) as session:
        kinds = {r.id: r.kind for r in session.exec(select(OutboundMessage)).all()}
    return [(kinds[reminder_id(m)], m["accepted_at"].astimezone(NY)) for m in messages]


def staff_id(ctx) -> int:
    with Session(ctx.engine) as session:
        return session.exec(select(Staff.id)).first()


def test_monday_wednesday_patient_gets_antiemetic_and_dose_at_local_times_across_dst(
    ctx, channels, make_patient, sms_provider, clock
):
    clock.set(utc(2026, 3, 1, 17))  # Sunday noon in New York; clocks spring forward on 2026-03-08
    make_patient(phone=PHONE)

    run_until(ctx, channels, clock, utc(2026, 3, 19, 4))

    sent = sent_kinds(ctx, sms_provider.messages_to(PHONE))
    dose_days = [date(2026, 3, d) for d in (2, 4, 9, 11, 16, 18)]
    for kind, wall in (("antiemetic", (7, 30)), ("dose", (8, 0))):
        times = [local for k, local in sent if k == kind]
        assert [t.date() for t in times] == dose_days, kind
        assert {(t.hour, t.minute) for t in times} == {wall}, kind  # 07:30 / 08:00 local before and after DST
    # Before the change 08:00 is 13:00 UTC, after it 12:00 UTC: the wall time is what stays put.
    doses = [local for k, local in sent if k == "dose"]
    assert doses[0].astimezone(UTC).hour == 13 and doses[-1].astimezone(UTC).hour == 12
    # Exactly once: no outbox row reached the provider twice.
    assert max(Counter(reminder_id(m) for m in sms_provider.messages_to(PHONE)).values()) == 1
    bodies = " ".join(m["body"] for m in sms_provider.messages_to(PHONE)).lower()
    assert not any(word in bodies for word in DRUG_WORDS)  # the patient did not opt in to drug names
    assert "80 mg (4 tablets)" in bodies and "take it now" not in bodies


def test_dose_reminder_names_the_drugs_only_for_a_patient_who_opted_in(
    ctx, channels, make_patient, sms_provider, clock
):
    clock.set(utc(2026, 3, 2, 11))
    make_patient(phone=PHONE, drug_names_in_messages=True)
    run_until(ctx, channels, clock, utc(2026, 3, 2, 13, 1))
    bodies = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any("selinexor 80 mg (4 x 20 mg tablets)" in b and "dexamethasone 20 mg" in b for b in bodies)
    assert any("ondansetron 8 mg" in b for b in bodies)


def test_spanish_patient_gets_spanish_reminders(ctx, channels, make_patient, sms_provider, clock):
    clock.set(utc(2026, 3, 2, 11))
    make_patient(phone=PHONE, language="es")
    run_until(ctx, channels, clock, utc(2026, 3, 2, 13, 1))
    bodies = " ".join(m["body"] for m in sms_provider.messages_to(PHONE))
    assert "Es la hora de su dosis de las 8:00 a.m.: 80 mg (4 comprimidos)" in bodies
    assert "medicamento contra las náuseas" in bodies and "Responda T" in bodies


def test_reduction_to_once_weekly_cancels_the_wednesday_reminders(ctx, channels, make_patient, sms_provider, clock):
    clock.set(utc(2026, 3, 2, 10))  # Monday 05:00 in New York
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    assert {r.payload for r in reminders_of(ctx.engine, pid, kind="dose") if '"2026-03-04"' in r.payload}

    change_plan(ctx, pid, staff_id=clinician_id(ctx), operation="reduce", reason="grade 2 fatigue, staff decision")

    wednesday = [r for r in reminders_of(ctx.engine, pid) if r.payload and '"day": "2026-03-04"' in r.payload]
    assert wednesday and {r.status for r in wednesday} == {"cancelled"}
    assert all(r.cancel_reason.startswith("plan: not in plan v2") for r in wednesday)
    run_until(ctx, channels, clock, utc(2026, 3, 12, 4))
    sent = sent_kinds(ctx, sms_provider.messages_to(PHONE))
    dose_days = [local.date() for kind, local in sent if kind == "dose"]
    assert dose_days == [date(2026, 3, 2), date(2026, 3, 9)]  # Mondays only
    # the dose reminders ("Time for your ..."; the nudge now names the next dose, "Your next dose: ...")
    monday = [m["body"] for m in sms_provider.messages_to(PHONE) if "Time for your" in m["body"]]
    assert monday and all("100 mg (5 tablets)" in body for body in monday)


def test_hold_cancels_every_dose_reminder_and_resume_brings_them_back(ctx, channels, make_patient, clock):
    clock.set(utc(2026, 3, 2, 10))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)

    change_plan(
        ctx,
        pid,
        staff_id=clinician_id(ctx),
        operation="hold",
        reason="weight down 11%",
        hold_rule="R-WT-10",
        dexamethasone_on_hold="hold",
    )

    rows = reminders_of(ctx.engine, pid)
    dose_rows = [r for r in rows if r.kind in ("antiemetic", "dose", "nudge", "dexamethasone")]
    assert dose_rows and {r.status for r in dose_rows} == {"cancelled"}
    assert {r.cancel_reason for r in dose_rows} == {"plan: selinexor on hold (plan v2)"}
    # Monitoring goes on while selinexor is held (clinical-reference P-MONITOR).
    assert {r.status for r in rows if r.kind == "weight"} == {"pending"}
    # A dose-day blood test was due 2 h before the dose (P-MONITOR, reference v2); held, it is back at 09:00:
    # every blood-test day keeps a pending reminder.
    tests = [r for r in rows if r.kind == "blood_test"]
    pending_days = {json.loads(r.payload)["day"] for r in tests if r.status == "pending"}
    assert pending_days and {json.loads(r.payload)["day"] for r in tests} == pending_days
    assert all(r.scheduled_for.astimezone(NY).hour == 9 for r in tests if r.status == "pending")

    clock.set(utc(2026, 3, 3, 15))
    change_plan(ctx, pid, staff_id=clinician_id(ctx), operation="resume", level=0, reason="weight recovered")
    wednesday = [r for r in reminders_of(ctx.engine, pid, kind="dose") if '"2026-03-04"' in r.payload]
    monday = [r for r in reminders_of(ctx.engine, pid, kind="dose") if '"2026-03-02"' in r.payload]
    assert [r.status for r in wednesday] == ["pending"]  # revived for the future
    assert [r.status for r in monday] == ["cancelled"]  # a past reminder is not revived to arrive late


def test_a_hold_that_keeps_dexamethasone_keeps_its_reminders(ctx, channels, make_patient, clock, sms_provider):
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs": reminders follow it)
    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    with pytest.raises(FieldError) as err:
        change_plan(ctx, pid, staff_id=staff_id(ctx), operation="hold", reason="weight down 11%")
    assert err.value.field == "dexamethasone_on_hold"
    change_plan(
        ctx,
        pid,
        staff_id=staff_id(ctx),
        operation="hold",
        reason="weight down 11%",
        hold_rule="R-WT-10",
        dexamethasone_on_hold="continue",
    )

    rows = reminders_of(ctx.engine, pid)
    assert {r.status for r in rows if r.kind in ("antiemetic", "dose", "nudge")} == {"cancelled"}
    dexa = [r for r in rows if r.kind == "dexamethasone" and r.status == "pending"]
    # on its own now that no dose reminder carries it: Wednesday 4 and Monday 9 March ... at the dose time
    assert [json.loads(r.payload)["day"] for r in dexa][:2] == ["2026-03-04", "2026-03-09"]
    assert all(json.loads(r.payload)["dexamethasone_mg"] == 20 for r in dexa)
    run_until(ctx, channels, clock, utc(2026, 3, 4, 14))
    bodies = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any("(20 mg)" in b or "dexamethasone 20 mg" in b for b in bodies)
    assert not any("swallowed whole" in b for b in bodies)  # no selinexor dose reminder while held


def test_nudge_goes_out_three_hours_after_an_unlogged_dose_and_not_after_a_logged_one(
    ctx, channels, make_patient, sms_provider, clock
):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone=PHONE)
    run_until(ctx, channels, clock, utc(2026, 3, 3, 4))  # Monday: nothing logged
    from server.services.entries import record_dose

    clock.set(utc(2026, 3, 4, 13, 5))  # Wednesday 08:05: logged in the app
    record_dose(ctx, pid, key="app-dose-wednesday", status="taken", at=clock.now())
    run_until(ctx, channels, clock, utc(2026, 3, 5, 4))

    sent = sent_kinds(ctx, sms_provider.messages_to(PHONE))
    nudges = [local for kind, local in sent if kind == "nudge"]
    assert [(n.date(), n.hour) for n in nudges] == [(date(2026, 3, 2), 11)]
    [wednesday_nudge] = [r for r in reminders_of(ctx.engine, pid, kind="nudge") if '"2026-03-04"' in r.payload]
    assert wednesday_nudge.status == "cancelled" and "already logged" in wednesday_nudge.cancel_reason
    nudge_body = [m["body"] for m in sms_provider.messages_to(PHONE) if "not logged" in m["body"]][0]
    assert "do not make it up" in nudge_body and "take it now" not in nudge_body.lower()
    # clinical-reference P-MISSED ("missed or delayed"): skip it today and the next dose by name
    assert "If you have not taken it yet, skip it today" in nudge_body
    assert "Your next dose: Wednesday, March 4, 8:00 AM." in nudge_body


def test_quiet_hours_defer_a_weight_prompt_but_never_a_dose_reminder(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 1, 17))
    pid = make_patient(phone=PHONE, dose_time=datetime(2026, 1, 1, 22, 0).time())  # 22:00 dose, quiet from 21:00
    run_planner(ctx)
    monday = [r for r in reminders_of(ctx.engine, pid) if r.payload and '"day": "2026-03-02"' in r.payload]
    by_kind = {r.kind: r for r in monday}
    assert by_kind["dose"].send_at.astimezone(NY).hour == 22  # the patient's own dose time
    assert by_kind["antiemetic"].send_at.astimezone(NY).strftime("%H:%M") == "21:30"
    assert "weight" not in by_kind  # deferred to 07:00 next day, after its day ended: not planned
    assert "nudge" not in by_kind  # 01:00 is in quiet hours and after the dose day ends (P-MISSED)


def test_a_late_antiemetic_reminder_expires_instead_of_arriving_after_the_dose(
    ctx, channels, make_patient, sms_provider, clock
):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    clock.set(utc(2026, 3, 2, 13, 0))  # the worker was down from 07:00 to 08:00 local
    report = dispatch_once(ctx, channels)
    [antiemetic] = [r for r in reminders_of(ctx.engine, pid, kind="antiemetic") if '"2026-03-02"' in r.payload]
    assert antiemetic.status == "expired"
    assert antiemetic.cancel_reason == "expired: not sent before the dose time it prepares for"
    assert report.expired_unclaimed == 1
    assert not any("anti-nausea" in m["body"] for m in sms_provider.messages_to(PHONE))


def test_a_dose_reminder_after_the_dose_day_ended_expires(ctx, channels, make_patient, sms_provider, clock):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    clock.set(utc(2026, 3, 3, 5, 30))  # 00:30 on Tuesday in New York
    dispatch_once(ctx, channels)
    monday = [r for r in reminders_of(ctx.engine, pid) if '"2026-03-02"' in (r.payload or "")]
    assert {r.kind: r.status for r in monday if r.kind in ("dose", "nudge")} == {"dose": "expired", "nudge": "expired"}
    assert sms_provider.messages_to(PHONE) == []


def test_no_sms_without_consent_and_the_reason_is_kept(ctx, channels, make_patient, sms_provider, clock):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone=PHONE, sms_consent=False)
    run_until(ctx, channels, clock, utc(2026, 3, 2, 13, 1))
    assert sms_provider.messages_to(PHONE) == []
    dose = [r for r in reminders_of(ctx.engine, pid, kind="dose") if '"2026-03-02"' in r.payload][0]
    assert dose.status == "cancelled" and dose.cancel_reason == "not sent: the patient has not consented to SMS"


def test_replanning_twice_changes_nothing(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 2, 11))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    first = [(r.id, r.dedupe_key, r.status, r.send_at, r.payload) for r in reminders_of(ctx.engine, pid)]
    run_planner(ctx)
    assert [(r.id, r.dedupe_key, r.status, r.send_at, r.payload) for r in reminders_of(ctx.engine, pid)] == first
    assert len({key for _, key, *_ in first}) == len(first)


def test_new_time_zone_moves_the_reminders(ctx, make_patient, clock):
    from server.db import session_scope
    from server.models import Patient

    clock.set(utc(2026, 3, 2, 10))
    pid = make_patient(phone=PHONE)
    run_planner(ctx)
    with session_scope(ctx.engine) as session:
        session.get(Patient, pid).timezone = "America/Los_Angeles"
    run_planner(ctx)
    wednesday = [r for r in reminders_of(ctx.engine, pid, kind="dose") if '"2026-03-04"' in r.payload]
    assert sorted((r.status, r.send_at.hour) for r in wednesday) == [("cancelled", 13), ("pending", 16)]


def test_page_rows_written_by_alerts_are_sent_like_any_outbox_row(ctx, channels, make_patient, sms_provider, clock):
    from server.services.entries import SymptomAnswers, record_symptoms

    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    record_symptoms(ctx, pid, key="fever-entry-1", at=clock.now(), answers=SymptomAnswers(temperature_c=38.6))
    dispatch_once(ctx, channels)
    [page] = sms_provider.messages_to("+15550009001")
    assert "urgent alert" in page["body"] and "Pat" not in page["body"]
    with Session(ctx.engine) as session:
        row = session.exec(select(OutboundMessage).where(OutboundMessage.kind == "page")).one()
    assert row.status == "sent" and row.provider_id == page["sid"]


def test_xvd_patient_gets_bortezomib_clinic_days_and_day_2_dexamethasone(ctx, make_patient, clock):
    clock.set(utc(2026, 3, 1, 17))
    pid = make_patient(phone=PHONE, regimen="XVd", day1=3)  # Thursdays; the plan starts on Monday 2 March
    run_planner(ctx)
    rows = reminders_of(ctx.engine, pid)
    clinic_days = [r.scheduled_for.astimezone(NY).date() for r in rows if r.kind == "bortezomib"]
    assert clinic_days == [date(2026, 3, 5), date(2026, 3, 12)]  # Day 1 of weeks 1-2 within the 14 days
    assert all(r.send_at.astimezone(NY).strftime("%H:%M") == "07:00" for r in rows if r.kind == "bortezomib")
    dexamethasone = [r.scheduled_for.astimezone(NY).date() for r in rows if r.kind == "dexamethasone"]
    assert dexamethasone == [date(2026, 3, 6), date(2026, 3, 13)]  # Day 2, the day after each Day 1
    doses = [json.loads(r.payload) for r in rows if r.kind == "dose"]
    assert [(d["dose_mg"], d["tablets"], d["dexamethasone_mg"]) for d in doses] == [(100, 5, 20), (100, 5, 20)]


def test_invite_rows_written_by_enrollment_are_sent_to_the_patient_unless_opted_out(
    ctx, channels, make_patient, sms_provider, clock
):
    from server.db import session_scope
    from server.models import Patient
    from server.services.invites import send_sign_in_link

    clock.set(utc(2026, 3, 2, 15))
    pid = make_patient(phone=PHONE)
    other = make_patient(phone="+15551230009")
    with session_scope(ctx.engine) as session:
        for patient_id in (pid, other):
            send_sign_in_link(
                session,
                session.get(Patient, patient_id),
                now=clock.now(),
                base_url=ctx.settings.public_base_url,
                staff_id=staff_id(ctx),
            )
        session.get(Patient, other).sms_opted_out = True  # texted STOP before the worker got to it
    dispatch_once(ctx, channels)
    [invite] = sms_provider.messages_to(PHONE)
    assert "/i/" in invite["body"] and invite["body"].startswith("Riverside Oncology")
    assert sms_provider.messages_to("+15551230009") == []
    [cancelled] = reminders_of(ctx.engine, other, kind="invite")
    assert cancelled.status == "cancelled" and "opted out" in cancelled.cancel_reason


def test_an_open_interrupt_alert_turns_the_dose_reminder_into_wait_for_your_team_until_staff_act(
    ctx, channels, make_patient, sms_provider, clock
):
    from server.services.entries import record_weight

    clock.set(utc(2026, 3, 1, 17))  # Sunday noon in New York
    patient = make_patient(phone=PHONE)
    run_until(ctx, channels, clock, utc(2026, 3, 2, 14))  # Monday's reminders go out as usual
    monday = [k for k, _ in sent_kinds(ctx, sms_provider.messages_to(PHONE))]
    assert "dose" in monday and "antiemetic" in monday
    # Monday afternoon: 12% below baseline -> R-WT-10 (interrupt, same day): "do not take your next dose until
    # your care team contacts you". Wednesday's dose reminders must not contradict that.
    record_weight(ctx, patient, key="weight-drop-01", at=clock.now(), value=61.6, unit="kg", confirmed=True)
    sms_provider.reset()
    run_until(ctx, channels, clock, utc(2026, 3, 5, 4))
    wednesday = sms_provider.messages_to(PHONE)
    assert "antiemetic" not in [k for k, _ in sent_kinds(ctx, wednesday)]
    with Session(ctx.engine) as session:
        held = session.exec(
            select(OutboundMessage).where(OutboundMessage.kind == "antiemetic", OutboundMessage.status == "cancelled")
        ).all()
    assert held and all("open care-team alert" in r.cancel_reason for r in held)
    # clinical-reference §3 (issue 11 item 1): the dose reminder itself says to wait, with the clinic's number; it
    # never offers the dose (no tablets, no "reply T").
    [dose] = [m["body"] for m in wednesday if "dose" in m["body"]]
    assert dose.startswith(
        "Riverside Oncology: Wait for your care team before your next dose. If nobody has "
        "called you, call +15555550100."
    )
    assert "tablets" not in dose and "Reply T" not in dose
    # Staff act (a new plan version): the reminders are the plan's again.
    change_plan(ctx, patient, staff_id=clinician_id(ctx), operation="reduce", reason="R-WT-10: one level lower")
    sms_provider.reset()
    run_until(ctx, channels, clock, utc(2026, 3, 10, 4))  # through next Monday
    monday = [m["body"] for m in sms_provider.messages_to(PHONE)]
    assert any("100 mg (5 tablets)" in body for body in monday) and not any("Wait for" in b for b in monday)


def test_moving_the_dose_time_on_a_dose_day_never_sends_that_day_a_second_dose_reminder(
    ctx, channels, make_patient, sms_provider, clock
):
    from datetime import time

    from server.services.plans import ScheduleChange

    clock.set(utc(2026, 3, 1, 17))
    patient = make_patient(phone=PHONE)
    run_until(ctx, channels, clock, utc(2026, 3, 2, 15))  # Monday 10:00: the 08:00 reminders went out
    change_plan(
        ctx,
        patient,
        staff_id=clinician_id(ctx),
        operation="change_schedule",
        reason="evening doses suit her",
        schedule=ScheduleChange(dose_time=time(20, 0)),
    )
    run_until(ctx, channels, clock, utc(2026, 3, 5, 4))  # through Wednesday
    sent = sent_kinds(ctx, sms_provider.messages_to(PHONE))
    monday = [(k, t.hour) for k, t in sent if k in ("dose", "antiemetic") and t.date() == date(2026, 3, 2)]
    wednesday = [(k, t.hour) for k, t in sent if k in ("dose", "antiemetic") and t.date() == date(2026, 3, 4)]
    assert sorted(monday) == [("antiemetic", 7), ("dose", 8)]  # no second dose reminder on Monday evening
    assert sorted(wednesday) == [("antiemetic", 19), ("dose", 20)]  # the new time from the next dose day on
