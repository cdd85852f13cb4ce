"""The start-of-therapy checklist service: ticks with who and when, un-ticks kept in the history, the baseline items
ticked from the data, the dose check refusing a tick, R-CHECKLIST from 24 h before the first dose (FrozenClock)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from server.errors import FieldError, Forbidden
from server.models import Alert, AuditLog, LabResult, StartChecklistItem, TreatmentPlan
from server.services.plans import change_plan
from server.services.pqi.checklist import (
    CHECKLIST_ITEMS,
    TickInput,
    checklist_completed_at,
    patient_checklist,
    tick_item,
    untick_item,
)
from server.services.sweep import sweep_patient_rules
from tests.support.patient import make_patient
from tests.support.staff import ADMIN, PHARMACIST, ctx_for, seed, staff_by_email

# The clock is Monday 2 Mar 2026 14:00 UTC. The patient starts on Wednesday 4 Mar (Days 1 & 3: Wed and Fri) at
# 08:00 New York: the first dose is Wed 4 Mar 13:00 UTC, 23 hours from now.
START = date(2026, 3, 4)
FIRST_DOSE = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
TICKS = {
    "dose_schedule": TickInput(indication="rrmm"),
    "dexamethasone_received": TickInput(detail="dexamethasone 20 mg"),
    "antiemetic_received": TickInput(detail="ondansetron 8 mg", note="olanzapine 5 mg: high risk"),
    "edu_sheet": TickInput(),
    "edu_starter_kit": TickInput(),
    "edu_schedule": TickInput(),
    "edu_swallow_whole": TickInput(),
    "edu_monitoring": TickInput(),
    "edu_fluids": TickInput(note="drinks little"),
    "edu_contraception": TickInput(detail="not_relevant"),
}


@pytest.fixture
def ctx(settings, engine, clock):
    seed(engine, settings, clock)
    return ctx_for(settings, engine, clock)


@pytest.fixture
def pharmacist(engine, ctx):
    return staff_by_email(engine, PHARMACIST)


def _patient(engine, settings, clock, **kw):
    values = {"mrn": "CHK-1", "start": START, "day1": 2, "phone": None} | kw
    return make_patient(engine, settings, clock.now(), **values)


def _checklist(engine, patient):
    with Session(engine) as session:
        from server.services.patient_state import current_plan

        return patient_checklist(session, patient, current_plan(session, patient.id))


def _labs(engine, patient, at, **values):
    with Session(engine) as session:
        session.add(
            LabResult(
                patient_id=patient.id,
                idempotency_key=uuid.uuid4().hex,
                collected_at=at,
                recorded_at=at + timedelta(hours=1),
                **values,
            )
        )
        session.commit()


def _item(checklist, key):
    return next(i for i in checklist.items if i.spec.key == key)


def test_a_new_patient_has_only_the_baseline_weight_ticked(engine, settings, clock, ctx):
    patient = _patient(engine, settings, clock)
    checklist = _checklist(engine, patient)
    assert checklist.total == len(CHECKLIST_ITEMS) == 13  # Xd: the dexamethasone item applies
    assert checklist.done_count == 1 and checklist.summary == "Checklist 1/13"
    weight = _item(checklist, "baseline_weight")
    assert weight.done and "70.0 kg at enrollment" in weight.evidence
    assert checklist.first_dose_at == FIRST_DOSE and checklist.dose_problems == []


def test_dlbcl_has_no_dexamethasone_item(engine, settings, clock, ctx):
    checklist = _checklist(engine, _patient(engine, settings, clock, regimen="DLBCL"))
    assert "dexamethasone_received" not in {i.spec.key for i in checklist.items}
    assert checklist.total == 12
    assert _item(checklist, "edu_schedule").label == "Dosing schedule explained, with anti-nausea medicine"


def test_ticks_record_who_and_when_and_untick_keeps_the_history(engine, settings, clock, ctx, pharmacist):
    patient = _patient(engine, settings, clock)
    tick_item(ctx, pharmacist, patient.id, "antiemetic_received", TICKS["antiemetic_received"], ip="10.0.0.1")
    item = _item(_checklist(engine, patient), "antiemetic_received")
    assert item.done_at == clock.now() and item.done_by == "Paul Pharmacist"
    assert item.detail == "ondansetron 8 mg" and item.note == "olanzapine 5 mg: high risk"
    clock.advance(minutes=5)
    untick_item(ctx, pharmacist, patient.id, "antiemetic_received", ip=None)
    assert not _item(_checklist(engine, patient), "antiemetic_received").done
    clock.advance(minutes=5)
    tick_item(ctx, pharmacist, patient.id, "antiemetic_received", TickInput(detail="granisetron"), ip=None)
    with Session(engine) as session:
        rows = session.exec(select(StartChecklistItem).order_by(StartChecklistItem.id)).all()
        actions = session.exec(
            select(AuditLog.action).where(AuditLog.patient_id == patient.id, AuditLog.action.like("checklist.%"))
        ).all()
    assert [(r.detail, r.undone_at is not None, r.undone_by_staff_id) for r in rows] == [
        ("ondansetron 8 mg", True, pharmacist.id),
        ("granisetron", False, None),
    ]
    assert actions == ["checklist.tick", "checklist.untick", "checklist.tick"]


def test_bad_input_is_refused_in_words_and_nothing_is_stored(engine, settings, clock, ctx, pharmacist):
    patient = _patient(engine, settings, clock)
    with pytest.raises(FieldError, match="Name the 5-HT3 antagonist"):
        tick_item(ctx, pharmacist, patient.id, "antiemetic_received", TickInput(), ip=None)
    with pytest.raises(FieldError, match="Choose whether contraception"):
        tick_item(ctx, pharmacist, patient.id, "edu_contraception", TickInput(detail="maybe"), ip=None)
    with pytest.raises(FieldError, match="no such checklist item"):
        tick_item(ctx, pharmacist, patient.id, "nothing", TickInput(), ip=None)
    with pytest.raises(FieldError, match="is not ticked"):
        untick_item(ctx, pharmacist, patient.id, "edu_sheet", ip=None)
    with pytest.raises(FieldError, match="ticked from the patient's data"):
        untick_item(ctx, pharmacist, patient.id, "baseline_weight", ip=None)
    with pytest.raises(Forbidden):
        tick_item(ctx, staff_by_email(engine, ADMIN), patient.id, "edu_sheet", TickInput(), ip=None)
    with Session(engine) as session:
        assert session.exec(select(StartChecklistItem)).all() == []


def test_the_dose_check_refuses_the_tick_while_the_start_level_is_wrong(engine, settings, clock, ctx, pharmacist):
    patient = _patient(engine, settings, clock, level=1)
    checklist = _checklist(engine, patient)
    assert checklist.dose_problems == [
        "Start level is 1 (100 mg once weekly); the Xd label starts at level 0: 80 mg Days 1 & 3."
    ]
    with pytest.raises(FieldError) as refused:
        tick_item(ctx, pharmacist, patient.id, "dose_schedule", TickInput(indication="rrmm"), ip=None)
    assert refused.value.field == "dose_schedule"
    assert "Start level is 1 (100 mg once weekly)" in refused.value.message
    with pytest.raises(FieldError, match="the DLBCL row"):
        tick_item(
            ctx,
            pharmacist,
            _patient(engine, settings, clock, mrn="CHK-2", regimen="DLBCL").id,
            "dose_schedule",
            TickInput(indication="rrmm"),
            ip=None,
        )
    with Session(engine) as session:
        assert session.exec(select(StartChecklistItem)).all() == []


def test_baseline_blood_items_tick_themselves_from_labs_in_the_window(engine, settings, clock, ctx):
    patient = _patient(engine, settings, clock)
    _labs(engine, patient, datetime(2026, 2, 1, 15, tzinfo=UTC), sodium_mmol_l=140.0)  # long before: not baseline
    _labs(engine, patient, datetime(2026, 3, 1, 15, tzinfo=UTC), platelets_10e9_l=210.0, anc_10e9_l=3.1)
    checklist = _checklist(engine, patient)
    assert not _item(checklist, "baseline_cbc").done  # no hemoglobin yet
    assert not _item(checklist, "baseline_cmp").done
    _labs(engine, patient, datetime(2026, 3, 2, 13, tzinfo=UTC), hemoglobin_g_dl=11.2, sodium_mmol_l=138.0)
    checklist = _checklist(engine, patient)
    cbc, cmp = _item(checklist, "baseline_cbc"), _item(checklist, "baseline_cmp")
    assert cbc.done_at == datetime(2026, 3, 2, 14, tzinfo=UTC) and cbc.done_by == "lab results"
    assert cbc.evidence == "CBC collected Mon 02 Mar 2026, Sun 01 Mar 2026"
    assert cmp.evidence == "sodium (CMP) collected Mon 02 Mar 2026"


def test_checklist_completed_at_is_when_the_last_item_was_ticked(engine, settings, clock, ctx, pharmacist):
    patient = _patient(engine, settings, clock)
    other = _patient(engine, settings, clock, mrn="CHK-9")
    _labs(
        engine,
        patient,
        clock.now() - timedelta(hours=3),
        platelets_10e9_l=200.0,
        anc_10e9_l=2.0,
        hemoglobin_g_dl=12.0,
        sodium_mmol_l=139.0,
    )
    for key, given in TICKS.items():
        clock.advance(minutes=1)
        tick_item(ctx, pharmacist, patient.id, key, given, ip=None)
    with Session(engine) as session:
        done = checklist_completed_at(session, [patient.id, other.id])
    assert done == {patient.id: clock.now(), other.id: None}
    assert _checklist(engine, patient).summary == "Complete"
    clock.advance(minutes=1)
    untick_item(ctx, pharmacist, patient.id, "edu_fluids", ip=None)
    with Session(engine) as session:
        assert checklist_completed_at(session, [patient.id]) == {patient.id: None}


def _checklist_alerts(engine, patient):
    with Session(engine) as session:
        return session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.family == "checklist")).all()


def test_r_checklist_opens_24_hours_before_the_first_dose_and_not_before(engine, settings, clock, ctx):
    patient = _patient(engine, settings, clock)
    clock.set(FIRST_DOSE - timedelta(hours=24, minutes=1))
    sweep_patient_rules(ctx, clock.now())
    assert _checklist_alerts(engine, patient) == []
    clock.set(FIRST_DOSE - timedelta(hours=24))
    sweep_patient_rules(ctx, clock.now())
    [alert] = _checklist_alerts(engine, patient)
    assert alert.rule == "R-CHECKLIST" and alert.tier == "routine"
    assert alert.facts.startswith("Start-of-therapy checklist incomplete: 12 items left (Dose and schedule confirmed")
    assert alert.facts.endswith("first dose Wed 04 Mar 08:00")
    clock.advance(minutes=10)
    sweep_patient_rules(ctx, clock.now())
    assert len(_checklist_alerts(engine, patient)) == 1  # one open alert per family


def test_r_checklist_does_not_open_for_a_complete_checklist(engine, settings, clock, ctx, pharmacist):
    patient = _patient(engine, settings, clock)
    _labs(
        engine,
        patient,
        clock.now() - timedelta(hours=3),
        platelets_10e9_l=200.0,
        anc_10e9_l=2.0,
        hemoglobin_g_dl=12.0,
        sodium_mmol_l=139.0,
    )
    for key, given in TICKS.items():
        tick_item(ctx, pharmacist, patient.id, key, given, ip=None)
    clock.set(FIRST_DOSE - timedelta(hours=2))
    sweep_patient_rules(ctx, clock.now())
    assert _checklist_alerts(engine, patient) == []


def test_a_patient_who_started_long_ago_gets_no_checklist_alert(engine, settings, clock, ctx):
    patient = _patient(engine, settings, clock, start=None, day1=None)  # started 14 days ago
    sweep_patient_rules(ctx, clock.now())
    assert _checklist_alerts(engine, patient) == []


def test_the_dose_check_is_about_the_start_so_a_later_reduction_still_lets_the_item_be_ticked(
    engine, settings, clock, ctx, pharmacist
):
    patient = _patient(engine, settings, clock)  # Xd level 0: the table's start
    change_plan(ctx, patient.id, staff_id=pharmacist.id, operation="reduce", reason="nausea: one level lower")
    checklist = _checklist(engine, patient)
    assert checklist.dose_problems == [] and checklist.checked_version == 1
    assert checklist.current_plan_words == "version 2: Xd level 1 (100 mg once weekly), active"
    tick_item(ctx, pharmacist, patient.id, "dose_schedule", TickInput(indication="rrmm"), ip=None)
    assert _item(_checklist(engine, patient), "dose_schedule").detail == "rrmm"


def test_a_prescriber_confirmed_lower_start_may_be_ticked_with_a_note_and_the_mismatch_stays_on_record(
    engine, settings, clock, ctx, pharmacist
):
    patient = _patient(engine, settings, clock, level=1)  # Xd level 1: a lower start, on purpose
    mismatch = "Start level is 1 (100 mg once weekly); the Xd label starts at level 0: 80 mg Days 1 & 3."
    assert _checklist(engine, patient).start_level_only
    with pytest.raises(FieldError, match="Prescriber confirmed this start level"):
        tick_item(ctx, pharmacist, patient.id, "dose_schedule", TickInput(indication="rrmm"), ip=None)
    with pytest.raises(FieldError) as no_note:
        tick_item(
            ctx,
            pharmacist,
            patient.id,
            "dose_schedule",
            TickInput(indication="rrmm", prescriber_confirmed=True),
            ip=None,
        )
    assert no_note.value.field == "note"
    confirmed = TickInput(indication="rrmm", prescriber_confirmed=True, note="Dr Lee, 2 Mar, frail patient")
    tick_item(ctx, pharmacist, patient.id, "dose_schedule", confirmed, ip=None)
    checklist = _checklist(engine, patient)
    item = _item(checklist, "dose_schedule")
    assert item.done and item.detail == "rrmm"
    assert item.note == f"Prescriber confirmed the start level: {mismatch} Dr Lee, 2 Mar, frail patient"
    assert checklist.dose_problems == [mismatch]  # still shown


def test_other_mismatches_refuse_the_tick_even_when_the_prescriber_confirmed(engine, settings, clock, ctx, pharmacist):
    confirmed = TickInput(indication="rrmm", prescriber_confirmed=True, note="Dr Lee confirmed")
    uneven = _patient(engine, settings, clock, level=1, mrn="CHK-9")
    with Session(engine) as session:
        plan = session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == uneven.id)).one()
        plan.day3_weekday = (plan.day1_weekday + 3) % 7  # not two days apart
        session.add(plan)
        session.commit()
    assert not _checklist(engine, uneven).start_level_only
    with pytest.raises(FieldError, match="is not two days after Day 1"):
        tick_item(ctx, pharmacist, uneven.id, "dose_schedule", confirmed, ip=None)
    dlbcl = _patient(engine, settings, clock, level=1, mrn="CHK-10", regimen="DLBCL")
    with pytest.raises(FieldError, match="the DLBCL row"):
        tick_item(ctx, pharmacist, dlbcl.id, "dose_schedule", confirmed, ip=None)
    with Session(engine) as session:
        assert session.exec(select(StartChecklistItem)).all() == []
