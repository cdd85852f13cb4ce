"""Enrolling a patient: validate every field (messages name the field), create the patient and plan version 1,
plan their reminders and create the invite, all in one transaction; then the staff page shows the link and QR.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from sqlmodel import select

from ..clinical.errors import ClinicalValidationError
from ..clinical.grading import lb_to_kg
from ..clinical.regimens import REGIMENS, TABLET_STRENGTH_MG_DEFAULT, TABLET_STRENGTHS_MG, Plan, PlanStatus
from ..clinical.schedule import WEEKDAYS, ScheduleSetup
from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError, NotFound
from ..models import Patient, Staff, TreatmentPlan
from .audit import audit

from ..i18n import LANGUAGES  # the languages the patient app and the messages speak

CHANNELS = {"sms": "SMS text messages", "push": "App notifications (Web Push)"}
WEIGHT_UNITS = ("kg", "lb")
# Mobile-capable number types; a landline cannot receive reminders or the sign-in link.
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.VOIP,
}
# Enrolling someone who started a few weeks ago (a transfer) is normal; months ago or far ahead is a typo.
START_DATE_PAST = timedelta(days=56)
START_DATE_FUTURE = timedelta(days=90)
ANTIEMETIC_OFFSET_MAX = 180
_MRN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """IANA zone names (the list behind the form's time-zone picker)."""
    return frozenset(available_timezones())


class FieldErrors(FieldError):
    """Several fields are wrong at once; `errors` maps each field to its message (the first is `field`)."""

    def __init__(self, errors: dict[str, str]):
        first = next(iter(errors))
        super().__init__(first, errors[first])
        self.errors = errors


def parse_mobile(field: str, value: str, region: str | None = None) -> str:
    """A mobile number in E.164 (+15551234567), validated with phonenumbers; spaces and dashes are fine."""
    raw = (value or "").strip()
    if not raw:
        raise FieldError(field, "Enter a mobile number in international form, e.g. +1 202 555 0123.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise FieldError(field, "Enter the number in international form starting with +, e.g. +1 202 555 0123.") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(field, "This is not a valid phone number; check the country code and digits.")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise FieldError(field, "This looks like a landline; enter a mobile number that can receive SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class EnrollmentForm:
    """The enrollment form as typed by staff (strings, as browsers send them); `validated()` parses it."""

    first_name: str = ""
    last_name: str = ""
    date_of_birth: str = ""
    mrn: str = ""
    phone: str = ""
    language: str = "en"
    timezone: str = ""
    regimen: str = ""
    start_level: str = "0"
    tablet_strength_mg: str = "20"
    start_date: str = ""
    day1_weekday: str = "0"
    day3_weekday: str = "2"
    dose_time: str = "08:00"
    antiemetic_name: str = "ondansetron 8 mg"
    antiemetic_offset_min: str = "30"
    dexamethasone_instruction: str = ""
    baseline_weight: str = ""
    weight_unit: str = "kg"
    usual_stools_per_day: str = "1"
    channel_preference: str = "sms"
    sms_consent: str = ""
    drug_names_in_messages: str = ""


@dataclass(frozen=True)
class Enrollment:
    """A validated enrollment, in the types the models use."""

    first_name: str
    last_name: str
    date_of_birth: date
    mrn: str
    phone_e164: str | None
    language: str
    timezone: str
    regimen: str
    start_level: int
    tablet_strength_mg: int
    start_date: date
    day1_weekday: int
    day3_weekday: int
    dose_time: time
    antiemetic_name: str
    antiemetic_offset_min: int
    dexamethasone_instruction: str
    baseline_weight_kg: float
    weight_unit: str
    usual_stools_per_day: int
    channel_preference: str
    sms_consent: bool
    drug_names_in_messages: bool


def _checked(value: str) -> bool:
    return (value or "").strip().lower() in {"on", "true", "1", "yes"}


def _int(errors: dict, field: str, value: str, low: int, high: int, what: str) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[field] = f"{what} must be a whole number."
        return None
    if not low <= number <= high:
        errors[field] = f"{what} must be between {low} and {high}."
        return None
    return number


def validate_enrollment(form: EnrollmentForm, now: datetime) -> Enrollment:
    """Every field checked; all problems reported at once, each naming its field."""
    errors: dict[str, str] = {}
    first, last = form.first_name.strip(), form.last_name.strip()
    if not first or len(first) > 100:
        errors["first_name"] = "First name is required (up to 100 characters)."
    if not last or len(last) > 100:
        errors["last_name"] = "Last name is required (up to 100 characters)."

    zone_name = form.timezone.strip()
    zone: ZoneInfo | None = None
    try:
        if zone_name not in time_zones():
            raise ZoneInfoNotFoundError(zone_name)
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Choose the patient's time zone, e.g. America/New_York."
    today = now.astimezone(zone).date() if zone else now.date()

    dob = None
    try:
        dob = date.fromisoformat(form.date_of_birth.strip())
    except ValueError:
        errors["date_of_birth"] = "Date of birth must be a date like 1954-04-12."
    if dob is not None:
        age = (today - dob).days / 365.25
        if dob > today:
            errors["date_of_birth"] = "Date of birth is in the future."
        elif age < 18:
            errors["date_of_birth"] = "Selinexor is approved for adults: the patient must be 18 or older."
        elif age > 120:
            errors["date_of_birth"] = "Date of birth is more than 120 years ago; check the year."

    mrn = form.mrn.strip()
    if not _MRN.match(mrn):
        errors["mrn"] = "MRN is required: letters, digits, '.', '-', '_' or '/' (up to 64 characters)."

    language = form.language.strip()
    if language not in LANGUAGES:
        errors["language"] = f"Language must be one of: {', '.join(LANGUAGES)}."

    regimen = form.regimen.strip()
    if regimen not in REGIMENS:
        errors["regimen"] = f"Regimen must be one of: {', '.join(REGIMENS)}."
    last_level = REGIMENS[regimen].last_level if regimen in REGIMENS else 3
    level = _int(errors, "start_level", form.start_level, 0, last_level, "Start level")
    # clinical-reference: section 1 (strength per patient, chosen from the list; default 20 mg)
    strength = None
    try:
        strength = int(form.tablet_strength_mg.strip() or TABLET_STRENGTH_MG_DEFAULT)
    except ValueError:
        pass
    if strength not in TABLET_STRENGTHS_MG:
        errors["tablet_strength_mg"] = (f"Tablet strength must be one of: "
                                        f"{', '.join(f'{mg} mg' for mg in TABLET_STRENGTHS_MG)}.")
        strength = None

    start = None
    try:
        start = date.fromisoformat(form.start_date.strip())
    except ValueError:
        errors["start_date"] = "Start date must be a date like 2026-03-02."
    if start is not None and not today - START_DATE_PAST <= start <= today + START_DATE_FUTURE:
        errors["start_date"] = (f"Start date must be within {START_DATE_PAST.days} days before and "
                                f"{START_DATE_FUTURE.days} days after today.")

    day1 = _int(errors, "day1_weekday", form.day1_weekday, 0, 6, "Day 1 weekday")
    day3 = _int(errors, "day3_weekday", form.day3_weekday, 0, 6, "Day 3 weekday")
    if day1 is not None and day3 is not None and day3 != (day1 + 2) % 7:
        errors["day3_weekday"] = (f"Day 3 must be two days after Day 1 "
                                  f"({WEEKDAYS[(day1 + 2) % 7].capitalize()} for Day 1 on {WEEKDAYS[day1].capitalize()}).")

    dose_time = None
    try:
        dose_time = time.fromisoformat(form.dose_time.strip())
        if dose_time.tzinfo is not None:
            raise ValueError
        dose_time = dose_time.replace(second=0, microsecond=0)
    except ValueError:
        errors["dose_time"] = "Dose time must be a local time like 08:00."

    antiemetic = form.antiemetic_name.strip()
    if not antiemetic or len(antiemetic) > 100:
        errors["antiemetic_name"] = "Name the anti-nausea medicine taken before each dose (P-ANTIEMETIC)."
    offset = _int(errors, "antiemetic_offset_min", form.antiemetic_offset_min, 0, ANTIEMETIC_OFFSET_MAX,
                  "Minutes before the dose")

    dex = form.dexamethasone_instruction.strip()
    if not dex and regimen in REGIMENS:
        dex = REGIMENS[regimen].dexamethasone
    if len(dex) > 300:
        errors["dexamethasone_instruction"] = "Keep the dexamethasone instruction under 300 characters."

    unit = form.weight_unit.strip()
    kg = None
    if unit not in WEIGHT_UNITS:
        errors["weight_unit"] = "Weight unit must be kg or lb."
    try:
        value = float(form.baseline_weight.strip().replace(",", "."))
    except ValueError:
        errors["baseline_weight"] = "Baseline weight must be a number."
    else:
        if unit in WEIGHT_UNITS:
            # Unrounded: weight loss is compared with the baseline without rounding (clinical-reference: section 4a).
            kg = lb_to_kg(value) if unit == "lb" else value
            if not 25 <= kg <= 300:  # clinical-reference §5 plausible range
                low, high = ("25", "300") if unit == "kg" else ("55", "661")
                errors["baseline_weight"] = f"Baseline weight must be between {low} and {high} {unit}."
                kg = None

    stools = _int(errors, "usual_stools_per_day", form.usual_stools_per_day, 0, 50, "Usual stools per day")

    channel = form.channel_preference.strip()
    if channel not in CHANNELS:
        errors["channel_preference"] = "Choose SMS or app notifications."
    consent = _checked(form.sms_consent)
    phone = None
    if form.phone.strip() or channel == "sms" or consent:
        try:
            phone = parse_mobile("phone", form.phone)
        except FieldError as exc:
            errors["phone"] = exc.message
    if channel == "sms" and not consent:
        errors["sms_consent"] = "SMS reminders need the patient's consent: tick the box, or choose app notifications."

    if not errors:
        # The clinical core has the last word on the schedule (whole tablets, Day 1/Day 3, time zone).
        try:
            ScheduleSetup(plan=Plan(regimen=regimen, level=level, status=PlanStatus.ACTIVE,
                                    tablet_strength_mg=strength), start_date=start,
                          day1_weekday=day1, day3_weekday=day3, dose_time=dose_time, timezone=zone_name,
                          antiemetic_offset_min=offset)
        except ClinicalValidationError as exc:
            errors[exc.field] = exc.message
    if errors:
        raise FieldErrors(errors)
    return Enrollment(first_name=first, last_name=last, date_of_birth=dob, mrn=mrn, phone_e164=phone,
                      language=language, timezone=zone_name, regimen=regimen, start_level=level,
                      tablet_strength_mg=strength, start_date=start,
                      day1_weekday=day1, day3_weekday=day3, dose_time=dose_time, antiemetic_name=antiemetic,
                      antiemetic_offset_min=offset, dexamethasone_instruction=dex, baseline_weight_kg=kg,
                      weight_unit=unit, usual_stools_per_day=stools, channel_preference=channel,
                      sms_consent=consent, drug_names_in_messages=_checked(form.drug_names_in_messages))


@dataclass(frozen=True)
class EnrollmentResult:
    patient_id: int
    plan_id: int
    invite_url: str


def enroll_patient(ctx: AppContext, staff: Staff, form: EnrollmentForm, *, ip: str | None) -> EnrollmentResult:
    """Create the patient, plan version 1, their reminders and the invite link, in one transaction."""
    from .outbox.planning import replan_patient

    now = ctx.clock.now()
    data = validate_enrollment(form, now)
    with session_scope(ctx.engine) as session:
        taken = session.exec(select(Patient.id).where(Patient.clinic_id == staff.clinic_id,
                                                      Patient.mrn == data.mrn)).first()
        if taken is not None:
            raise FieldErrors({"mrn": "A patient with this MRN is already enrolled in this clinic."})
        patient = Patient(
            clinic_id=staff.clinic_id, first_name=data.first_name, last_name=data.last_name,
            date_of_birth=data.date_of_birth, mrn=data.mrn, phone_e164=data.phone_e164, language=data.language,
            timezone=data.timezone, baseline_weight_kg=data.baseline_weight_kg, weight_unit=data.weight_unit,
            usual_stools_per_day=data.usual_stools_per_day, channel_preference=data.channel_preference,
            sms_consent=data.sms_consent, sms_consent_at=now if data.sms_consent else None,
            drug_names_in_messages=data.drug_names_in_messages, tablet_strength_mg=data.tablet_strength_mg,
            enrolled_by_staff_id=staff.id, created_at=now,
        )
        session.add(patient)
        session.flush()
        plan = TreatmentPlan(
            patient_id=patient.id, version=1, regimen=data.regimen, dose_level=data.start_level,
            status=PlanStatus.ACTIVE.value, start_date=data.start_date, day1_weekday=data.day1_weekday,
            day3_weekday=data.day3_weekday, dose_time=data.dose_time, antiemetic_name=data.antiemetic_name,
            antiemetic_offset_min=data.antiemetic_offset_min,
            dexamethasone_instruction=data.dexamethasone_instruction, reason="Enrollment",
            changed_by_staff_id=staff.id, created_at=now,
        )
        session.add(plan)
        session.flush()
        replan_patient(session, patient, now)
        url = _invite(session, patient, now=now, base_url=ctx.settings.public_base_url, staff_id=staff.id,
                      purpose="invite")
        audit(session, staff_id=staff.id, action="patient.enroll", patient_id=patient.id, now=now, ip=ip,
              detail=f"MRN {data.mrn}; plan v1 {data.regimen} L{data.start_level} from {data.start_date}")
        return EnrollmentResult(patient_id=patient.id, plan_id=plan.id, invite_url=url)


def _invite(session, patient: Patient, *, now: datetime, base_url: str, staff_id: int, purpose: str) -> str:
    """Text the link when the patient agreed to SMS; otherwise only show it (QR code, printed sheet)."""
    from .invites import create_sign_in_link, send_sign_in_link

    if patient.phone_e164 and patient.sms_consent and not patient.sms_opted_out:
        return send_sign_in_link(session, patient, now=now, base_url=base_url, staff_id=staff_id, purpose=purpose)
    return create_sign_in_link(session, patient, now=now, base_url=base_url, staff_id=staff_id, purpose=purpose)


def new_sign_in_link(ctx: AppContext, staff: Staff, patient_id: int, *, ip: str | None) -> str:
    """A fresh sign-in link for a patient of the staff member's clinic (a lost phone, an expired invite)."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        patient = session.get(Patient, patient_id)
        if patient is None or patient.clinic_id != staff.clinic_id:
            raise NotFound("No such patient.")
        url = _invite(session, patient, now=now, base_url=ctx.settings.public_base_url, staff_id=staff.id,
                      purpose="sign_in")
        audit(session, staff_id=staff.id, action="patient.sign_in_link", patient_id=patient.id, now=now, ip=ip)
        return url


def form_defaults(settings_timezone: str, today: date) -> EnrollmentForm:
    """A blank form with sensible defaults (Monday/Wednesday, 08:00, ondansetron 30 minutes before)."""
    return EnrollmentForm(timezone=settings_timezone, start_date=today.isoformat(), regimen="Xd")


FORM_FIELDS = tuple(f.name for f in fields(EnrollmentForm))
