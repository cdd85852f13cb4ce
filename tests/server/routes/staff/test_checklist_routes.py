"""The checklist's forms on the patient page: roles, CSRF, audit, refusals in words (422, nothing stored), the roster
column and the page section."""

from __future__ import annotations

import html as html_lib
from contextlib import ExitStack
from datetime import date

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.models import AuditLog, StartChecklistItem
from server.services.plans import change_plan
from tests.support.patient import make_patient
from tests.support.staff import ADMIN, NURSE, PHARMACIST, ctx_for, post_form, seed, sign_in, staff_by_email
from tests.support.staff import text_of as raw_text


def text_of(html: str) -> str:
    return html_lib.unescape(raw_text(html))


@pytest.fixture
def world(app, engine, settings, clock):
    seed(engine, settings, clock)
    wrong = make_patient(
        engine,
        settings,
        clock.now(),
        mrn="CHK-L1",
        first_name="Wrong",
        level=1,
        phone=None,
        start=date(2026, 3, 4),
        day1=2,
    )
    right = make_patient(
        engine, settings, clock.now(), mrn="CHK-L0", first_name="Right", phone=None, start=date(2026, 3, 4), day1=2
    )
    return {"wrong": wrong.id, "right": right.id}


@pytest.fixture
def signed_in(app):
    """Opens a signed-in staff client per call; every one is closed (its app lifespan ended) after the test."""
    with ExitStack() as clients:

        def open_client(email):
            client = clients.enter_context(TestClient(app, base_url="http://testserver.local"))
            assert sign_in(client, email).status_code in (302, 303)
            return client

        yield open_client


def _ticks(engine):
    with Session(engine) as session:
        return session.exec(select(StartChecklistItem)).all()


