"""Red flags on the phone (architecture flow 7, clinical reference §3): the phone's evaluator over the server's table
agrees with the server's rules at and around every urgent threshold, and an urgent entry saved offline shows the red
"Call your care team now" result with the clinic's tel: link and the emergency fallback before any network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from e2e_support import wait_for_js
from playwright.sync_api import expect
from sqlmodel import Session, select

from server.clinical.grading import lb_to_kg
from server.clinical.red_flags import RED_FLAG_RULES, as_json
from server.clinical.regimens import Plan, PlanStatus
from server.clinical.rules import PatientState, SymptomEntry, Tier, WeightEntry, evaluate
from server.clinical.schedule import ScheduleSetup
from server.models import SymptomReport
from server.routes.patient.schemas import SymptomsIn

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 12, 16, 0, tzinfo=UTC)  # Thursday noon in New York; next dose Monday (> 12 h)
SETUP = ScheduleSetup(
    Plan("Xd", 0, PlanStatus.ACTIVE),
    NOW.date() - timedelta(days=10),
    0,
    2,
    datetime(2026, 1, 1, 8, 0).time(),
    "America/New_York",
)

# (kind, API body, context) at and around each threshold of server/clinical/red_flags.py.
CASES: list[tuple[str, dict, dict]] = [
    *[("symptoms", {"temperature": t, "temperature_unit": "c"}, {}) for t in (37.9, 37.99, 38.0, 38.01, 38.1, 39.2)],
    *[
        ("symptoms", {"temperature": t, "temperature_unit": "f"}, {})
        for t in (100.2, 100.3, 100.39, 100.4, 100.41, 100.5, 102.6)
    ],
    *[("symptoms", {"chills": c}, {}) for c in (True, False)],
    *[("symptoms", {"nausea": n}, {}) for n in ("none", "mild", "eating_less", "cannot_eat")],
    *[("symptoms", {"vomiting_episodes": v}, {}) for v in (0, 5, 6, 7, 20)],
    *[("symptoms", {"loose_stools": s}, {"usualStools": u}) for u in (1, 3) for s in (u + 6, u + 7, u + 8, 0)],
    *[("symptoms", {"bleeding": b}, {}) for b in ("none", "minor", "major")],
    *[("symptoms", {"neuro": n}, {}) for n in ("none", "dizzy", "major")],
    (
        "symptoms",
        {"temperature": 37.0, "temperature_unit": "c", "chills": True, "nausea": "cannot_eat", "bleeding": "major"},
        {},
    ),
    *[("weight", {"value": kg, "unit": "kg"}, {"baselineKg": 70.0}) for kg in (56.1, 56.01, 56.0, 55.99, 50.0, 70.0)],
    *[("weight", {"value": lb, "unit": "lb"}, {"baselineKg": 70.0}) for lb in (123.5, 123.46, 123.45, 123.4)],
    *[("weight", {"value": kg, "unit": "kg"}, {"baselineKg": 62.5}) for kg in (50.0, 50.01, 49.99)],
]


def server_rules(kind: str, body: dict, context: dict) -> list[str]:
    """The urgent rules of the table that the server's rules return for this one entry."""
    at = NOW - timedelta(hours=1)
    if kind == "symptoms":
        answers = SymptomsIn(idempotency_key="case", at=at, **body).answers()
        entry = SymptomEntry(at=at, **{k: v for k, v in vars(answers).items() if v is not None})
    else:
        entry = WeightEntry(at=at, kg=lb_to_kg(body["value"]) if body["unit"] == "lb" else body["value"])
    state = PatientState(
        setup=SETUP,
        baseline_weight_kg=context.get("baselineKg", 70.0),
        usual_stools_per_day=context.get("usualStools", 1),
        entries=(entry,),
        last_delivered_at=NOW - timedelta(hours=2),
    )
    return sorted({f.rule for f in evaluate(state, NOW) if f.rule in RED_FLAG_RULES and f.tier == Tier.URGENT})


def test_the_phone_and_the_server_agree_at_every_threshold(page, live_server, sign_in):
    patient = live_server.create_patient(first_name="Vera")
    sign_in(page, patient)
    page.goto(live_server.url("/log/symptoms"))
    wait_for_js(page, "self.CompanionRedFlags !== undefined")
    table = page.evaluate("CompanionRedFlags.load()")
    assert table == as_json(), "the phone gets the server's table"
    phone = page.evaluate(
        """([table, cases]) => cases.map(([kind, body, context]) =>
        CompanionRedFlags.evaluate(table, CompanionRedFlags.measures(kind, body, context)).sort())""",
        [table, [list(case) for case in CASES]],
    )
    server = [server_rules(*case) for case in CASES]
    disagreements = [(case, p, s) for case, p, s in zip(CASES, phone, server, strict=True) if p != s]
    assert not disagreements
    # The cases reach every rule of the table, and both sides of it.
    assert {rule for rules in server for rule in rules} == RED_FLAG_RULES
    assert [] in server


@pytest.mark.parametrize(
    "language,call_now,fever_sign",
    [
        ("en", "Call your care team now", "can be a sign of infection"),
        ("es", "Llame ahora a su equipo de atención", "puede ser señal de infección"),
    ],
)
def test_an_urgent_entry_saved_offline_says_call_now_before_any_network(
    page, context, live_server, sign_in, artifacts_dir, language, call_now, fever_sign
):
    patient = live_server.create_patient(first_name="Rosa", language=language)
    sign_in(page, patient)
    wait_for_js(page, "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout_ms=15000)
    page.evaluate("navigator.serviceWorker.ready")
    page.goto(live_server.url("/log/symptoms"))
    wait_for_js(page, "navigator.serviceWorker.controller !== null", timeout_ms=15000)

    context.set_offline(True)
    page.reload()  # the check-in and the red-flag table both come from the service worker's cache
    page.locator("#temperature").fill("39.2")
    page.locator("input[name=temperature_unit][value=c]").check()
    page.locator("input[name=chills][value=true]").check()
    page.locator("form[data-entry=symptoms] button.btn").last.click()

    alert = page.get_by_role("alert")
    expect(alert.get_by_role("heading", name=call_now)).to_be_visible()
    expect(alert.get_by_role("link")).to_have_attribute("href", f"tel:{live_server.ctx.settings.clinic_phone}")
    expect(alert).to_contain_text(live_server.ctx.settings.emergency_number)
    page.screenshot(path=artifacts_dir / f"red-flag-offline-{language}.png", full_page=True)
    with Session(live_server.ctx.engine) as session:
        assert not session.exec(select(SymptomReport).where(SymptomReport.patient_id == patient.id)).all()

    # Back online: the entry is sent and the server's full advice replaces the phone's banner.
    context.set_offline(False)
    expect(page.locator(".advice[data-tier=urgent]:not([data-offline])")).to_contain_text(fever_sign, timeout=20000)
    expect(page.locator('.advice[data-offline="true"]')).to_have_count(0)
    with Session(live_server.ctx.engine) as session:
        report = session.exec(select(SymptomReport).where(SymptomReport.patient_id == patient.id)).one()
        assert report.temperature_c == 39.2 and report.chills is True
