"""The patient JSON API: every bad input is refused with the field named and nothing stored; a key is stored once;
nobody reads or writes another patient's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from server.models import AntiemeticEvent, DoseEvent, SymptomReport, WeightEntry
from tests.support.patient import BASE_URL, PatientBrowser, make_patient, sign_in_link, stored

ENTRY_TABLES = (DoseEvent, AntiemeticEvent, SymptomReport, WeightEntry)


def _rows(engine, patient_id: int) -> int:
    return sum(len(stored(engine, model, patient_id)) for model in ENTRY_TABLES)


def _iso(when) -> str:
    return when.isoformat()


# ------------------------------------------------------------------------------------------------ happy paths


def test_symptom_check_in_with_fever_answers_call_now(phone, engine, patient, clock):
    response = phone.api(
        "POST",
        "/api/symptoms",
        {
            "idempotency_key": "fever-00001",
            "temperature": 38.4,
            "temperature_unit": "c",
            "chills": False,
            "nausea": "none",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["advice"]["call_now"] is True and body["advice"]["tier"] == "urgent"
    assert body["advice"]["clinic_phone"] == "+15555550100"
    assert 'href="tel:+15555550100"' in body["advice_html"] and "Call your care team now" in body["advice_html"]
    assert stored(engine, SymptomReport, patient.id)[0].temperature_c == 38.4


def test_fahrenheit_is_stored_in_celsius(phone, engine, patient):
    response = phone.api(
        "POST", "/api/symptoms", {"idempotency_key": "fever-f-0001", "temperature": 101.1, "temperature_unit": "f"}
    )
    assert response.status_code == 201
    assert stored(engine, SymptomReport, patient.id)[0].temperature_c == pytest.approx(38.39, abs=0.01)
    assert response.json()["advice"]["call_now"] is True


def test_weight_twelve_percent_below_baseline_asks_to_hold_and_expect_a_call(phone, engine, patient):
    # a first weight 12% below the baseline is confirmed first (clinical-reference v2, issue 10 item 13)
    first = phone.api("POST", "/api/weights", {"idempotency_key": "weight-0001", "value": 61.6})
    assert first.status_code == 422 and first.json()["confirm"] is True
    response = phone.api("POST", "/api/weights", {"idempotency_key": "weight-0001", "value": 61.6, "confirmed": True})
    assert response.status_code == 201, response.text
    advice = response.json()["advice"]
    assert advice["tier"] == "same_day" and advice["call_now"] is False
    assert any("Do not take your next selinexor dose" in m for m in advice["messages"])


def test_dose_taken_now_counts_a_recent_anti_nausea_log(phone, engine, patient, clock):
    assert (
        phone.api(
            "POST",
            "/api/antiemetics",
            {"idempotency_key": "ae-000001", "at": _iso(clock.now() - timedelta(minutes=30))},
        ).status_code
        == 201
    )
    response = phone.api("POST", "/api/doses", {"idempotency_key": "dose-00001", "status": "taken"})
    assert response.status_code == 201
    assert response.json()["entry"]["antiemetic_taken"] is True
    assert "Dose recorded." in " ".join(response.json()["advice"]["messages"])


def test_missed_dose_advice_never_says_take_it_now(phone, clock):
    response = phone.api("POST", "/api/doses", {"idempotency_key": "missed-0001", "status": "missed"})
    assert response.status_code == 201
    text = " ".join(response.json()["advice"]["messages"]).lower()
    assert "skip the missed dose" in text and "take it now" not in text and "extra" not in text


def test_advice_is_in_the_patient_language(engine, settings, app, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="ES-1", language="es")
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        response = phone.api("POST", "/api/doses", {"idempotency_key": "dose-es-001", "status": "missed"})
    messages = " ".join(response.json()["advice"]["messages"])
    assert "No tome la dosis olvidada." in messages and "Skip" not in messages
    assert "miércoles" in messages  # the next dose day, in Spanish


# ------------------------------------------------------------------------------------------------ idempotency


def test_a_replay_returns_the_stored_entry_and_never_a_second_one(phone, engine, patient, clock):
    body = {"idempotency_key": "replay-0001", "status": "taken", "at": _iso(clock.now() - timedelta(minutes=5))}
    first = phone.api("POST", "/api/doses", body)
    again = phone.api("POST", "/api/doses", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again.json()["replayed"] is True
    assert len(stored(engine, DoseEvent, patient.id)) == 1


def test_a_key_reused_with_other_content_is_409_and_changes_nothing(phone, engine, patient, clock):
    assert phone.api("POST", "/api/weights", {"idempotency_key": "reuse-00001", "value": 69.5}).status_code == 201
    response = phone.api("POST", "/api/weights", {"idempotency_key": "reuse-00001", "value": 68.0})
    assert response.status_code == 409
    assert response.json()["field"] == "idempotency_key"
    assert [w.kg for w in stored(engine, WeightEntry, patient.id)] == [69.5]


def test_another_patients_key_is_a_conflict_that_reveals_nothing(phone, engine, settings, clock):
    other = make_patient(engine, settings, clock.now(), mrn="OTHER-1", phone="+15555550399")
    from server.context import AppContext
    from server.services.entries import record_antiemetic

    record_antiemetic(
        AppContext(settings=settings, engine=engine, clock=clock), other.id, key="shared-key-01", at=clock.now()
    )
    response = phone.api("POST", "/api/antiemetics", {"idempotency_key": "shared-key-01"})
    assert response.status_code == 409
    assert "OTHER" not in response.text and str(other.id) not in response.json()["message"]


# ------------------------------------------------------------------------------------------------ bad input


BAD_INPUTS = [
    ("/api/weights", {"value": 24}, "weight"),
    ("/api/weights", {"value": 301}, "weight"),
    ("/api/weights", {"value": 700, "unit": "lb"}, "weight"),
    ("/api/weights", {"value": 50, "unit": "lb"}, "weight"),
    ("/api/weights", {"value": "heavy"}, "value"),
    ("/api/symptoms", {"temperature": 33.9}, "temperature"),
    ("/api/symptoms", {"temperature": 43.1}, "temperature"),
    ("/api/symptoms", {"temperature": 110, "temperature_unit": "f"}, "temperature"),
    ("/api/symptoms", {"vomiting_episodes": 51}, "vomiting_episodes"),
    ("/api/symptoms", {"vomiting_episodes": -1}, "vomiting_episodes"),
    ("/api/symptoms", {"loose_stools": 60}, "loose_stools"),
    ("/api/symptoms", {"nausea": "terrible"}, "nausea"),
    ("/api/symptoms", {"bleeding": "some"}, "bleeding"),
    ("/api/symptoms", {}, "nausea"),  # a check-in with no answer at all
    ("/api/doses", {"status": "doubled"}, "status"),
    ("/api/doses", {}, "status"),  # missing field
    ("/api/weights", {}, "value"),  # missing field
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_INPUTS)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(phone, engine, patient, path, body, field):
    response = phone.api("POST", path, {"idempotency_key": "bad-input-01", **body})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["message"]
    assert _rows(engine, patient.id) == 0


@pytest.mark.parametrize("path", ["/api/doses", "/api/antiemetics", "/api/symptoms", "/api/weights"])
def test_a_missing_idempotency_key_is_422_naming_it(phone, engine, patient, path):
    response = phone.api("POST", path, {"status": "taken", "value": 70, "nausea": "none"})
    assert response.status_code == 422 and response.json()["field"] == "idempotency_key"
    assert _rows(engine, patient.id) == 0


@pytest.mark.parametrize(("shift", "message"), [(timedelta(hours=1), "future"), (timedelta(days=-8), "7 days")])
@pytest.mark.parametrize("path", ["/api/doses", "/api/antiemetics", "/api/symptoms", "/api/weights"])
def test_a_time_in_the_future_or_over_7_days_ago_is_refused(phone, engine, patient, clock, path, shift, message):
    body = {
        "idempotency_key": "time-check-01",
        "at": _iso(clock.now() + shift),
        "status": "taken",
        "value": 69.0,
        "nausea": "none",
    }
    response = phone.api("POST", path, body)
    assert response.status_code == 422 and response.json()["field"] == "at"
    assert message in response.json()["message"]
    assert _rows(engine, patient.id) == 0


def test_a_missed_dose_day_in_the_future_is_refused(phone, engine, patient, clock):
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    response = phone.api(
        "POST", "/api/doses", {"idempotency_key": "missed-fut-1", "status": "missed", "scheduled_for": tomorrow}
    )
    assert response.status_code == 422 and response.json()["field"] == "scheduled_for"
    assert _rows(engine, patient.id) == 0


def test_a_weight_far_from_the_last_one_needs_confirming(engine, settings, app, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="W-1", weights=((timedelta(days=2), 70.0),))
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        body = {"idempotency_key": "confirm-0001", "value": 61.6}
        first = phone.api("POST", "/api/weights", body)
        assert first.status_code == 422 and first.json()["field"] == "weight" and first.json()["confirm"] is True
        assert len(stored(engine, WeightEntry, patient.id)) == 1
        confirmed = phone.api("POST", "/api/weights", {**body, "confirmed": True})
        assert confirmed.status_code == 201
    assert len(stored(engine, WeightEntry, patient.id)) == 2


# ------------------------------------------------------------------------------------------------ corrections


def test_a_correction_keeps_the_original_and_is_allowed_for_24_hours(phone, engine, patient, clock):
    first = phone.api("POST", "/api/weights", {"idempotency_key": "orig-00001", "value": 68.0}).json()
    fixed = phone.api(
        "POST",
        "/api/weights",
        {"idempotency_key": "fix-000001", "value": 68.5, "at": first["entry"]["at"], "corrects_id": first["id"]},
    )
    assert fixed.status_code == 201
    rows = sorted(stored(engine, WeightEntry, patient.id), key=lambda w: w.id)
    assert [(w.kg, w.superseded_at is not None, w.corrects_id) for w in rows] == [
        (68.0, True, None),
        (68.5, False, first["id"]),
    ]
    clock.advance(hours=25)
    late = phone.api(
        "POST", "/api/weights", {"idempotency_key": "fix-000002", "value": 68.4, "corrects_id": fixed.json()["id"]}
    )
    assert late.status_code == 422 and late.json()["field"] == "corrects_id"


# ------------------------------------------------------------------------------------------------ access


def test_another_patients_entry_is_404_to_read_and_to_correct(phone, engine, settings, clock):
    from server.context import AppContext
    from server.services.entries import record_weight

    other = make_patient(engine, settings, clock.now(), mrn="OTHER-2", phone="+15555550398")
    entry = record_weight(
        AppContext(settings=settings, engine=engine, clock=clock),
        other.id,
        key="theirs-0001",
        at=clock.now(),
        value=70.0,
        unit="kg",
    ).entry
    theirs = {"id": entry.id}
    assert phone.api("GET", f"/api/entries/weight/{theirs['id']}").status_code == 404
    response = phone.api(
        "POST", "/api/weights", {"idempotency_key": "steal-00001", "value": 50.0, "corrects_id": theirs["id"]}
    )
    assert response.status_code == 404
    assert phone.get(f"/log/weight?correct={theirs['id']}").status_code == 404
    assert [w.superseded_at for w in stored(engine, WeightEntry, other.id)] == [None]
    mine = phone.api("POST", "/api/weights", {"idempotency_key": "mine-000001", "value": 69.0}).json()
    assert phone.api("GET", f"/api/entries/weight/{mine['id']}").json()["kg"] == 69.0


def test_the_api_needs_a_session_and_a_csrf_token(app, engine, patient, clock):
    with TestClient(app, base_url=BASE_URL) as client:
        guest = PatientBrowser(client)
        assert guest.api("POST", "/api/doses", {"idempotency_key": "nosession-1", "status": "taken"}).status_code == 401
        assert guest.api("GET", "/api/today").status_code == 401
        guest.sign_in(sign_in_link(engine, patient, clock.now()))
        no_csrf = client.post("/api/doses", json={"idempotency_key": "nocsrf-0001", "status": "taken"})
        assert no_csrf.status_code == 403
    assert _rows(engine, patient.id) == 0


def test_today_and_history_read_the_signed_in_patient(phone, patient, clock):
    today = phone.api("GET", "/api/today").json()
    assert today["status"] == "active" and today["dose"]["dose_mg"] == 80 and today["dose"]["tablets"] == 4
    assert today["next_dose"]["at"].startswith("2026-03-04T08:00")  # Xd Days 1 and 3: Monday and Wednesday
    phone.api("POST", "/api/weights", {"idempotency_key": "hist-w-0001", "value": 63.0, "confirmed": True})
    history = phone.api("GET", "/api/history").json()
    assert history["weight"]["guides"] == {"baseline": 70.0, "minus10": 63.0, "minus20": 56.0}
    assert history["weight"]["points"][0]["pct_below_baseline"] == 10.0
    assert phone.api("GET", "/api/me").json()["id"] == patient.id


def test_push_subscription_is_stored_and_removed(phone, engine, patient):
    from server.models import PushSubscription

    subscription = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "keys": {"p256dh": "BKey", "auth": "secret"}}
    assert phone.api("POST", "/api/push-subscriptions", subscription).status_code == 201
    assert phone.api("POST", "/api/push-subscriptions", subscription).status_code == 201  # the same browser again
    assert len(stored(engine, PushSubscription, patient.id)) == 1
    assert phone.api("DELETE", "/api/push-subscriptions", {"endpoint": subscription["endpoint"]}).status_code == 204
    assert stored(engine, PushSubscription, patient.id) == []
    bad = phone.api(
        "POST", "/api/push-subscriptions", {"endpoint": "http://insecure", "keys": {"p256dh": "k", "auth": "a"}}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "endpoint"


def test_every_patient_action_is_in_the_openapi_schema(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in (
        "/api/doses",
        "/api/antiemetics",
        "/api/symptoms",
        "/api/weights",
        "/api/today",
        "/api/history",
        "/api/entries/{kind}/{entry_id}",
        "/api/language",
        "/api/push-subscriptions",
        "/api/sign-in-link",
        "/api/sign-in",
        "/api/me",
    ):
        assert path in paths, path
    assert "idempotency_key" in str(paths["/api/doses"]["post"])


# ------------------------------------------------------------------------------------------------ local day and time


def test_an_earlier_entry_given_as_local_day_and_time_is_read_in_the_patients_zone(phone, engine, patient):
    """Issue 11 item 4: the phone sends the day and time as typed; the server reads them in New York (the patient's
    zone), so a phone set to another zone does not move the entry."""
    response = phone.api(
        "POST",
        "/api/weights",
        {"idempotency_key": "local-0001", "value": 70.0, "local_day": "2026-03-01", "local_time": "11:50"},
    )
    assert response.status_code == 201, response.text
    row = stored(engine, WeightEntry, patient.id)[0]
    assert row.at.replace(tzinfo=row.at.tzinfo or UTC) == datetime(2026, 3, 1, 16, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    "local_time,expected_utc",
    [
        ("02:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # spring gap: shifted forward, as the schedule does
        ("01:30", datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),  # before the gap: EST
        ("03:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # after the gap: EDT
    ],
)
def test_a_local_time_in_the_dst_gap_resolves_as_the_schedule_does(
    phone, engine, patient, clock, local_time, expected_utc
):
    clock.set(datetime(2026, 3, 9, 14, 0, tzinfo=UTC))
    response = phone.api(
        "POST",
        "/api/symptoms",
        {"idempotency_key": f"gap-{local_time}", "nausea": "mild", "local_day": "2026-03-08", "local_time": local_time},
    )
    assert response.status_code == 201, response.text
    row = stored(engine, SymptomReport, patient.id)[0]
    assert row.at.replace(tzinfo=row.at.tzinfo or UTC) == expected_utc


def test_a_local_day_without_a_time_is_refused_in_plain_words(phone, engine, patient):
    response = phone.api(
        "POST", "/api/symptoms", {"idempotency_key": "half-0001", "nausea": "mild", "local_day": "2026-03-01"}
    )
    assert response.status_code == 422
    assert "local_time" not in response.json()["message"] and "go together" not in response.json()["message"]
    assert _rows(engine, patient.id) == 0


# ------------------------------------------------------------------------------------------------ helpful errors
# (issue 11 item 6; clinical-reference §5)


@pytest.mark.parametrize(
    "value,unit,meant,question",
    [
        (38.4, "f", "c", "Did you mean 38.4 °C?"),
        (101.1, "c", "f", "Did you mean 101.1 °F?"),
        (34, "f", "c", "Did you mean 34 °C?"),
        (109.4, "c", "f", "Did you mean 109.4 °F?"),
    ],
)
def test_a_temperature_in_the_other_unit_is_asked_about_not_refused(
    phone, engine, patient, value, unit, meant, question
):
    body = {"idempotency_key": f"unit-{value}-{unit}", "temperature": value, "temperature_unit": unit}
    asked = phone.api("POST", "/api/symptoms", body)
    assert asked.status_code == 422
    assert asked.json()["message"] == question and asked.json()["field"] == "temperature"
    assert asked.json()["switch_unit"] == meant
    assert _rows(engine, patient.id) == 0
    switched = phone.api("POST", "/api/symptoms", {**body, "switch_unit": meant})  # the one-tap switch
    assert switched.status_code == 201, switched.text
    expected_c = value if meant == "c" else round((value - 32) * 5 / 9, 2)
    assert stored(engine, SymptomReport, patient.id)[0].temperature_c == pytest.approx(expected_c)


@pytest.mark.parametrize("value,unit", [(33.9, "f"), (43.1, "f"), (92.9, "c"), (110.1, "c")])
def test_outside_the_other_units_range_is_still_a_plain_refusal(phone, engine, patient, value, unit):
    response = phone.api(
        "POST", "/api/symptoms", {"idempotency_key": f"range-{value}", "temperature": value, "temperature_unit": unit}
    )
    assert response.status_code == 422 and "switch_unit" not in response.json()
    assert response.json()["message"] == "Enter a temperature between 34 and 43 °C (93.2 and 109.4 °F)."


def test_a_temperature_question_is_in_spanish_for_a_spanish_speaker(engine, settings, clock, app):
    from litestar.testing import TestClient

    patient = make_patient(engine, settings, clock.now(), mrn="ES-UNIT", language="es", phone="+15555550399")
    with TestClient(app, base_url=BASE_URL) as client:
        es = PatientBrowser(client)
        es.sign_in(sign_in_link(engine, patient, clock.now()))
        asked = es.api(
            "POST", "/api/symptoms", {"idempotency_key": "es-unit-1", "temperature": 38.4, "temperature_unit": "f"}
        )
    assert asked.json()["message"] == "¿Quiso decir 38.4 °C?"


def test_a_developer_sentence_never_reaches_a_patient(phone, engine, patient):
    """A unit the app never offers: the validator's own words ('Unit must be c or f.') are not shown."""
    response = phone.api(
        "POST", "/api/symptoms", {"idempotency_key": "bad-unit-1", "temperature": 38.0, "temperature_unit": "k"}
    )
    assert response.status_code == 422
    assert response.json()["message"] == "Choose one of the answers."
    weird = phone.api("POST", "/api/weights", {"idempotency_key": "bad-unit-2", "value": 70, "unit": "stone"})
    assert "Unit must be" not in weird.json()["message"]


def test_saved_values_are_echoed(phone, engine, patient):
    # The patient's baseline is 70.0 kg: 61.6 kg is 12% below it.
    response = phone.api("POST", "/api/weights", {"idempotency_key": "echo-0001", "value": 61.6, "confirmed": True})
    assert "Saved: 61.6 kg, 12% below your starting weight." in response.json()["advice_html"]
    fever = phone.api(
        "POST", "/api/symptoms", {"idempotency_key": "echo-0002", "temperature": 101.1, "temperature_unit": "f"}
    )
    assert "Saved: temperature 38.4 °C (101.1 °F)." in fever.json()["advice_html"]