def test_a_pharmacist_ticks_an_item_and_the_page_shows_who_and_when(app, engine, world, signed_in):
    client = signed_in(PHARMACIST)
    pid = world["right"]
    answer = post_form(
        client, f"/staff/patients/{pid}/checklist/edu_fluids", {"note": "drinks 1 L a day"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("#checklist")
    page = text_of(client.get(f"/staff/patients/{pid}").text)
    assert "Checklist: ticked “Fluids and calories explained”." in page
    assert "✓ Done Fluids and calories explained Paul Pharmacist, Mon 02 Mar 09:00 · note: drinks 1 L a day" in page
    assert "Checklist 2/13" in page  # the baseline weight and this one
    with Session(engine) as session:
        [row] = session.exec(select(AuditLog).where(AuditLog.action == "checklist.tick")).all()
    assert row.patient_id == pid and row.detail == "edu_fluids (note: drinks 1 L a day)"
    undo = post_form(client, f"/staff/patients/{pid}/checklist/edu_fluids/undo", follow_redirects=False)
    assert undo.status_code == 303
    with Session(engine) as session:
        assert session.exec(select(AuditLog).where(AuditLog.action == "checklist.untick")).one().patient_id == pid
    assert _ticks(engine)[0].undone_at is not None


def test_the_dose_check_shows_the_mismatch_and_refuses_the_tick_in_words(app, engine, world, signed_in):
    client = signed_in(NURSE)
    pid = world["wrong"]
    page = text_of(client.get(f"/staff/patients/{pid}").text)
    assert "Start level is 1 (100 mg once weekly); the Xd label starts at level 0: 80 mg Days 1 & 3." in page
    answer = post_form(client, f"/staff/patients/{pid}/checklist/dose_schedule", {"indication": "rrmm"})
    assert answer.status_code == 422
    assert "so this item cannot be ticked yet: Start level is 1 (100 mg once weekly)" in text_of(answer.text)
    assert _ticks(engine) == []


@pytest.mark.parametrize(
    "item, form, words",
    [
        ("dose_schedule", {}, "Choose the indication on the prescription."),
        ("antiemetic_received", {"detail": " "}, "Name the 5-HT3 antagonist received"),
        ("edu_contraception", {"detail": "perhaps"}, "Choose whether contraception was discussed"),
        ("edu_sheet", {"note": "x" * 501}, "Keep the note to 500 characters."),
        ("no_such_item", {}, "There is no such checklist item."),
    ],
)
def test_bad_input_is_a_422_with_a_friendly_message_and_nothing_is_stored(
    app, engine, world, item, form, words, signed_in
):
    client = signed_in(PHARMACIST)
    answer = post_form(client, f"/staff/patients/{world['right']}/checklist/{item}", form)
    assert answer.status_code == 422, answer.text
    assert words in text_of(answer.text)
    assert _ticks(engine) == []


def test_an_admin_reads_but_may_not_tick(app, engine, world, signed_in):
    client = signed_in(ADMIN)
    pid = world["right"]
    page = client.get(f"/staff/patients/{pid}").text
    assert "this account may read it only" in text_of(page) and "Mark done" not in page
    answer = post_form(client, f"/staff/patients/{pid}/checklist/edu_sheet")
    assert answer.status_code == 403
    assert _ticks(engine) == []


def test_a_tick_without_the_csrf_token_is_refused(app, engine, world, signed_in):
    client = signed_in(PHARMACIST)
    answer = client.post(f"/staff/patients/{world['right']}/checklist/edu_sheet", data={"note": "x"})
    assert answer.status_code == 403
    assert _ticks(engine) == []


def test_another_clinics_patient_is_not_found(app, engine, world, signed_in):
    client = signed_in(PHARMACIST)
    assert post_form(client, "/staff/patients/99999/checklist/edu_sheet").status_code == 404


def test_the_roster_shows_each_patients_checklist_state(app, engine, world, signed_in):
    client = signed_in(PHARMACIST)
    html = text_of(client.get("/staff/patients?sort=mrn").text)
    assert "Start checklist" in html
    assert html.count("Checklist 1/13") >= 2


def test_a_prescriber_confirmed_lower_start_is_ticked_from_the_form_with_its_note(app, engine, world, signed_in):
    client = signed_in(PHARMACIST)
    pid = world["wrong"]
    page = client.get(f"/staff/patients/{pid}").text
    assert 'name="prescriber_confirmed" value="yes"' in page
    refused = post_form(
        client, f"/staff/patients/{pid}/checklist/dose_schedule", {"indication": "rrmm", "prescriber_confirmed": "yes"}
    )
    assert refused.status_code == 422 and "Write who confirmed the start level" in text_of(refused.text)
    assert _ticks(engine) == []
    answer = post_form(
        client,
        f"/staff/patients/{pid}/checklist/dose_schedule",
        {"indication": "rrmm", "prescriber_confirmed": "yes", "note": "Dr Lee by phone"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    page = text_of(client.get(f"/staff/patients/{pid}").text)
    assert "Start level is 1 (100 mg once weekly)" in page  # the mismatch stays shown
    assert "note: Prescriber confirmed the start level: Start level is 1 (100 mg once weekly)" in page
    assert "Dr Lee by phone" in page
    assert 'name="prescriber_confirmed"' not in client.get(f"/staff/patients/{world['right']}").text


def test_the_dose_check_names_the_current_plan_when_it_is_not_the_start(app, engine, settings, clock, world, signed_in):
    client = signed_in(PHARMACIST)
    pid = world["right"]
    ctx = ctx_for(settings, engine, clock)
    change_plan(ctx, pid, staff_id=staff_by_email(engine, PHARMACIST).id, operation="reduce", reason="nausea")
    page = text_of(client.get(f"/staff/patients/{pid}").text)
    assert "The dose check reads the start: plan version 1." in page
    assert "Current plan: version 2: Xd level 1 (100 mg once weekly), active." in page
    assert "Dose check: Xd at its starting level (80 mg Days 1 & 3, two days apart)" in page


def test_the_dose_check_words_a_once_weekly_start_in_the_levels_own_words(
    app, engine, settings, clock, world, signed_in
):
    xvd = make_patient(engine, settings, clock.now(), mrn="CHK-XVD", regimen="XVd", phone=None, start=date(2026, 3, 4))
    page = text_of(signed_in(PHARMACIST).get(f"/staff/patients/{xvd.id}").text)
    assert "Dose check: XVd at its starting level (100 mg once weekly), whole tablets of 20 mg." in page
    assert "Days 1 & 3" not in page
