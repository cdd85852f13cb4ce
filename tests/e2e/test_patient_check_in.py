"""A check-in a nauseated person finishes, and a Today that shows the selinexor step at once (issue 11 items 5-7),
in English and Spanish on a 390×844 phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from server.models import SymptomReport

pytestmark = pytest.mark.e2e

WORDS = {
    "en": {
        "usual": "I feel as usual",
        "chooser": "What is bothering you?",
        "nausea": "Nausea or vomiting",
        "show": "Show these questions",
        "nausea_q": "Nausea today",
        "fever_q": "Temperature",
        "took": "I took my selinexor now",
        "saved": "Saved",
        "mean": "Did you mean 38.4 °C?",
        "switch": "Yes, it is in °C",
        "echo": "Saved: temperature 38.4 °C (101.1 °F).",
    },
    "es": {
        "usual": "Me siento como siempre",
        "chooser": "¿Qué le molesta?",
        "nausea": "Náuseas o vómitos",
        "show": "Mostrar estas preguntas",
        "nausea_q": "Náuseas hoy",
        "fever_q": "Temperatura",
        "took": "Tomé mi selinexor ahora",
        "saved": "Guardado",
        "mean": "¿Quiso decir 38.4 °C?",
        "switch": "Sí, está en °C",
        "echo": "Guardado: temperatura 38.4 °C (101.1 °F).",
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_on_a_dose_day_the_selinexor_step_is_visible_without_scrolling(page, live_server, sign_in, language):
    patient = live_server.create_patient(first_name="Dora", language=language)  # today is Day 1
    sign_in(page, patient)
    for _ in range(2):  # just signed in (with the welcome line), then as any other morning
        button = page.get_by_role("button", name=WORDS[language]["took"])
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["y"] + box["height"] <= 844, f"the selinexor button ends at {box['y'] + box['height']:.0f} px"
        assert page.evaluate("window.scrollY") == 0
        page.reload()


@pytest.mark.parametrize("language", ["en", "es"])
def test_one_tap_as_usual_and_a_chooser_that_opens_nausea_first(page, live_server, sign_in, language):
    words = WORDS[language]
    patient = live_server.create_patient(first_name="Nora", language=language)
    sign_in(page, patient)
    page.goto(live_server.url("/log/symptoms"))
    first = page.get_by_role("button", name=words["usual"])
    expect(first).to_be_in_viewport()
    # The chooser: only the nausea questions open, in place.
    page.get_by_text(words["nausea"], exact=True).click()
    page.get_by_role("button", name=words["show"]).click()
    expect(page.locator("fieldset", has_text=words["nausea_q"])).to_be_visible()
    expect(page.locator("#temperature")).to_be_hidden()
    expect(page.locator("#loose_stools")).to_be_hidden()
    # As usual: one tap, saved.
    page.get_by_role("button", name=words["usual"]).click()
    expect(page.locator(".advice")).to_contain_text(words["saved"])
    with Session(live_server.ctx.engine) as session:
        row = session.exec(select(SymptomReport).where(SymptomReport.patient_id == patient.id)).one()
    assert (row.nausea, row.vomiting_episodes, row.bleeding) == (0, 0, "none")


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_temperature_in_the_wrong_unit_is_asked_about_with_a_one_tap_switch(page, live_server, sign_in, language):
    words = WORDS[language]
    patient = live_server.create_patient(first_name="Lena", language=language)
    sign_in(page, patient)
    page.goto(live_server.url("/log/symptoms"))
    page.locator("#temperature").fill("38.4")
    page.locator("input[name=temperature_unit][value=f]").check()
    page.locator("#note").fill("Sore mouth")
    page.locator("form[data-entry=symptoms]:not(#as-usual) button.btn").last.click()
    expect(page.locator("#temperature-error")).to_have_text(words["mean"])
    with Session(live_server.ctx.engine) as session:
        assert not session.exec(select(SymptomReport).where(SymptomReport.patient_id == patient.id)).all()
    page.get_by_role("button", name=words["switch"]).click()
    expect(page.locator(".advice")).to_contain_text(words["echo"])
    with Session(live_server.ctx.engine) as session:
        row = session.exec(select(SymptomReport).where(SymptomReport.patient_id == patient.id)).one()
    assert row.temperature_c == 38.4 and row.note == "Sore mouth"


WRONG_DAY = {
    "en": (
        "Log a selinexor dose",
        "Today is not a selinexor day. Did you take selinexor today?",
        "Yes, I took it",
        "Do not take any more selinexor today. Next dose:",
    ),
    "es": (
        "Registrar una dosis de selinexor",
        "Hoy no es día de selinexor. ¿Tomó selinexor hoy?",
        "Sí, lo tomé",
        "No tome más selinexor hoy. Próxima dosis:",
    ),
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_taken_on_a_day_without_selinexor_is_asked_first_then_warned(page, live_server, sign_in, language):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from server.models import DoseEvent

    link, question, yes, lead = WRONG_DAY[language]
    tomorrow = (live_server.ctx.clock.now().astimezone(ZoneInfo("America/New_York")) + timedelta(days=1)).weekday()
    patient = live_server.create_patient(first_name="Inés", language=language, day1=tomorrow)  # not today
    sign_in(page, patient)
    page.get_by_role("link", name=link).click()
    page.locator("label.choice", has=page.locator("input[name=status][value=taken]")).click()
    page.locator("form[data-entry=dose] button.btn").last.click()
    expect(page.get_by_text(question)).to_be_visible()
    with Session(live_server.ctx.engine) as session:
        assert not session.exec(select(DoseEvent).where(DoseEvent.patient_id == patient.id)).all()
    page.get_by_role("button", name=yes).click()
    expect(page.locator(".advice h2")).to_contain_text(lead)
    expect(page.locator(".advice .banner")).not_to_have_class("banner ok")
