# Over 400 lines on purpose: the form, its checks and the one enrollment transaction belong together.
"""Enrolling a patient: the enrollment form as a typed model (each field's type, choices and bounds), the checks
across fields and against today (messages name the field), then the patient and plan version 1, their reminders
and the invite, all in one transaction; then the staff page shows the link and QR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from pydantic import AfterValidator, Field, model_validator
from sqlmodel import select

from ..clinical.errors import ClinicalValidationError
from ..clinical.grading import lb_to_kg
from ..clinical.regimens import REGIMENS, TABLET_STRENGTH_MG_DEFAULT, TABLET_STRENGTHS_MG, Plan, PlanStatus
from ..clinical.schedule import WEEKDAYS, ScheduleSetup
from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError, FieldErrors, NotFound
from ..forms import BlankToNone, Checkbox, FormModel, IsoDate, LocalTime, Number, Text, plain
from ..i18n import LANGUAGES  # the languages the patient app and the messages speak
from ..models import Patient, Staff, TreatmentPlan
from .audit import audit
from .enrollment_choices import default_weight_unit, phone_example

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


def parse_mobile(field: str, value: str, region: str | None = None) -> str:
    """A mobile number in E.164 (+15551234567), validated with phonenumbers; spaces and dashes are fine, and without
    a leading + it is read as a number of `region` (the clinic's country)."""
    raw = (value or "").strip()
    example = f"{phone_example(region)}, or " if region else ""
    if not raw:
        raise FieldError(field, f"Enter a mobile number, e.g. {example}in international form +1 202 555 0123.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise FieldError(
            field, f"Enter a mobile number with digits only, e.g. {example}in international form starting with +."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(field, "This is not a valid phone number; check the country code and digits.")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise FieldError(field, "This looks like a landline; enter a mobile number that can receive SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _one_of(choices: object, message: str) -> AfterValidator:
    """A value from a list only known at run time (languages, regimens, time zones)."""

    def check(value: str) -> str:
        if value not in choices:
            raise plain(message)
        return value

    return AfterValidator(check)


def _between(low: int, high: int, what: str) -> AfterValidator:
    """A whole number within bounds, the message naming the field in words."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise plain(f"{what} must be between {low} and {high}.")
        return value

    return AfterValidator(check)


def _mrn(value: str) -> str:
    if not _MRN.match(value):
        raise plain("MRN is required: letters, digits, '.', '-', '_' or '/' (up to 64 characters).")
    return value


# Each field's label as the form shows it (the error summary names fields with these, never with their keys).
FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "date_of_birth": "Date of birth",
    "mrn": "MRN",
    "phone": "Mobile number",
    "language": "Language",
    "timezone": "Time zone",
    "channel_preference": "Reminders by",
    "sms_consent": "Consent to text messages",
    "drug_names_in_messages": "Messages may name the medicine",
    "regimen": "Regimen",
    "start_level": "Start level",
    "tablet_strength_mg": "Tablet strength",
    "start_date": "Start date",
    "day1_weekday": "Day 1 weekday",
    "day3_weekday": "Day 3 weekday",
    "dose_time": "Dose time",
    "antiemetic_name": "Antiemetic before each dose",
    "antiemetic_offset_min": "Minutes before the dose",
    "dexamethasone_instruction": "Dexamethasone instruction",
    "baseline_weight": "Baseline weight",
    "weight_unit": "Weight unit",
    "usual_stools_per_day": "Usual stools per day",
}


def field_label(name: str) -> str:
    """The label of a form field for people ('Day 1 weekday'); an unknown key reads as 'The form'."""
    return FIELD_LABELS.get(name, "The form")


class EnrollmentForm(FormModel):
    """The enrollment form as sent by the staff page; the defaults are those the blank form shows."""

    messages: ClassVar[dict[str, str]] = {
        "first_name": "First name is required (up to 100 characters).",
        "last_name": "Last name is required (up to 100 characters).",
        "date_of_birth": "Date of birth must be a date like 1954-04-12.",
        "mrn": "MRN is required: letters, digits, '.', '-', '_' or '/' (up to 64 characters).",
        "language": f"Language must be one of: {', '.join(LANGUAGES)}.",
        "timezone": "Choose the patient's time zone, e.g. America/New_York.",
        "regimen": f"Regimen must be one of: {', '.join(REGIMENS)}.",
        "start_level": "Start level must be a whole number.",
        "tablet_strength_mg": "Tablet strength must be one of: "
        + ", ".join(f"{mg} mg" for mg in TABLET_STRENGTHS_MG)
        + ".",
        "start_date": "Start date must be a date like 2026-03-02.",
        "day1_weekday": "Day 1 weekday must be a whole number.",
        "day3_weekday": "Day 3 weekday must be a whole number.",
        "dose_time": "Dose time must be a local time like 08:00.",
        "antiemetic_name": "Name the anti-nausea medicine taken before each dose (P-ANTIEMETIC).",
        "antiemetic_offset_min": "Minutes before the dose must be a whole number.",
        "dexamethasone_instruction": "Keep the dexamethasone instruction under 300 characters.",
        "baseline_weight": "Baseline weight must be a number.",
        "weight_unit": "Weight unit must be kg or lb.",
        "usual_stools_per_day": "Usual stools per day must be a whole number.",
        "channel_preference": "Choose SMS or app notifications.",
    }

    first_name: Annotated[Text, Field(min_length=1, max_length=100)]
    last_name: Annotated[Text, Field(min_length=1, max_length=100)]
    date_of_birth: IsoDate
    mrn: Annotated[Text, AfterValidator(_mrn)]
    phone: BlankToNone[Text] = None
    language: Annotated[Text, _one_of(LANGUAGES, f"Language must be one of: {', '.join(LANGUAGES)}.")] = "en"
    timezone: Annotated[Text, _one_of(time_zones(), "Choose the patient's time zone, e.g. America/New_York.")]
    regimen: Annotated[Text, _one_of(REGIMENS, f"Regimen must be one of: {', '.join(REGIMENS)}.")]
    start_level: int = 0  # its upper bound depends on the regimen: checked across fields
    # The page sends a start level as "XVd:0" (the regimen it belongs to): without JavaScript every regimen's levels
    # are listed, and a level of another regimen must be refused, never read as the same number of this regimen.
    start_level_regimen: str | None = None
    # clinical-reference: section 1 (strength per patient, chosen from the list; default 20 mg)
    # Blank: the usual 20 mg (TABLET_STRENGTH_MG_DEFAULT).
    tablet_strength_mg: BlankToNone[
        Annotated[
            int,
            _one_of(
                TABLET_STRENGTHS_MG,
                "Tablet strength must be one of: " + ", ".join(f"{mg} mg" for mg in TABLET_STRENGTHS_MG) + ".",
            ),
        ]
    ] = None
    start_date: IsoDate
    day1_weekday: Annotated[int, _between(0, 6, "Day 1 weekday")] = 0
    day3_weekday: Annotated[int, _between(0, 6, "Day 3 weekday")] = 2
    dose_time: LocalTime = time(8, 0)
    antiemetic_name: Annotated[Text, Field(min_length=1, max_length=100)] = "ondansetron 8 mg"
    antiemetic_offset_min: Annotated[int, _between(0, ANTIEMETIC_OFFSET_MAX, "Minutes before the dose")] = 30
    dexamethasone_instruction: Annotated[Text, Field(max_length=300)] = ""  # blank: the regimen's
    baseline_weight: Number
    weight_unit: BlankToNone[Literal["kg", "lb"]] = None  # blank: the clinic country's (lb in the US, else kg)
    usual_stools_per_day: Annotated[int, _between(0, 50, "Usual stools per day")] = 1
    channel_preference: Literal["sms", "push"] = "sms"
    sms_consent: Checkbox = False
    drug_names_in_messages: Checkbox = False

    @model_validator(mode="before")
    @classmethod
    def _level_with_its_regimen(cls, data: object) -> object:
        """'XVd:0' -> start_level 0 of regimen XVd (a bare number is a level of the chosen regimen)."""
        if isinstance(data, dict):
            value = data.get("start_level")
            if isinstance(value, list):
                value = value[-1] if value else None
            if isinstance(value, str) and ":" in value:
                regimen, _, level = value.partition(":")
                data = {**data, "start_level": level, "start_level_regimen": regimen.strip()}
        return data


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


def validate_enrollment(form: EnrollmentForm, now: datetime, country: str = "US") -> Enrollment:
    """The checks across fields and against today, all problems reported at once, each naming its field; phone
    numbers without a country code and the default weight unit follow the clinic's `country`."""
    errors: dict[str, str] = {}
    zone = ZoneInfo(form.timezone)
    today = now.astimezone(zone).date()

    age = (today - form.date_of_birth).days / 365.25
    if form.date_of_birth > today:
        errors["date_of_birth"] = "Date of birth is in the future."
    elif age < 18:
        errors["date_of_birth"] = "Selinexor is approved for adults: the patient must be 18 or older."
    elif age > 120:
        errors["date_of_birth"] = "Date of birth is more than 120 years ago; check the year."

    last_level = REGIMENS[form.regimen].last_level
    if form.start_level_regimen is not None and form.start_level_regimen != form.regimen:
        errors["start_level"] = (
            f"The start level chosen is a level of {form.start_level_regimen}, not of {form.regimen}: "
            f"choose one of {form.regimen}'s levels (0 to {last_level})."
        )
    elif not 0 <= form.start_level <= last_level:
        errors["start_level"] = (
            f"{form.regimen} has no level {form.start_level}: start level must be between 0 and {last_level}."
        )

    if not today - START_DATE_PAST <= form.start_date <= today + START_DATE_FUTURE:
        errors["start_date"] = (
            f"Start date must be within {START_DATE_PAST.days} days before and "
            f"{START_DATE_FUTURE.days} days after today."
        )

    day1, day3 = form.day1_weekday, form.day3_weekday
    if day3 != (day1 + 2) % 7:
        errors["day3_weekday"] = (
            f"Day 3 must be two days after Day 1 "
            f"({WEEKDAYS[(day1 + 2) % 7].capitalize()} for Day 1 on {WEEKDAYS[day1].capitalize()})."
        )

    dex = form.dexamethasone_instruction or REGIMENS[form.regimen].dexamethasone
    if len(dex) > 300:
        errors["dexamethasone_instruction"] = "Keep the dexamethasone instruction under 300 characters."

    unit = form.weight_unit or default_weight_unit(country)
    # Unrounded: weight loss is compared with the baseline without rounding (clinical-reference: section 4a).
    kg: float | None = lb_to_kg(form.baseline_weight) if unit == "lb" else form.baseline_weight
    if kg is None or not 25 <= kg <= 300:  # clinical-reference §5 plausible range
        low, high = ("25", "300") if unit == "kg" else ("55", "661")
        errors["baseline_weight"] = f"Baseline weight must be between {low} and {high} {unit}."
        kg = None

    channel, consent = form.channel_preference, form.sms_consent
    phone = None
    if form.phone or channel == "sms" or consent:
        try:
            phone = parse_mobile("phone", form.phone or "", country)
        except FieldError as exc:
            errors["phone"] = exc.message
    if channel == "sms" and not consent:
        errors["sms_consent"] = "SMS reminders need the patient's consent: tick the box, or choose app notifications."

    if not errors:
        # The clinical core has the last word on the schedule (whole tablets, Day 1/Day 3, time zone).
        try:
            ScheduleSetup(
                plan=Plan(
                    regimen=form.regimen,
                    level=form.start_level,
                    status=PlanStatus.ACTIVE,
                    tablet_strength_mg=form.tablet_strength_mg or TABLET_STRENGTH_MG_DEFAULT,
                ),
                start_date=form.start_date,
                day1_weekday=day1,
                day3_weekday=day3,
                dose_time=form.dose_time,
                timezone=form.timezone,
                antiemetic_offset_min=form.antiemetic_offset_min,
            )
        except ClinicalValidationError as exc:
            errors[exc.field] = exc.message
    if errors or kg is None:
        raise FieldErrors(errors)
    return Enrollment(
        first_name=form.first_name,
        last_name=form.last_name,
        date_of_birth=form.date_of_birth,
        mrn=form.mrn,
        phone_e164=phone,
        language=form.language,
        timezone=form.timezone,
        regimen=form.regimen,
        start_level=form.start_level,
        tablet_strength_mg=form.tablet_strength_mg or TABLET_STRENGTH_MG_DEFAULT,
        start_date=form.start_date,
        day1_weekday=day1,
        day3_weekday=day3,
        dose_time=form.dose_time,
        antiemetic_name=form.antiemetic_name,
        antiemetic_offset_min=form.antiemetic_offset_min,
        dexamethasone_instruction=dex,
        baseline_weight_kg=kg,
        weight_unit=unit,
        usual_stools_per_day=form.usual_stools_per_day,
        channel_preference=channel,
        sms_consent=consent,
        drug_names_in_messages=form.drug_names_in_messages,
    )


@dataclass(frozen=True)
class EnrollmentResult:
    patient_id: int
    plan_id: int
    invite_url: str


def enroll_patient(ctx: AppContext, staff: Staff, form: EnrollmentForm, *, ip: str | None) -> EnrollmentResult:
    """Create the patient, plan version 1, their reminders and the invite link, in one transaction."""
    from .outbox.planning import replan_patient
    from .pqi.teach_back_sms import queue_question

    now = ctx.clock.now()
    data = validate_enrollment(form, now, ctx.settings.clinic_country)
    with session_scope(ctx.engine) as session:
        taken = session.exec(
            select(Patient.id).where(Patient.clinic_id == staff.clinic_id, Patient.mrn == data.mrn)
        ).first()
        if taken is not None:
            raise FieldErrors({"mrn": "A patient with this MRN is already enrolled in this clinic."})
        patient = Patient(
            clinic_id=staff.clinic_id,
            first_name=data.first_name,
            last_name=data.last_name,
            date_of_birth=data.date_of_birth,
            mrn=data.mrn,
            phone_e164=data.phone_e164,
            language=data.language,
            timezone=data.timezone,
            baseline_weight_kg=data.baseline_weight_kg,
            weight_unit=data.weight_unit,
            usual_stools_per_day=data.usual_stools_per_day,
            channel_preference=data.channel_preference,
            sms_consent=data.sms_consent,
            sms_consent_at=now if data.sms_consent else None,
            drug_names_in_messages=data.drug_names_in_messages,
            tablet_strength_mg=data.tablet_strength_mg,
            enrolled_by_staff_id=staff.id,
            created_at=now,
        )
        session.add(patient)
        session.flush()
        plan = TreatmentPlan(
            patient_id=patient.id,
            version=1,
            regimen=data.regimen,
            dose_level=data.start_level,
            status=PlanStatus.ACTIVE.value,
            start_date=data.start_date,
            day1_weekday=data.day1_weekday,
            day3_weekday=data.day3_weekday,
            dose_time=data.dose_time,
            antiemetic_name=data.antiemetic_name,
            antiemetic_offset_min=data.antiemetic_offset_min,
            dexamethasone_instruction=data.dexamethasone_instruction,
            reason="Enrollment",
            changed_by_staff_id=staff.id,
            created_at=now,
        )
        session.add(plan)
        session.flush()
        replan_patient(session, patient, now)
        url = _invite(
            session, patient, now=now, base_url=ctx.settings.public_base_url, staff_id=staff.id, purpose="invite"
        )
        # issue 14 item 2: an SMS patient gets the schedule teach-back by text, a few minutes after the invite
        queue_question(session, patient, plan, now, default_clinic=ctx.settings.clinic_name)
        audit(
            session,
            staff_id=staff.id,
            action="patient.enroll",
            patient_id=patient.id,
            now=now,
            ip=ip,
            detail=f"MRN {data.mrn}; plan v1 {data.regimen} L{data.start_level} from {data.start_date}",
        )
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
        from .invites import void_unused_links

        void_unused_links(session, patient.id, now)  # only the newest link works: an older one may be on a lost phone
        url = _invite(
            session, patient, now=now, base_url=ctx.settings.public_base_url, staff_id=staff.id, purpose="sign_in"
        )
        audit(session, staff_id=staff.id, action="patient.sign_in_link", patient_id=patient.id, now=now, ip=ip)
        return url


def form_defaults(clinic_timezone: str, today: date, country: str = "US") -> dict[str, str]:
    """A blank form as the page shows it (the clinic's zone and weight unit, Monday/Wednesday, 08:00, ondansetron 30
    minutes before)."""
    defaults = {
        name: field.default
        for name, field in EnrollmentForm.model_fields.items()
        if not field.is_required() and field.default is not None
    }
    shown = {
        name: value.strftime("%H:%M") if isinstance(value, time) else str(value)
        for name, value in defaults.items()
        if not isinstance(value, bool)
    }
    return {
        **shown,
        "timezone": clinic_timezone,
        "start_date": today.isoformat(),
        "regimen": "Xd",
        "start_level": "Xd:0",
        "weight_unit": default_weight_unit(country),
        "tablet_strength_mg": str(TABLET_STRENGTH_MG_DEFAULT),
    }
