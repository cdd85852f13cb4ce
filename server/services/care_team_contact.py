"""When and how a patient can reach the care team right now: the timing facts the clinical advice needs.

clinical-reference section 3 "Say only what will happen": outside clinic hours or days a same-day finding is not
paged until the next business morning, so the advice must say that. This module computes those facts from the
settings (CLINIC_HOURS, CLINIC_DAYS, CLINIC_PHONE, CLINIC_AFTER_HOURS_PHONE, EMERGENCY_NUMBER) and the injected clock,
with the same ClinicHours the pager uses, and hands them to the pure core (server/clinical/advice.py).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ..clinical.advice import CareTeamContact
from ..models import Clinic, Patient
from ..settings import Settings
from .alerts_escalation import ClinicHours


def care_team_contact(settings: Settings, clinic: Clinic | None, now: datetime) -> CareTeamContact:
    """Whether the clinic is open at `now`, when it will call if not, and the numbers to give the patient."""
    hours = ClinicHours.from_settings(settings)
    zone = ZoneInfo(clinic.timezone if clinic else settings.default_timezone)
    phone = clinic.phone if clinic else settings.clinic_phone
    open_now = hours.is_open(now, zone)
    # clinical-reference: section 3 (same_day outside clinic hours: paged the next business morning)
    next_call = None if open_now else hours.next_opening(now, zone).astimezone(zone).date()
    return CareTeamContact(
        clinic_open_now=open_now,
        next_call_day=next_call,
        clinic_phone=phone,
        after_hours_phone=settings.clinic_after_hours_phone or phone,
        emergency_number=settings.emergency_number,
    )


def contact_for_patient(session: Session, settings: Settings, patient: Patient, now: datetime) -> CareTeamContact:
    """care_team_contact for the patient's clinic."""
    return care_team_contact(settings, session.get(Clinic, patient.clinic_id), now)
