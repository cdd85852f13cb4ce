"""A patient's plan versions over time: which version was in effect on a day, and the dose it scheduled then.
The care team's tables (recent days, roster adherence, visit summary) judge each past day by its own plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ...clinical.schedule import ScheduledEvent, dose_on_local_date, resolve_local
from ...models import Patient, TreatmentPlan
from ..patient_state import schedule_setup


def plan_versions(session: Session, patient_id: int) -> list[TreatmentPlan]:
    """Every plan version of the patient, oldest first."""
    return list(
        session.exec(
            select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version)
        ).all()
    )


def version_in_effect(versions: list[TreatmentPlan], instant: datetime) -> TreatmentPlan:
    """The plan version in effect at `instant` (the first version for instants before enrollment)."""
    chosen = versions[0]
    for version in versions:
        if version.created_at <= instant:
            chosen = version
        else:
            break
    return chosen


def day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """A local day as [start, end) UTC instants (23 or 25 hours long on clock-change days)."""
    zone = ZoneInfo(zone_name)
    start = resolve_local(day, time(0, 0), zone).astimezone(UTC)
    end = resolve_local(day + timedelta(days=1), time(0, 0), zone).astimezone(UTC)
    return start, end


def day_start(day: date, zone_name: str) -> datetime:
    """Local midnight of `day`, as a UTC instant."""
    return day_bounds(day, zone_name)[0]


def scheduled_dose_on(
    patient: Patient, versions: list[TreatmentPlan], day: date
) -> tuple[ScheduledEvent | None, TreatmentPlan]:
    """The dose scheduled on a local day under the plan version in effect then (None: none, held or stopped)."""
    start, end = day_bounds(day, patient.timezone)
    version = version_in_effect(versions, start + (end - start) / 2)
    try:
        dose = dose_on_local_date(schedule_setup(patient, version), day)
    except Exception:  # a version the clinical core now refuses must not break the page
        return None, version
    if dose is not None:
        at_dose = version_in_effect(versions, dose.utc)
        if at_dose is not version:
            dose = dose_on_local_date(schedule_setup(patient, at_dose), day)
            version = at_dose
    return dose, version
