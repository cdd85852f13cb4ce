"""Enrollment: every field validated (messages name the field, nothing stored on error); the patient, plan
version 1, their reminders and the invite are created together; the link is shown once with its QR code."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from sqlmodel import Session, select

from server.models import AuditLog, OutboundMessage, Patient, SignInToken, TreatmentPlan
from tests.support.staff import NURSE, patient_by_mrn, post_form, seed, sign_in, text_of

GOOD = {
    "first_name": "Ana",
    "last_name": "Ruiz",
    "date_of_birth": "1950-05-17",
    "mrn": "MRN-7001",
    "phone": "+1 (202) 555-0147",
    "language": "es",
    "timezone": "America/Chicago",
    "regimen": "Xd",
    "start_level": "0",
    "start_date": "2026-03-04",
    "day1_weekday": "2",
    "day3_weekday": "4",
    "dose_time": "09:30",
    "antiemetic_name": "ondansetron 8 mg",
    "antiemetic_offset_min": "45",
    "dexamethasone_instruction": "",
    "baseline_weight": "154",
    "weight_unit": "lb",
    "usual_stools_per_day": "2",
    "channel_preference": "sms",
    "sms_consent": "on",
}


@pytest.fixture
def nurse(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, NURSE)
    return client


def _count(engine, model) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def test_enrolling_creates_the_patient_plan_reminders_and_invite_in_one_go(nurse, engine):
    answer = post_form(nurse, "/staff/patients", GOOD, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    patient = patient_by_mrn(engine, "MRN-7001")
    assert answer.headers["location"] == f"/staff/patients/{patient.id}/invite"
    assert (patient.phone_e164, patient.language, patient.timezone, patient.weight_unit) == (
        "+12025550147",
        "es",
        "America/Chicago",
        "lb",
    )
    assert patient.baseline_weight_kg == pytest.approx(69.85, abs=0.01)  # 154 lb
    assert patient.usual_stools_per_day == 2 and patient.sms_consent and patient.sms_consent_at is not None
    with Session(engine) as session:
        [plan] = session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == patient.id)).all()
        reminders = session.exec(select(OutboundMessage).where(OutboundMessage.patient_id == patient.id)).all()
        [token] = session.exec(select(SignInToken).where(SignInToken.patient_id == patient.id)).all()
        [audit] = session.exec(select(AuditLog).where(AuditLog.action == "patient.enroll")).all()
    assert (plan.version, plan.regimen, plan.dose_level, plan.status) == (1, "Xd", 0, "active")
    assert (plan.day1_weekday, plan.day3_weekday, plan.dose_time, plan.antiemetic_offset_min) == (2, 4, time(9, 30), 45)
    assert plan.dexamethasone_instruction == "dexamethasone 20 mg on each selinexor day"  # the regimen's default
    assert plan.changed_by_staff_id is not None and plan.reason == "Enrollment"
    kinds = {r.kind for r in reminders}
    assert "invite" in kinds and len(kinds) > 1  # the invite SMS and the planned reminders
    assert token.purpose == "invite" and token.used_at is None
    assert audit.patient_id == patient.id and audit.ip

    page = nurse.get(answer.headers["location"])
    assert page.status_code == 200
    assert "/i/" in page.text and "<svg" in page.text and "Print sheet" in page.text
    again = nurse.get(answer.headers["location"])  # shown once: only the token's hash is stored
    assert "/i/" not in again.text and "Create a new sign-in link" in again.text


def test_the_invite_link_opens_the_patient_app(nurse, engine, app):
    answer = post_form(nurse, "/staff/patients", GOOD, follow_redirects=True)
    link = next(word for word in text_of(answer.text).split() if "/i/" in word)
    assert link.startswith("http://testserver.local/i/")


def test_a_patient_without_sms_consent_gets_a_link_to_show_not_a_text(nurse, engine):
    data = {**GOOD, "mrn": "MRN-7002", "channel_preference": "push", "sms_consent": "", "phone": ""}
    answer = post_form(nurse, "/staff/patients", data)
    assert answer.status_code == 200 and "/i/" in answer.text
    patient = patient_by_mrn(engine, "MRN-7002")
    with Session(engine) as session:
        kinds = {
            r.kind for r in session.exec(select(OutboundMessage).where(OutboundMessage.patient_id == patient.id)).all()
        }
    assert "invite" not in kinds and patient.phone_e164 is None


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"first_name": " "}, "first_name", "First name is required"),
        ({"date_of_birth": "2031-01-01"}, "date_of_birth", "in the future"),
        ({"date_of_birth": "2015-01-01"}, "date_of_birth", "18 or older"),
        ({"date_of_birth": "17/05/1950"}, "date_of_birth", "like 1954-04-12"),
        ({"mrn": "DEMO-001"}, "mrn", "already enrolled"),
        ({"mrn": ""}, "mrn", "MRN is required"),
        ({"phone": "+44 20 7183 8750"}, "phone", "landline"),
        ({"phone": "+1 555 555 0201"}, "phone", "not a valid phone number"),
        ({"phone": "call me"}, "phone", "international form"),
        ({"language": "fr"}, "language", "Language must be one of"),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
        ({"regimen": "XYZ"}, "regimen", "Regimen must be one of"),
        ({"start_level": "4"}, "start_level", "between 0 and 3"),
        ({"start_date": "2025-01-01"}, "start_date", "within 56 days before"),
        ({"day3_weekday": "3"}, "day3_weekday", "two days after Day 1"),
        ({"dose_time": "25:00"}, "dose_time", "like 08:00"),
        ({"antiemetic_name": ""}, "antiemetic_name", "anti-nausea"),
        ({"antiemetic_offset_min": "500"}, "antiemetic_offset_min", "between 0 and 180"),
        ({"baseline_weight": "900"}, "baseline_weight", "between 55 and 661 lb"),
        ({"baseline_weight": "heavy"}, "baseline_weight", "must be a number"),
        ({"weight_unit": "stone"}, "weight_unit", "kg or lb"),
        ({"usual_stools_per_day": "-1"}, "usual_stools_per_day", "between 0 and 50"),
        ({"channel_preference": "fax"}, "channel_preference", "SMS or app"),
        ({"sms_consent": ""}, "sms_consent", "consent"),
        ({"tablet_strength_mg": "25"}, "tablet_strength_mg", "Tablet strength must be one of: 20 mg, 40 mg, 50 mg"),
        ({"tablet_strength_mg": "big"}, "tablet_strength_mg", "Tablet strength must be one of"),
        # clinical-reference §1: a level that is not whole tablets of the patient's strength is refused
        (
            {"tablet_strength_mg": "60"},
            "tablet_strength_mg",
            "Xd level 0 (80 mg on Days 1 and 3 (160 mg a week)) is a 80 mg dose, which is not a whole number of 60 mg "
            "tablets",
        ),
        (
            {"regimen": "XVd", "start_level": "0", "tablet_strength_mg": "40"},
            "tablet_strength_mg",
            "XVd level 0 (100 mg once weekly) is a 100 mg dose, which is not a whole number of 40 mg tablets",
        ),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(nurse, engine, changes, field, words):
    before = (
        _count(engine, Patient),
        _count(engine, TreatmentPlan),
        _count(engine, OutboundMessage),
        _count(engine, SignInToken),
    )
    answer = post_form(nurse, "/staff/patients", {**GOOD, **changes})
    assert answer.status_code == 422
    assert f'id="err-{field}"' in answer.text and f'id="{field}"' in answer.text
    assert words in text_of(answer.text)
    assert 'aria-invalid="true"' in answer.text
    after = (
        _count(engine, Patient),
        _count(engine, TreatmentPlan),
        _count(engine, OutboundMessage),
        _count(engine, SignInToken),
    )
    assert after == before
    assert 'value="Ruiz"' in answer.text  # the form keeps what was typed


def test_several_bad_fields_are_all_reported(nurse):
    answer = post_form(nurse, "/staff/patients", {**GOOD, "mrn": "", "baseline_weight": "", "timezone": "x"})
    assert answer.status_code == 422
    assert "Please correct 3 fields" in text_of(answer.text)


def test_a_new_sign_in_link_can_be_made_and_shown(nurse, engine):
    patient = patient_by_mrn(engine, "DEMO-002")
    answer = post_form(nurse, f"/staff/patients/{patient.id}/invite")
    assert answer.status_code == 200 and "/i/" in answer.text and "<svg" in answer.text
    with Session(engine) as session:
        tokens = session.exec(select(SignInToken).where(SignInToken.patient_id == patient.id)).all()
    assert [t.purpose for t in tokens] == ["sign_in"]


def test_the_enrollment_form_offers_defaults(nurse, clock):
    page = nurse.get("/staff/patients/new")
    assert page.status_code == 200
    assert 'value="America/New_York"' in page.text and f'value="{date(2026, 3, 2).isoformat()}"' in page.text


@pytest.mark.parametrize("strength,tablets", [("20", 4), ("40", 2), ("", 4)])
def test_the_tablet_strength_is_stored_per_patient_and_sets_the_tablet_count(nurse, engine, strength, tablets):
    answer = post_form(nurse, "/staff/patients", {**GOOD, "tablet_strength_mg": strength}, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    patient = patient_by_mrn(engine, "MRN-7001")
    assert patient.tablet_strength_mg == (int(strength) if strength else 20)
    with Session(engine) as session:
        doses = session.exec(
            select(OutboundMessage).where(OutboundMessage.patient_id == patient.id, OutboundMessage.kind == "dose")
        ).all()
    assert doses and all(f'"tablets": {tablets}' in r.payload for r in doses)


def test_the_enrollment_form_offers_the_strengths(nurse):
    page = nurse.get("/staff/patients/new").text
    options = re.findall(
        r'<option value="(\d+)" (?:selected)?>\d+ mg</option>',
        page.split('id="tablet_strength_mg"')[1].split("</select>")[0],
    )
    assert options == ["20", "40", "50", "60"]
    assert '<option value="20" selected>20 mg</option>' in page  # the usual strength by default


def test_a_new_sign_in_link_voids_the_older_unused_ones(nurse, engine):
    patient = patient_by_mrn(engine, "DEMO-002")
    post_form(nurse, f"/staff/patients/{patient.id}/invite")
    post_form(nurse, f"/staff/patients/{patient.id}/invite")
    with Session(engine) as session:
        tokens = session.exec(
            select(SignInToken).where(SignInToken.patient_id == patient.id).order_by(SignInToken.id)
        ).all()
    assert len(tokens) == 2 and tokens[0].expires_at <= tokens[1].created_at < tokens[1].expires_at
