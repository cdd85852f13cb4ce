"""Enrollment without free text (issue 12 item 5): the time zone from a grouped list (the clinic's first, with the UTC
offset), start levels that carry their regimen, national phone numbers read with the clinic's country and shown
formatted, the weight unit of the clinic's country, the invite sheet's time in the patient's locale, and an error
summary that names fields by their labels. Nothing is stored on bad input."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlmodel import Session, select

from server.models import Clinic, OutboundMessage, Patient, SignInToken, TreatmentPlan
from server.services.enrollment import FIELD_LABELS
from server.settings import load_settings
from tests.support.staff import NURSE, patient_by_mrn, post_form, seed, sign_in, text_of

from .test_enrollment import GOOD


@pytest.fixture
def settings(database_url, tmp_path, request):
    """The test settings; `indirect` parametrization gives the clinic's country (default US)."""
    return load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL="http://testserver.local",
        CLINIC_COUNTRY=getattr(request, "param", "US"),
    )


@pytest.fixture
def nurse(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, NURSE)
    return client


def _stored(engine) -> tuple[int, ...]:
    with Session(engine) as session:
        return tuple(
            len(session.exec(select(model)).all()) for model in (Patient, TreatmentPlan, OutboundMessage, SignInToken)
        )


def _refused(nurse, engine, changes: dict[str, str]) -> str:
    """Post the form with `changes`: 422, nothing stored; the page's visible text."""
    before = _stored(engine)
    answer = post_form(nurse, "/staff/patients", {**GOOD, **changes})
    assert answer.status_code == 422, text_of(answer.text)
    assert _stored(engine) == before
    return answer.text


def _words(html: str) -> str:
    """Visible text, with a label's colon after its link as people read it ('Time zone: ...')."""
    return unescape(text_of(html)).replace(" : ", ": ")


def _select(html: str, field: str) -> str:
    return html.split(f'id="{field}"')[1].split("</select>")[0]


# --------------------------------------------------------------------------- time zone


def test_the_zone_is_a_grouped_list_with_offsets_and_the_clinic_zone_chosen_first(nurse):
    page = nurse.get("/staff/patients/new").text
    zones = _select(page, "timezone")
    assert "<datalist" not in page and "<select" in page.split('for="timezone"')[1][:80]
    groups = re.findall(r'<optgroup label="([^"]+)"', zones)
    assert groups[0] == "Clinic and common zones" and "America" in groups and "Europe" in groups
    first = re.findall(r'<option value="([^"]+)"', zones)
    # Monday 2 March 2026: New York is on standard time (UTC−05:00), Madrid on UTC+01:00.
    assert first[0] == "America/New_York"
    assert '<option value="America/New_York" selected>America/New_York (UTC−05:00)</option>' in zones
    assert "Europe/Madrid (UTC+01:00)" in zones and "America/Mexico_City (UTC−06:00)" in zones
    assert len(first) == len(set(first))  # every zone once
    assert zones.count(" selected") == 1


def test_the_clinic_zone_is_the_default_and_listed_first(nurse, engine):
    with Session(engine) as session:
        clinic = session.exec(select(Clinic)).one()
        clinic.timezone = "America/Chicago"
        session.add(clinic)
        session.commit()
    zones = _select(nurse.get("/staff/patients/new").text, "timezone")
    assert re.findall(r'<option value="([^"]+)"', zones)[:2] == ["America/Chicago", "America/New_York"]
    assert '<option value="America/Chicago" selected>America/Chicago (UTC−06:00)</option>' in zones


def test_an_unknown_zone_is_refused_in_words(nurse, engine):
    text = _words(_refused(nurse, engine, {"timezone": "Mars/Olympus"}))
    assert "Time zone: Choose the patient's time zone, e.g. America/New_York." in text


# --------------------------------------------------------------------------- start level


def test_levels_carry_their_regimen_and_tablets_of_the_strength(nurse):
    levels = _select(nurse.get("/staff/patients/new").text, "start_level")
    assert '<option value="Xd:0" data-regimen="Xd" data-dose-mg="80"' in levels
    assert "Xd level 0: 80 mg on Days 1 and 3 (160 mg a week), 4 tablets of 20 mg each dose" in levels
    assert "XVd level 0: 100 mg once weekly, 5 tablets of 20 mg each dose" in levels
    assert re.search(r'<option value="Xd:0"[^>]* selected>', levels)  # the default


def test_levels_are_shown_in_tablets_of_the_strength_chosen(nurse, engine):
    page = _refused(nurse, engine, {"regimen": "XVd", "start_level": "XVd:0", "tablet_strength_mg": "50", "mrn": ""})
    levels = _select(page, "start_level")
    assert "XVd level 0: 100 mg once weekly, 2 tablets of 50 mg each dose" in levels
    assert "Xd level 0: 80 mg on Days 1 and 3 (160 mg a week), not whole 50 mg tablets each dose" in levels
    assert re.search(r'<option value="XVd:0"[^>]* selected>', levels)


def test_a_level_of_another_regimen_is_refused_in_words(nurse, engine):
    # Without JavaScript every regimen's levels are listed: XVd level 0 sent with regimen Xd is not Xd level 0.
    page = _refused(nurse, engine, {"regimen": "Xd", "start_level": "XVd:0"})
    assert 'id="err-start_level"' in page
    assert (
        "Start level: The start level chosen is a level of XVd, not of Xd: choose one of Xd's levels (0 to 3)."
        in _words(page)
    )


