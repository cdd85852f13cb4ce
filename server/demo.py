"""An idempotent demo clinic for `make run`: staff logins and three patients with a few weeks of history.

Every row is keyed (staff email, patient MRN, entry idempotency key), so running the seed again changes nothing.
Dates are relative to the day the demo is first seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from .clinical.regimens import Plan
from .clinical.rules import evaluate
from .clinical.schedule import ScheduleSetup, dose_on_local_date
from .db import session_scope
from .models import Clinic, DoseEvent, Patient, Staff, SymptomReport, TreatmentPlan, WeightEntry
from .services.alerts import upsert_alert
from .services.patient_state import build_state
from .services.staff.accounts import create_staff
from .settings import Settings

DEMO_PASSWORD = "demo-password-2026"  # printed by `make run`; the demo is for a laptop, never for patients


@dataclass(frozen=True)
class DemoStaff:
    email: str
    name: str
    role: str
    phone: str
    on_call_order: int | None


DEMO_STAFF = (
    DemoStaff("nurse@demo.clinic", "Nora Nurse", "nurse", "+15555550111", 1),
    DemoStaff("pharmacist@demo.clinic", "Paul Pharmacist", "pharmacist", "+15555550112", 2),
    DemoStaff("admin@demo.clinic", "Ada Admin", "admin", "+15555550113", None),
)


@dataclass(frozen=True)
class DemoPatient:
    mrn: str
    first_name: str
    last_name: str
    dob: date
    phone: str
    language: str
    timezone: str
    regimen: str
    level: int
    day1: int
    dose_time: time
    baseline_kg: float
    weight_unit: str
    weekly_loss_kg: float  # how the weight drifts over the demo weeks


DEMO_PATIENTS = (
    DemoPatient(
        "DEMO-001",
        "Maria",
        "Lopez",
        date(1954, 4, 12),
        "+15555550201",
        "es",
        "America/New_York",
        "Xd",
        0,
        0,
        time(8, 0),
        68.0,
        "kg",
        0.2,
    ),
    DemoPatient(
        "DEMO-002",
        "Robert",
        "Chen",
        date(1948, 9, 3),
        "+15555550202",
        "en",
        "America/Chicago",
        "Xd",
        1,
        1,
        time(9, 0),
        82.0,
        "lb",
        2.3,
    ),  # the one losing weight (about 11% in four weeks)
    DemoPatient(
        "DEMO-003",
        "Dorothy",
        "Williams",
        date(1951, 1, 27),
        "+15555550203",
        "en",
        "America/Los_Angeles",
        "XVd",
        0,
        3,
        time(10, 0),
        61.0,
        "lb",
        0.1,
    ),
)

HISTORY_WEEKS = 4


class DemoRefused(RuntimeError):
    """The demo clinic (with its published passwords) is never created in production."""


def seed_demo(engine: Engine, settings: Settings, now: datetime) -> dict:
    """Create the demo clinic if it is missing; return the staff logins and patient ids."""
    if settings.environment == "production":
        # Its staff passwords are printed in the README: in production they would be open doors to health data.
        raise DemoRefused("companion demo is refused in production: it creates accounts whose passwords are public")
    with session_scope(engine) as session:
        clinic = session.exec(select(Clinic).where(Clinic.name == settings.clinic_name)).first()
        if clinic is None:
            clinic = Clinic(
                name=settings.clinic_name,
                phone=settings.clinic_phone,
                timezone=settings.default_timezone,
                created_at=now,
            )
            session.add(clinic)
            session.flush()
        clinic_id = clinic.id

    for s in DEMO_STAFF:
        with Session(engine) as session:
            exists = session.exec(select(Staff).where(Staff.email == s.email)).first()
        if not exists:
            create_staff(
                engine,
                clinic_id=clinic_id,
                email=s.email,
                name=s.name,
                role=s.role,
                password=DEMO_PASSWORD,
                now=now,
                phone_e164=s.phone,
                on_call_order=s.on_call_order,
            )

    patient_ids = [_seed_patient(engine, clinic_id, p, now) for p in DEMO_PATIENTS]
    return {"staff": [(s.email, DEMO_PASSWORD, s.role) for s in DEMO_STAFF], "patient_ids": patient_ids}


def _seed_patient(engine: Engine, clinic_id: int, p: DemoPatient, now: datetime) -> int:
    with session_scope(engine) as session:
        patient = session.exec(select(Patient).where(Patient.clinic_id == clinic_id, Patient.mrn == p.mrn)).first()
        if patient is not None:
            return patient.id
        zone = ZoneInfo(p.timezone)
        today = now.astimezone(zone).date()
        # Start on the patient's Day 1 weekday, HISTORY_WEEKS ago.
        start = today - timedelta(weeks=HISTORY_WEEKS)
        start -= timedelta(days=(start.weekday() - p.day1) % 7)
        patient = Patient(
            clinic_id=clinic_id,
            first_name=p.first_name,
            last_name=p.last_name,
            date_of_birth=p.dob,
            mrn=p.mrn,
            phone_e164=p.phone,
            language=p.language,
            timezone=p.timezone,
            baseline_weight_kg=p.baseline_kg,
            weight_unit=p.weight_unit,
            sms_consent=True,
            sms_consent_at=now - timedelta(weeks=HISTORY_WEEKS),
            created_at=now - timedelta(weeks=HISTORY_WEEKS),
        )
        session.add(patient)
        session.flush()
        plan = TreatmentPlan(
            patient_id=patient.id,
            version=1,
            regimen=p.regimen,
            dose_level=p.level,
            status="active",
            start_date=start,
            day1_weekday=p.day1,
            day3_weekday=(p.day1 + 2) % 7,
            dose_time=p.dose_time,
            antiemetic_name="ondansetron 8 mg",
            antiemetic_offset_min=30,
            dexamethasone_instruction="dexamethasone 20 mg with each selinexor dose"
            if p.regimen == "Xd"
            else "dexamethasone 20 mg on Days 1 and 2",
            reason="Enrollment (demo)",
            created_at=patient.created_at,
        )
        session.add(plan)
        _seed_history(session, patient, plan, start, today, p, now)
        session.flush()
        # Let the rules see the history, so the inbox opens with what a clinic would see (the weight loss).
        # The demo has no message history, so "nothing delivered for 7 days" would be noise here.
        for finding in evaluate(build_state(session, patient, now), now):
            if finding.rule != "R-NO-DELIVERY":
                upsert_alert(session, patient, finding, now)
        return patient.id


def _seed_history(
    session: Session, patient: Patient, plan: TreatmentPlan, start: date, today: date, p: DemoPatient, now: datetime
) -> None:
    zone = ZoneInfo(p.timezone)
    setup = ScheduleSetup(
        plan=Plan(regimen=plan.regimen, level=plan.dose_level),
        start_date=start,
        day1_weekday=plan.day1_weekday,
        day3_weekday=plan.day3_weekday,
        dose_time=plan.dose_time,
        timezone=p.timezone,
    )
    key = f"demo-{p.mrn}"
    day = start
    n = 0
    while day < today:
        dose = dose_on_local_date(setup, day)
        if dose is not None:
            n += 1
            status = "missed" if (p.mrn == "DEMO-003" and n == 3) else "taken"
            taken_at = dose.utc + timedelta(minutes=5)
            session.add(
                DoseEvent(
                    patient_id=patient.id,
                    idempotency_key=f"{key}-dose-{day.isoformat()}",
                    scheduled_for=day,
                    at=taken_at,
                    status=status,
                    antiemetic_taken=status == "taken",
                    source="app",
                    recorded_at=taken_at,
                )
            )
        weeks_in = (day - start).days / 7
        if (day - start).days % 3 == 0:
            kg = round(p.baseline_kg - p.weekly_loss_kg * weeks_in, 1)
            at = datetime.combine(day, time(7, 30), zone)
            session.add(
                WeightEntry(
                    patient_id=patient.id,
                    idempotency_key=f"{key}-weight-{day.isoformat()}",
                    at=at,
                    kg=kg,
                    entered_value=kg if p.weight_unit == "kg" else round(kg / 0.45359237, 1),
                    entered_unit=p.weight_unit,
                    recorded_at=at,
                )
            )
        if (day - start).days % 7 == 1:
            at = datetime.combine(day, time(18, 0), zone)
            session.add(
                SymptomReport(
                    patient_id=patient.id,
                    idempotency_key=f"{key}-symptoms-{day.isoformat()}",
                    at=at,
                    nausea=1 if weeks_in < 2 else 0,
                    vomiting_episodes=0,
                    loose_stools=1,
                    appetite=2 if p.weekly_loss_kg > 1 else 1,
                    fatigue=1,
                    temperature_c=36.8,
                    chills=False,
                    bleeding="none",
                    neuro="none",
                    vision_change=False,
                    recorded_at=at,
                )
            )
        day += timedelta(days=1)


# Demo patients whose sign-in links `companion demo` prints: the weight-loss story in English, and Spanish.
DEMO_SIGN_IN_MRNS = ("DEMO-002", "DEMO-001")


def demo_sign_in_links(engine: Engine, settings: Settings, now: datetime, base_url: str) -> list[tuple[str, str]]:
    """Fresh single-use sign-in links (72 h) for demo patients, as (who, url); every run makes new ones."""
    from .services.invites import create_sign_in_link

    links = []
    with session_scope(engine) as session:
        for mrn in DEMO_SIGN_IN_MRNS:
            patient = session.exec(select(Patient).where(Patient.mrn == mrn)).first()
            if patient is not None:
                who = f"{patient.first_name} {patient.last_name} ({patient.language})"
                links.append((who, create_sign_in_link(session, patient, now=now, base_url=base_url)))
    return links
