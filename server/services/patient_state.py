"""From database rows to the clinical core's plain data: the current plan, its schedule, the patient's state."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from ..clinical.regimens import Plan, PlanStatus
from ..clinical.rules import DoseEntry, LabEntry, PatientState, SymptomEntry, WeightEntry
from ..clinical.schedule import ScheduleSetup, next_dose
from ..errors import NotFound
from ..models import DoseEvent, LabResult, OutboundMessage, Patient, PlanChangeNotice, SymptomReport, TreatmentPlan
from ..models import WeightEntry as WeightRow
from .plan_notices import pending_notice

# How far back the rules need to look: symptoms for repeated diarrhea and fatigue spanning >7 days, doses for
# adherence; weights and labs use the latest value whatever its age, so they load a longer window.
SYMPTOM_HISTORY = timedelta(days=42)
DOSE_HISTORY = timedelta(days=21)
MEASURE_HISTORY = timedelta(days=365)


def get_patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    return patient


def current_plan(session: Session, patient_id: int) -> TreatmentPlan:
    """The highest plan version: plans are versions, never updated in place."""
    plan = session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version.desc())
    ).first()
    if plan is None:
        raise NotFound("This patient has no treatment plan.")
    return plan


def schedule_setup(patient: Patient, plan: TreatmentPlan) -> ScheduleSetup:
    """The clinical schedule for a plan version in the patient's own time zone."""
    return ScheduleSetup(
        plan=Plan(regimen=plan.regimen, level=plan.dose_level, status=PlanStatus(plan.status),
                  tablet_strength_mg=patient.tablet_strength_mg, dexamethasone_on_hold=plan.dexamethasone_on_hold),
        start_date=plan.start_date,
        day1_weekday=plan.day1_weekday,
        day3_weekday=plan.day3_weekday,
        dose_time=plan.dose_time,
        timezone=patient.timezone,
        antiemetic_offset_min=plan.antiemetic_offset_min,
    )


def _held_at(session: Session, patient_id: int, plan: TreatmentPlan) -> datetime | None:
    """When the current hold began: the first version of the unbroken run of held versions ending at `plan`."""
    if plan.status != PlanStatus.HELD.value:
        return None
    versions = session.exec(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version.desc())
    ).all()
    held_at = plan.created_at
    for version in versions:
        if version.status != PlanStatus.HELD.value:
            break
        held_at = version.created_at
    return held_at


def build_state(session: Session, patient: Patient, now: datetime) -> PatientState:
    """Everything the rules read about one patient, as of `now` (corrected entries count once, as corrected)."""
    plan = current_plan(session, patient.id)
    pid = patient.id
    symptoms = session.exec(
        select(SymptomReport).where(SymptomReport.patient_id == pid, SymptomReport.superseded_at.is_(None),
                                    SymptomReport.at >= now - SYMPTOM_HISTORY)
    ).all()
    weights = session.exec(
        select(WeightRow).where(WeightRow.patient_id == pid, WeightRow.superseded_at.is_(None),
                                WeightRow.at >= now - MEASURE_HISTORY)
    ).all()
    labs = session.exec(
        select(LabResult).where(LabResult.patient_id == pid, LabResult.superseded_at.is_(None),
                                LabResult.collected_at >= now - MEASURE_HISTORY)
    ).all()
    doses = session.exec(
        select(DoseEvent).where(DoseEvent.patient_id == pid, DoseEvent.superseded_at.is_(None),
                                DoseEvent.at >= now - DOSE_HISTORY)
    ).all()
    entries: list = [WeightEntry(at=w.at, kg=w.kg) for w in weights]
    entries += [
        SymptomEntry(at=s.at, nausea=s.nausea, vomiting_episodes=s.vomiting_episodes, loose_stools=s.loose_stools,
                     appetite=s.appetite, fatigue=s.fatigue, temperature_c=s.temperature_c, chills=s.chills,
                     bleeding=s.bleeding, neuro=s.neuro, vision_change=s.vision_change)
        for s in symptoms
    ]
    entries += [
        LabEntry(at=lab.collected_at, sodium_mmol_l=lab.sodium_mmol_l, platelets_10e9_l=lab.platelets_10e9_l,
                 anc_10e9_l=lab.anc_10e9_l, hemoglobin_g_dl=lab.hemoglobin_g_dl)
        for lab in labs
    ]
    entries += [DoseEntry(at=d.at, status=d.status, antiemetic_taken=d.antiemetic_taken, scheduled_for=d.scheduled_for)
                for d in doses]
    first_plan = session.exec(
        select(TreatmentPlan.created_at).where(TreatmentPlan.patient_id == pid).order_by(TreatmentPlan.version)
    ).first()
    return PatientState(
        setup=schedule_setup(patient, plan),
        baseline_weight_kg=patient.baseline_weight_kg,
        usual_stools_per_day=patient.usual_stools_per_day,
        entries=tuple(entries),
        hold_rule=plan.hold_rule if plan.status == PlanStatus.HELD.value else None,
        last_delivered_at=last_delivered_at(session, pid),
        sms_opted_out=patient.sms_opted_out,
        enrolled_at=first_plan or patient.created_at,
        held_at=_held_at(session, pid, plan),
        plan_since=plan.created_at,
        **_plan_unseen_inputs(session, patient, now),
    )


def _plan_unseen_inputs(session: Session, patient: Patient, now: datetime) -> dict[str, datetime | None]:
    """R-PLAN-UNSEEN's inputs: when the pending plan-change notice was made, and the next dose it affects."""
    notice = pending_notice(session, patient.id)
    if notice is None:
        return {}
    return {"unacknowledged_plan_change_at": notice.created_at,
            "next_affected_dose_at": next_affected_dose(session, patient, notice, now)}


def next_affected_dose(session: Session, patient: Patient, notice: PlanChangeNotice,
                       now: datetime) -> datetime | None:
    """The next dose a change affects: the earlier of the next dose under the old plan and under the new one.

    A hold or a stop affects the dose the patient would otherwise have taken; a new pattern, the first dose of it.
    """
    candidates = []
    for plan_id in (notice.previous_plan_id, notice.plan_id):
        plan = session.get(TreatmentPlan, plan_id)
        if plan is not None and (dose := next_dose(schedule_setup(patient, plan), now)) is not None:
            candidates.append(dose.utc)
    return min(candidates) if candidates else None


def last_delivered_at(session: Session, patient_id: int) -> datetime | None:
    """When a message last reached the patient (a delivered SMS, or an accepted push)."""
    return session.exec(
        select(sa.func.max(OutboundMessage.delivery_updated_at)).where(
            OutboundMessage.patient_id == patient_id,
            sa.or_(OutboundMessage.delivery_status == "delivered",
                   sa.and_(OutboundMessage.channel == "push", OutboundMessage.status == "sent")),
        )
    ).first()