def test_a_level_with_its_regimen_enrolls_at_that_level(nurse, engine):
    data = {**GOOD, "regimen": "XVd", "start_level": "XVd:0", "day3_weekday": "4"}
    answer = post_form(nurse, "/staff/patients", data, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    patient = patient_by_mrn(engine, GOOD["mrn"])
    with Session(engine) as session:
        [plan] = session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id == patient.id)).all()
    assert (plan.regimen, plan.dose_level) == ("XVd", 0)


# --------------------------------------------------------------------------- phone numbers


def test_a_national_number_is_accepted_stored_e164_and_shown_formatted(nurse, engine):
    answer = post_form(nurse, "/staff/patients", {**GOOD, "phone": "202 555 0123"}, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    patient = patient_by_mrn(engine, GOOD["mrn"])
    assert patient.phone_e164 == "+12025550123"
    sheet = text_of(nurse.get(answer.headers["location"]).text)
    assert "sent by SMS to (202) 555-0123" in sheet
    assert "Call Demo Oncology Clinic at (555) 555-0100." in sheet  # CLINIC_PHONE +15555550100, as written locally
    page = text_of(nurse.get(f"/staff/patients/{patient.id}").text)
    assert "+1 202-555-0123" in page and "+12025550123" not in page


@pytest.mark.parametrize(
    ("phone", "words"),
    [
        ("202 555", "This is not a valid phone number; check the country code and digits."),
        ("call me", "Enter a mobile number with digits only, e.g. (201) 555-0123, or in international form"),
        ("+44 20 7183 8750", "This looks like a landline"),
    ],
)
def test_an_invalid_number_is_refused_in_words(nurse, engine, phone, words):
    text = _words(_refused(nurse, engine, {"phone": phone}))
    assert f"Mobile number: {words}" in text


@pytest.mark.parametrize("settings", ["ES"], indirect=True)
def test_a_national_number_is_read_with_the_clinic_country(nurse, engine):
    answer = post_form(
        nurse, "/staff/patients", {**GOOD, "phone": "612 34 56 78", "timezone": "Europe/Madrid"}, follow_redirects=False
    )
    assert answer.status_code == 303, text_of(answer.text)
    assert patient_by_mrn(engine, GOOD["mrn"]).phone_e164 == "+34612345678"


# --------------------------------------------------------------------------- weight unit


def test_a_us_clinic_defaults_to_pounds(nurse, engine):
    units = _select(nurse.get("/staff/patients/new").text, "weight_unit")
    assert '<option value="lb" selected>lb</option>' in units and '<option value="kg" >kg</option>' in units
    answer = post_form(nurse, "/staff/patients", {**GOOD, "weight_unit": ""}, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    assert patient_by_mrn(engine, GOOD["mrn"]).weight_unit == "lb"


@pytest.mark.parametrize("settings", ["ES"], indirect=True)
def test_a_clinic_elsewhere_defaults_to_kilograms(nurse, engine):
    units = _select(nurse.get("/staff/patients/new").text, "weight_unit")
    assert '<option value="kg" selected>kg</option>' in units
    data = {**GOOD, "weight_unit": "", "baseline_weight": "70", "phone": "+1 202 555 0147"}
    answer = post_form(nurse, "/staff/patients", data, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    patient = patient_by_mrn(engine, GOOD["mrn"])
    assert (patient.weight_unit, patient.baseline_weight_kg) == ("kg", 70)


# --------------------------------------------------------------------------- invite sheet


# Babel writes a narrow no-break space before AM/a.m.; the page text collapses it to a space.
@pytest.mark.parametrize(("language", "time_words"), [("en", "9:30 AM"), ("es", "9:30 a.m.")])
def test_the_invite_sheet_writes_the_time_in_the_patient_locale(nurse, engine, language, time_words):
    answer = post_form(nurse, "/staff/patients", {**GOOD, "language": language}, follow_redirects=True)
    assert answer.status_code == 200, text_of(answer.text)
    assert f"4 tablets of 20 mg (80 mg) every Wednesday and Friday at {time_words}" in text_of(answer.text)
    assert "09:30" not in text_of(answer.text.split('class="sheet"')[1])


# --------------------------------------------------------------------------- error summary


def test_the_error_summary_names_fields_by_label_not_key(nurse, engine):
    cross = _refused(nurse, engine, {"day3_weekday": "3"})  # a check across fields, made after the form parses
    assert "Day 3 weekday: Day 3 must be two days after Day 1 (Fri for Day 1 on Wed)." in _words(
        cross.split('id="error-summary"')[1].split("</div>")[0]
    )
    assert '<a href="#day3_weekday">Day 3 weekday</a>' in cross
    page = _refused(nurse, engine, {"day1_weekday": "9", "dose_time": "25:00", "antiemetic_offset_min": "500"})
    summary = _words(page.split('id="error-summary"')[1].split("</div>")[0])
    assert "Day 1 weekday: Day 1 weekday must be between 0 and 6." in summary
    assert "Dose time: Dose time must be a local time like 08:00." in summary
    assert "Minutes before the dose: Minutes before the dose must be between 0 and 180." in summary
    assert "day3" not in summary and "_" not in summary and "antiemetic offset" not in summary.lower()
    assert '<a href="#day1_weekday">Day 1 weekday</a>' in page


def test_every_label_in_the_summary_is_the_label_on_the_form(nurse):
    page = nurse.get("/staff/patients/new").text
    for name, label in FIELD_LABELS.items():
        if name in ("sms_consent", "drug_names_in_messages"):  # checkboxes: the label is the sentence
            continue
        shown = text_of(page.split(f'<label for="{name}">')[1].split("</label>")[0]).strip()
        assert shown.startswith(label), (name, shown)
