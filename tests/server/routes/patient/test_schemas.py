"""The patient app's typed inputs (server/routes/patient/schemas.py): forms and JSON bodies are parsed by the same
models, a refusal is said in the patient's words and language (never the validator's), and what the entries service
decides is decided there, for every door."""

from __future__ import annotations

import typing
import warnings
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from server.clinical.grading import QUESTIONS
from server.context import AppContext
from server.errors import FieldError, NotFound
from server.i18n import LANGUAGES
from server.models import DoseEvent, SymptomReport, WeightEntry
from server.routes import patient as patient_routes
from server.routes.patient import schemas
from server.services.entries import record_dose, record_weight
from server.services.patient_settings import WEIGHT_UNITS
from tests.support.patient import BASE_URL, PatientBrowser, field_error, make_patient, sign_in_link, stored

VALIDATOR_WORDS = ("Input should", "Field required", "Expected `", "valid integer", "valid number", "unable to parse")


def _choices(annotation) -> set[str]:
    """The values a Literal (or Literal | None) allows."""
    literal = next(a for a in (annotation, *typing.get_args(annotation)) if typing.get_origin(a) is typing.Literal)
    return set(typing.get_args(literal))


def test_the_models_allow_exactly_the_answers_of_their_sources():
    fields = schemas.SymptomsIn.model_fields
    for question, choices in QUESTIONS.items():
        assert _choices(fields[question].annotation) == {c.value for c in choices}, question
    assert _choices(schemas.LanguageIn.model_fields["language"].annotation) == set(LANGUAGES)
    assert _choices(schemas.WeightUnitForm.model_fields["weight_unit"].annotation) == set(WEIGHT_UNITS)
    assert _choices(schemas.WeightIn.model_fields["unit"].annotation) == set(WEIGHT_UNITS)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/weights", {"value": "heavy"}, "value"),
        ("/api/weights", {}, "value"),
        ("/api/weights", {"value": True}, "value"),
        ("/api/symptoms", {"loose_stools": 2.5}, "loose_stools"),
        ("/api/symptoms", {"temperature": "hot"}, "temperature"),
        ("/api/symptoms", {"chills": "maybe"}, "chills"),
        ("/api/symptoms", {"temperature": 38, "temperature_unit": "k"}, "temperature_unit"),
        ("/api/doses", {"status": "taken", "at": "yesterday"}, "at"),
        ("/api/doses", {"status": "missed", "scheduled_for": "monday"}, "scheduled_for"),
        ("/api/doses", {"status": "taken", "corrects_id": "abc"}, "corrects_id"),
    ],
)
def test_a_refused_body_is_named_in_plain_words_never_the_validators(phone, engine, patient, path, body, field):
    response = phone.api("POST", path, {"idempotency_key": "typed-bad-01", **body})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["field"] == field and answer["errors"][0]["field"] == field
    assert not any(words in response.text for words in VALIDATOR_WORDS), response.text
    assert sum(len(stored(engine, m, patient.id)) for m in (DoseEvent, SymptomReport, WeightEntry)) == 0


def test_a_refused_body_is_answered_in_the_patients_language(engine, settings, app, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="ES-TYPED", language="es")
    with TestClient(app, base_url=BASE_URL) as client:
        phone = PatientBrowser(client)
        phone.sign_in(sign_in_link(engine, patient, clock.now()))
        weight = phone.api("POST", "/api/weights", {"idempotency_key": "typed-es-001", "value": "mucho"})
        stools = phone.api("POST", "/api/symptoms", {"idempotency_key": "typed-es-002", "loose_stools": 2.5})
    assert weight.status_code == 422 and weight.json()["message"] == "Escriba su peso como un número."
    assert stools.status_code == 422 and "Enter" not in stools.json()["message"]


def test_a_form_takes_a_decimal_comma_and_names_a_bad_choice_beside_it(phone, engine, patient):
    refused = phone.form(
        "/log/symptoms", {"idempotency_key": "typed-form-1", "chills": "maybe", "temperature_unit": "c"}
    )
    assert refused.status_code == 422 and field_error(refused.text, "chills") == "Choose yes or no."
    assert 'role="alert"' in refused.text and not any(words in refused.text for words in VALIDATOR_WORDS)
    done = phone.form(
        "/log/symptoms", {"idempotency_key": "typed-form-2", "temperature": "37,2", "temperature_unit": "c"}
    )
    assert done.status_code == 200
    assert stored(engine, SymptomReport, patient.id)[0].temperature_c == 37.2


def test_an_earlier_time_needs_its_day(phone, engine, patient):
    page = phone.form(
        "/log/weight",
        {"idempotency_key": "typed-day-01", "value": "70", "unit": "kg", "when": "earlier", "day": "", "time": "08:00"},
    )
    assert page.status_code == 422 and "Choose the day." in page.text and 'role="alert"' in page.text
    assert 'value="70"' in page.text  # the form comes back as typed
    assert stored(engine, WeightEntry, patient.id) == []


def test_the_entries_service_keeps_a_missed_dose_day_within_the_last_7_days(settings, engine, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    patient = make_patient(engine, settings, clock.now(), mrn="DAY-1")
    today = clock.now().date()
    for day, words in ((today + timedelta(days=1), "future"), (today - timedelta(days=8), "7 days")):
        with pytest.raises(FieldError) as refused:
            record_dose(ctx, patient.id, key=f"day-check-{day}", status="missed", at=clock.now(), scheduled_for=day)
        assert refused.value.field == "scheduled_for" and words in refused.value.message
    assert record_dose(
        ctx, patient.id, key="day-check-ok", status="missed", at=clock.now(), scheduled_for=today - timedelta(days=6)
    ).entry.scheduled_for == today - timedelta(days=6)


def test_the_entries_service_does_not_say_another_patients_entry_exists(settings, engine, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    mine = make_patient(engine, settings, clock.now(), mrn="MINE-1")
    theirs = make_patient(engine, settings, clock.now(), mrn="THEIRS-1", phone="+15555550397")
    entry = record_weight(ctx, theirs.id, key="theirs-w-0001", at=clock.now(), value=70.0, unit="kg").entry
    for corrects_id in (entry.id, entry.id + 1000):
        with pytest.raises(NotFound):
            record_weight(
                ctx,
                mine.id,
                key=f"steal-entry-{corrects_id}",
                at=clock.now(),
                value=71.0,
                unit="kg",
                corrects_id=corrects_id,
            )
    assert stored(engine, WeightEntry, theirs.id)[0].superseded_at is None


def test_the_patient_routes_use_no_deprecated_litestar_style(settings, engine, clock):
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = Litestar(
            route_handlers=list(patient_routes.ROUTES),
            dependencies={"ctx": Provide(lambda: ctx, use_cache=True, sync_to_thread=False)},
        )
        with TestClient(app, base_url=BASE_URL) as client:
            client.get("/signin")
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []
