"""The server-rendered patient pages: what they say, the form posts without JavaScript, errors beside the field."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from litestar.testing import TestClient

from server.context import AppContext
from server.models import DoseEvent, SymptomReport, WeightEntry
from server.services.plans import change_plan
from tests.support.patient import BASE_URL, PatientBrowser, field_error, make_patient, sign_in_link, stored

PAGES = [
    "/today",
    "/log/dose",
    "/log/symptoms",
    "/log/weight",
    "/history",
    "/learn",
    "/learn/how-to-take",
    "/learn/side-effects",
    "/learn/when-to-call",
    "/learn/food-and-fluids",
    "/learn/tests-and-weight",
    "/settings",
]


def _text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")


@pytest.fixture
def signed_in(app, engine, clock):
    """Sign another patient in on a phone of their own: `signed_in(patient)`."""
    clients = []

    def sign_in(patient) -> PatientBrowser:
        client = TestClient(app, base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        return phone

    yield sign_in
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_sign_in(client, path):
    response = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/signin")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(phone, path):
    page = phone.get(path)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert 'name="viewport"' in page.text and "<main" in page.text
    phone.form("/settings/language", {"language": "es"})
    page = phone.get(path)
    assert page.status_code == 200 and '<html lang="es">' in page.text


def test_today_on_a_dose_day_says_what_to_take_and_how(phone):
    text = _text(phone.get("/today").text)
    assert "Today is a selinexor day" in text
    assert "Selinexor 80 mg" in text and "4 tablets of 20 mg" in text
    assert "Swallow whole with water. Do not break, chew or crush." in text
    assert "Anti-nausea medicine: ondansetron 8 mg" in text and "7:30 AM" in text and "30 minutes before" in text
    assert "Dexamethasone 20 mg" in text
    assert "I took my selinexor now" in text
    assert "Next selinexor dose after today Wednesday, March 4, 8:00 AM" in text


def test_today_on_another_day_names_the_next_dose_day(engine, settings, signed_in, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="OFFDAY", regimen="Xd", level=1, day1=2)  # Wednesdays
    page = signed_in(patient).get("/today").text
    text = _text(page)
    assert "No selinexor today" in text and "I took my selinexor now" not in text
    assert "Next dose: Wednesday, March 4, 8:00 AM" in text
    assert "Selinexor 100 mg" in text and "5 tablets of 20 mg" in text
    week = re.search(r'<ol class="week">.*?</ol>', page, re.S).group(0)
    assert week.count("<li") == 7 and week.count('<li class="dose') == 1  # once weekly: one dose day in 7
    assert "Wednesday Selinexor 100 mg · 8:00 AM" in _text(week) and "Thursday No selinexor" in _text(week)


def test_today_follows_a_hold_and_a_discontinuation(engine, settings, signed_in, clock, patient):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    phone = signed_in(patient)
    change_plan(
        ctx,
        patient.id,
        staff_id=None,
        operation="hold",
        reason="weight loss",
        hold_rule="R-WT-10",
        dexamethasone_on_hold="hold",
    )
    text = _text(phone.get("/today").text)
    assert "Selinexor is on hold" in text and "Do not take selinexor until your care team tells you to restart." in text
    assert "I took my selinexor now" not in text and "Next dose" not in text
    change_plan(ctx, patient.id, staff_id=None, operation="discontinue", reason="end of ladder")
    text = _text(phone.get("/today").text)
    assert "Selinexor has been stopped" in text and "Do not take any more selinexor tablets." in text


@pytest.mark.parametrize(
    "choice,english,spanish",
    [
        (
            "continue",
            "Keep taking dexamethasone 20 mg on Mondays and Wednesdays.",
            "Siga tomando dexametasona 20 mg los lunes y miércoles.",
        ),
        (
            "hold",
            "Do not take dexamethasone until your care team tells you to.",
            "No tome dexametasona hasta que su equipo de atención se lo indique.",
        ),
    ],
)
def test_today_says_what_happens_to_dexamethasone_during_a_hold(
    engine, settings, signed_in, clock, patient, choice, english, spanish
):
    # clinical-reference §1: the patient is told the staff choice in words
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    phone = signed_in(patient)
    assert "dexamethasone 20 mg on" not in _text(phone.get("/today").text)  # active: no hold sentence
    change_plan(ctx, patient.id, staff_id=None, operation="hold", reason="fever", dexamethasone_on_hold=choice)
    text = _text(phone.get("/today").text)
    assert "Selinexor is on hold" in text and english in text
    other = "Do not take dexamethasone" if choice == "continue" else "Keep taking dexamethasone"
    assert other not in text
    if choice == "continue":  # today is a Monday: today's dexamethasone with its time
        assert "Dexamethasone 20 mg · 8:00 AM" in text
    else:
        assert "Dexamethasone 20 mg ·" not in text
    phone.form("/settings/language", {"language": "es"})
    assert spanish in _text(phone.get("/today").text)


@pytest.mark.parametrize("offset", [0, 45, 180])
def test_the_learn_page_says_the_patients_own_antiemetic_timing(engine, settings, signed_in, clock, patient, offset):
    # clinical-reference P-ANTIEMETIC: timing is a per-patient setting, not a fixed 30 minutes
    from server.services.plans import ScheduleChange

    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    phone = signed_in(patient)
    assert "about 30 minutes before selinexor" in _text(phone.get("/learn/how-to-take").text)
    change_plan(
        ctx,
        patient.id,
        staff_id=None,
        operation="change_schedule",
        reason="later antiemetic",
        schedule=ScheduleChange(antiemetic_offset_min=offset),
    )
    text = _text(phone.get("/learn/how-to-take").text)
    assert f"about {offset} minutes before selinexor" in text and (offset == 30 or "about 30 minutes" not in text)
    phone.form("/settings/language", {"language": "es"})
    assert f"unos {offset} minutos antes del selinexor" in _text(phone.get("/learn/how-to-take").text)


def test_dose_form_records_taken_now_and_shows_the_advice(phone, engine, patient):
    page = phone.get("/today").text
    key = re.search(r'action="/log/dose".*?name="idempotency_key" value="([^"]+)"', page, re.S).group(1)
    done = phone.form("/log/dose", {"idempotency_key": key, "status": "taken", "when": "now"})
    assert done.status_code == 200 and "Dose recorded." in done.text
    again = phone.form("/log/dose", {"idempotency_key": key, "status": "taken", "when": "now"})  # a reload re-posts
    assert again.status_code == 200
    assert len(stored(engine, DoseEvent, patient.id)) == 1
    text = _text(phone.get("/today").text)
    assert "Taken at 9:00 AM" in text and "I took my selinexor now" not in text


def test_a_dose_taken_later_than_now_is_refused_beside_the_time(phone, engine, patient, clock):
    page = phone.form(
        "/log/dose",
        {"idempotency_key": "later-00001", "status": "taken", "when": "earlier", "day": "2026-03-02", "time": "23:00"},
    )
    assert page.status_code == 422
    assert field_error(page.text, "time") == "The time is in the future."
    assert 'aria-invalid="true"' in page.text and 'role="alert"' in page.text
    assert stored(engine, DoseEvent, patient.id) == []


def test_a_missed_dose_is_recorded_for_its_day(phone, engine, patient):
    done = phone.form(
        "/log/dose",
        {
            "idempotency_key": "missed-form-1",
            "status": "missed",
            "scheduled_for": "2026-02-25",
            "day": "2026-03-02",
            "time": "",
            "when": "now",
        },
    )
    assert done.status_code == 200 and "Skip the missed dose." in done.text
    assert stored(engine, DoseEvent, patient.id)[0].scheduled_for == date(2026, 2, 25)


def test_symptom_check_in_with_fever_shows_the_urgent_banner_with_the_phone_number(phone, engine, patient):
    done = phone.form(
        "/log/symptoms",
        {
            "idempotency_key": "sym-fever-01",
            "temperature": "38.4",
            "temperature_unit": "c",
            "nausea": "mild",
            "chills": "false",
        },
    )
    assert done.status_code == 200
    banner = re.search(r'<section class="banner urgent" role="alert".*?</section>', done.text, re.S).group(0)
    assert "Call your care team now" in banner and 'href="tel:+15555550100"' in banner and "(555) 555-0100" in banner
    assert stored(engine, SymptomReport, patient.id)[0].nausea == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", "44", "Enter a temperature between 34 and 43 °C"),
        ("temperature", "hot", "Enter a number."),
        ("vomiting_episodes", "51", "Enter a whole number from 0 to 50."),
        ("loose_stools", "2.5", "Enter a whole number"),
    ],
)
def test_bad_symptom_answers_are_named_beside_the_field(phone, engine, patient, field, value, message):
    page = phone.form("/log/symptoms", {"idempotency_key": "sym-bad-0001", field: value, "temperature_unit": "c"})
    assert page.status_code == 422
    assert field_error(page.text, field).startswith(message)
    assert stored(engine, SymptomReport, patient.id) == []


def test_an_empty_check_in_asks_for_an_answer(phone, engine, patient):
    page = phone.form("/log/symptoms", {"idempotency_key": "sym-empty-01", "temperature_unit": "c"})
    assert page.status_code == 422 and "Answer at least one question." in page.text


def test_weight_form_asks_to_confirm_a_big_change_then_stores_it(engine, settings, signed_in, clock):
    patient = make_patient(
        engine, settings, clock.now(), mrn="WCONF", weight_unit="lb", weights=((timedelta(days=2), 70.0),)
    )
    phone = signed_in(patient)
    form = phone.get("/log/weight").text
    assert "Your weight in lb" in form and 'data-last-kg="70.0"' in form
    asked = phone.form("/log/weight", {"idempotency_key": "wconf-00001", "value": "135.8", "unit": "lb"})
    assert asked.status_code == 422 and "more than 5% away" in field_error(asked.text, "weight")
    assert 'id="confirm-weight" hidden' not in asked.text and 'value="135.8"' in asked.text
    assert len(stored(engine, WeightEntry, patient.id)) == 1
    done = phone.form(
        "/log/weight", {"idempotency_key": "wconf-00001", "value": "135.8", "unit": "lb", "confirmed": "true"}
    )
    assert done.status_code == 200 and "Your care team will contact you today" in done.text  # 12% below baseline
    assert stored(engine, WeightEntry, patient.id)[-1].entered_unit == "lb"


@pytest.mark.parametrize(
    ("value", "message"), [("20", "between 25 and 300 kg"), ("", "Enter your weight."), ("seventy", "as a number")]
)
def test_bad_weights_are_named_beside_the_field(phone, engine, patient, value, message):
    page = phone.form("/log/weight", {"idempotency_key": "wbad-000001", "value": value, "unit": "kg"})
    assert page.status_code == 422 and message in field_error(page.text, "weight")
    assert stored(engine, WeightEntry, patient.id) == []


def test_a_correction_form_is_prefilled_and_keeps_the_original(phone, engine, patient):
    phone.form("/log/weight", {"idempotency_key": "wcorr-00001", "value": "68", "unit": "kg"})
    original = stored(engine, WeightEntry, patient.id)[0]
    today = phone.get("/today").text
    assert f"/log/weight?correct={original.id}" in today
    form = phone.get(f"/log/weight?correct={original.id}").text
    assert 'value="68"' in form and f'name="corrects_id" value="{original.id}"' in form
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
    phone.form(
        "/log/weight",
        {
            "idempotency_key": key,
            "value": "68.6",
            "unit": "kg",
            "corrects_id": str(original.id),
            "when": "earlier",
            "day": "2026-03-02",
            "time": "09:00",
        },
    )
    rows = sorted(stored(engine, WeightEntry, patient.id), key=lambda w: w.id)
    assert len(rows) == 2 and rows[0].superseded_at is not None and rows[1].kg == 68.6


def test_history_shows_the_chart_with_its_guides_and_a_text_alternative(phone, engine, patient, clock):
    for days, kg in ((6, 69.0), (4, 66.5), (2, 64.0)):
        phone.api(
            "POST",
            "/api/weights",
            {
                "idempotency_key": f"hist-{days}-0001",
                "value": kg,
                "confirmed": True,
                "at": (clock.now() - timedelta(days=days)).isoformat(),
            },
        )
    phone.api("POST", "/api/doses", {"idempotency_key": "hist-dose-01", "status": "taken"})
    page = phone.get("/history").text
    svg = re.search(r"<svg class=\"chart\".*?</svg>", page, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count("<line") == 3 and svg.count("<circle") == 3
    text = _text(page)
    assert "Start 70 kg" in text and "−10% 63 kg" in text and "−20% 56 kg" in text
    assert "8.6% below your starting weight of 70 kg" in text
    assert "Show the weights as a list" in text and "64 kg" in text
    assert "Dose calendar" in text and "March 2: taken" in text
    assert "Monday, February 23: not recorded" in text  # a past dose day with nothing logged


def test_switching_language_changes_the_page_and_is_remembered(phone, patient):
    page = phone.form("/settings/language?next=/history", {"language": "es"})
    assert page.status_code == 200 and page.url.path == "/history"
    assert '<html lang="es">' in page.text and "Historial" in page.text
    today = _text(phone.get("/today").text)
    assert "Hoy toca selinexor" in today and "4 comprimidos de 20 mg" in today and "lunes 2 de marzo" in today
    assert "English" in today  # the switch back


def test_the_language_switch_only_returns_to_this_site(phone):
    page = phone.form("/settings/language?next=//evil.example/x", {"language": "es"}, follow_redirects=False)
    assert page.headers["location"] == "/today"


def test_learn_when_to_call_has_the_call_button(phone):
    page = phone.get("/learn/when-to-call").text
    assert 'href="tel:+15555550100"' in page and "38.0 °C (100.4 °F)" in page
    assert phone.get("/learn/nonsense").status_code == 404


def test_settings_offers_push_with_the_installations_vapid_key(phone, engine, clock):
    from server.services.push_keys import vapid_keys

    page = phone.get("/settings").text
    key = vapid_keys(engine, clock.now()).public_key  # generated once, shared with the worker that signs pushes
    assert 'id="push-on"' in page and f'data-key="{key}"' in page
    assert len(key) == 87  # base64url of the 65-byte uncompressed P-256 point, as browsers expect


def test_signing_out_ends_the_session(phone):
    out = phone.form("/signout", {})
    assert out.url.path == "/signin" and "You are signed out of this phone." in out.text
    assert phone.get("/today", headers={"accept": "text/html"}, follow_redirects=False).status_code in (302, 303)


def test_pages_are_gzipped_and_small(phone):
    page = phone.get("/today", headers={"accept-encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    assert int(page.headers["content-length"]) < 14 * 1024


def test_the_clinic_number_is_one_tap_away_on_every_page(phone):
    for path in PAGES:
        assert 'href="tel:+15555550100"' in phone.get(path).text, path


@pytest.mark.parametrize("path", ["/log/dose", "/log/antiemetic", "/log/symptoms", "/log/weight"])
def test_an_empty_post_is_answered_with_the_page_and_its_error_never_a_500(phone, path):
    page = phone.form(path, {})
    assert page.status_code == 422 and 'role="alert"' in page.text


def test_learn_promises_match_the_tiers(phone):
    # clinical-reference §3: routine items do not promise a call; same-day items say when the clinic calls after
    # hours; the urgent list carries the emergency number (EMERGENCY_NUMBER, default 911).
    page = phone.get("/learn/when-to-call").text
    contact = page.index("your team will contact you")
    review = page.index("your team will review it")
    assert contact < review
    assert "4 to 6 loose stools" in page[review:] and "Losing some weight" in page[review:]
    assert "loose stools" not in page[contact:review]
    assert "a nurse calls you the next business morning" in page[contact:review]
    assert "If you cannot reach them right away, call 911." in page[:contact]


# ------------------------------------------------------------------------------------------------ guards before saving
# (issue 11 item 5; clinical-reference R-WRONG-DAY, P-MISSED)


def test_a_dose_taken_on_a_day_that_is_not_a_dose_day_is_asked_about_first(engine, settings, signed_in, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="WRONGDAY", day1=1)  # Tuesdays and Thursdays
    phone = signed_in(patient)
    asked = phone.form("/log/dose", {"idempotency_key": "wrong-day-1", "status": "taken", "when": "now"})
    assert asked.status_code == 200
    assert "Today is not a selinexor day. Did you take selinexor today?" in _text(asked.text)
    assert 'id="wrong-day" class="banner same_day" role="alert" hidden' not in asked.text
    assert stored(engine, DoseEvent, patient.id) == []  # nothing saved before the answer

    done = phone.form(
        "/log/dose", {"idempotency_key": "wrong-day-1", "status": "taken", "when": "now", "wrong_day_confirmed": "true"}
    )
    assert done.status_code == 200 and len(stored(engine, DoseEvent, patient.id)) == 1
    banner = re.search(r'<section class="banner (\w+)".*?</section>', done.text, re.S)
    assert banner.group(1) == "same_day"  # a warning, never the success colour
    heading = _text(re.search(r"<h2 id=\"advice-title\">(.*?)</h2>", done.text, re.S).group(1))
    assert heading == "Do not take any more selinexor today. Next dose: Tuesday, March 3 at 8:00 AM."


def test_an_earlier_dose_on_another_day_names_that_day_and_keeps_the_answers(phone, engine, patient):
    asked = phone.form(
        "/log/dose",
        {"idempotency_key": "wrong-day-2", "status": "taken", "when": "earlier", "day": "2026-03-01", "time": "10:00"},
    )
    text = _text(asked.text)
    assert "That day was not a selinexor day. Did you take selinexor that day?" in text
    assert 'value="2026-03-01" selected' in asked.text and 'value="10:00"' in asked.text
    assert stored(engine, DoseEvent, patient.id) == []


def test_a_dose_day_dose_is_not_asked_about(phone, engine, patient):
    done = phone.form("/log/dose", {"idempotency_key": "right-day-1", "status": "taken", "when": "now"})
    assert "Dose recorded." in done.text and "not a selinexor day" not in done.text


def test_missed_before_the_dose_time_is_refused_in_words_and_keeps_the_form(engine, settings, signed_in, clock):
    from datetime import time

    patient = make_patient(engine, settings, clock.now(), mrn="NOTYET", dose_time=time(14, 0))
    page = signed_in(patient).form(
        "/log/dose", {"idempotency_key": "not-yet-1", "status": "missed", "scheduled_for": "2026-03-02", "when": "now"}
    )
    assert page.status_code == 422
    assert field_error(page.text, "status").replace("\u202f", " ") == "Your dose is at 2:00 PM: it is not missed yet."
    assert re.search(r'value="missed"[^>]*checked', page.text)
    assert stored(engine, DoseEvent, patient.id) == []


def test_a_temperature_in_the_other_unit_offers_the_switch_on_the_page(phone, engine, patient):
    asked = phone.form(
        "/log/symptoms",
        {"idempotency_key": "unit-form-1", "temperature": "38.4", "temperature_unit": "f", "nausea": "mild"},
    )
    assert asked.status_code == 422
    assert field_error(asked.text, "temperature") == "Did you mean 38.4 °C?"
    assert re.search(r'<button class="btn second" name="switch_unit" value="c">Yes, it is in °C</button>', asked.text)
    assert stored(engine, SymptomReport, patient.id) == []
    done = phone.form(
        "/log/symptoms",
        {
            "idempotency_key": "unit-form-1",
            "temperature": "38.4",
            "temperature_unit": "f",
            "nausea": "mild",
            "switch_unit": "c",
        },
    )
    assert done.status_code == 200 and "Saved: temperature 38.4 °C (101.1 °F)." in _text(done.text)
    assert stored(engine, SymptomReport, patient.id)[0].temperature_c == 38.4


# ------------------------------------------------------------------------------------------------ a check-in a nauseated
# person finishes (issue 11 item 7)


def test_the_check_in_starts_with_one_tap_as_usual_and_the_chooser(phone, engine, patient):
    page = phone.get("/log/symptoms").text
    assert page.index("I feel as usual") < page.index("What is bothering you?") < page.index("Nausea today")
    key = re.search(r'id="as-usual".*?name="idempotency_key" value="([^"]+)"', page, re.S).group(1)
    done = phone.form(
        "/log/symptoms",
        {
            "idempotency_key": key,
            "when": "now",
            "nausea": "none",
            "vomiting_episodes": "0",
            "loose_stools": "1",
            "appetite": "normal",
            "fatigue": "none",
            "chills": "false",
            "bleeding": "none",
            "neuro": "none",
            "vision": "none",
        },
    )
    assert done.status_code == 200 and "Saved" in done.text
    [row] = stored(engine, SymptomReport, patient.id)
    assert (row.nausea, row.vomiting_episodes, row.loose_stools, row.fatigue, row.bleeding) == (0, 0, 1, 0, "none")


def test_the_chooser_opens_only_the_chosen_questions_without_javascript(phone):
    page = phone.get("/log/symptoms?about=nausea&about=fever").text
    groups = dict(re.findall(r'<div data-about="(\w+)"( hidden)?>', page))
    assert groups == {
        "nausea": "",
        "diarrhea": " hidden",
        "fever": "",
        "appetite": " hidden",
        "tired": " hidden",
        "bleeding": " hidden",
        "dizzy": " hidden",
        "eyes": " hidden",
    }
    assert list(groups)[0] == "nausea"  # nausea first
    everything = dict(re.findall(r'<div data-about="(\w+)"( hidden)?>', phone.get("/log/symptoms").text))
    assert set(everything.values()) == {""}


def test_a_note_for_the_team_is_stored_and_on_the_staff_timeline(phone, engine, patient):
    done = phone.form(
        "/log/symptoms",
        {"idempotency_key": "note-00001", "when": "now", "nausea": "mild", "note": "  Mouth   sores since Sunday "},
    )
    assert done.status_code == 200
    [row] = stored(engine, SymptomReport, patient.id)
    assert row.note == "Mouth sores since Sunday"
    from server.services.staff.wording import symptom_words

    assert symptom_words(row, 1) == "nausea 1, note: “Mouth sores since Sunday”"
    only_note = phone.form("/log/symptoms", {"idempotency_key": "note-00002", "when": "now", "note": "Cough"})
    assert only_note.status_code == 200  # words alone are a check-in too
    too_long = phone.form("/log/symptoms", {"idempotency_key": "note-00003", "when": "now", "note": "x" * 501})
    assert too_long.status_code == 422 and field_error(too_long.text, "note") == "Write at most 500 characters."


def test_a_result_page_never_says_a_sentence_twice(phone):
    done = phone.form(
        "/log/symptoms",
        {
            "idempotency_key": "twice-0001",
            "when": "now",
            "nausea": "cannot_eat",
            "vomiting_episodes": "7",
            "loose_stools": "9",
            "appetite": "barely_eating",
        },
    )
    advice = re.search(r'<div class="advice".*?</div>', done.text, re.S).group(0)
    sentences = [_text(p).strip() for p in re.findall(r"<p>(.*?)</p>", advice, re.S)]
    assert sentences and len(sentences) == len(set(sentences))
