"""The start-of-therapy checklist in real Chromium (issue 14 item 1): a pharmacist opens a patient enrolled at the
wrong start level (Xd level 1), the dose check says so in words and refuses the tick; after the plan is corrected to
level 0 the pharmacist completes the checklist (baseline labs tick themselves from the lab form), at 1440x900 and on a
tablet; axe-core finds nothing and every checklist control is a 44 px target."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from test_staff_inbox_triage import DESKTOP, _sign_in, _staff
from test_staff_touch import SMALL_CONTROLS, TABLET

pytestmark = pytest.mark.e2e

EDUCATION = (
    "Oncology Chemotherapy Education sheet given",
    "Starter kit offered",
    "Dosing schedule explained, with dexamethasone and anti-nausea medicine",
    "Swallow tablets whole, with water, same time each dose day",
    "Blood tests and weight monitoring explained",
    "Fluids and calories explained",
)


def _mark_done(page, label: str) -> None:
    page.get_by_role("button", name=f"Mark done: {label}").click()
    expect(page.get_by_text(f"Checklist: ticked “{label}”.")).to_be_visible()


def test_pharmacist_completes_a_checklist_after_the_dose_check_catches_the_start_level(
    browser, live_server, artifacts_dir
):
    from axe_playwright_python.sync_playwright import Axe

    patient = live_server.create_patient(first_name="Checklist", level=1)  # Xd level 1: the wrong start
    pharmacist = _staff(live_server, role="pharmacist", name="Paz Pharmacist")
    start = live_server.ctx.clock.now().astimezone(ZoneInfo("America/New_York")).date() - timedelta(days=14)
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        _sign_in(page, live_server, pharmacist)
        page.goto(live_server.url(f"/staff/patients/{patient.id}#checklist"))
        checklist = page.locator("#checklist")
        expect(checklist.locator("#dose-check")).to_contain_text(
            "Start level is 1 (100 mg once weekly); the Xd label starts at level 0: 80 mg Days 1 & 3."
        )
        expect(checklist.locator("#checklist-summary")).to_have_text("Checklist 1/13")

        item = checklist.locator("#item-dose_schedule")
        item.get_by_label("Indication on the prescription").select_option("rrmm")
        item.get_by_role("button", name="Mark done").click()
        error = page.locator("#checklist-error")
        expect(error).to_contain_text("so this item cannot be ticked yet: Start level is 1 (100 mg once weekly)")
        page.screenshot(path=artifacts_dir / "checklist-01-dose-check.png", full_page=False)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()

        # The prescriber's answer: back to the starting dose (a dose increase asks for confirmation).
        form = page.locator("#plan-patient")
        form.get_by_label("Reason").fill("Checklist: start at level 0 as labelled")
        form.get_by_label("Change to level").select_option("0")
        form.get_by_role("button", name="Change to this level").click()
        page.locator("#confirm-plan").get_by_role("button", name="Confirm and save").click()
        expect(page.get_by_text("Plan version 2 saved")).to_be_visible()
        expect(page.locator("#dose-check")).to_contain_text("Dose check: Xd at its starting level")

        page.locator("#item-dose_schedule").get_by_label("Indication on the prescription").select_option("rrmm")
        _mark_done(page, "Dose and schedule confirmed for the indication")
        _mark_done(page, "Dexamethasone received")
        antiemetic = page.locator("#item-antiemetic_received")
        expect(antiemetic.get_by_label("5-HT3 antagonist received")).to_have_value("ondansetron 8 mg")
        antiemetic.get_by_label("High-risk patient: olanzapine or NK1 antagonist (optional)").fill("olanzapine 5 mg")
        _mark_done(page, "Prophylactic anti-nausea medicine received (5-HT3 antagonist)")

        # Baseline labs through the lab form, collected on the start date before the first dose: they tick themselves.
        labs = page.locator("form.labs-form")
        labs.get_by_label("Collected on").fill(start.isoformat())
        labs.get_by_label("Collection time", exact=False).fill("07:00")
        labs.get_by_label("Sodium (mmol/L)").fill("139")
        labs.get_by_label("Platelets (×10⁹/L)").fill("210")
        labs.get_by_label("ANC (×10⁹/L)").fill("3.2")
        labs.get_by_label("Hemoglobin (g/dL)").fill("11.8")
        labs.get_by_role("button", name="Save labs").click()
        expect(page.get_by_text("Labs saved.")).to_be_visible()
        expect(page.locator("#item-baseline_cbc")).to_contain_text("✓ Done")
        expect(page.locator("#item-baseline_cbc")).to_contain_text("CBC collected")
        expect(page.locator("#item-baseline_cmp")).to_contain_text("sodium (CMP) collected")

        for label in EDUCATION:
            _mark_done(page, label)
        page.locator("#item-edu_contraception").get_by_label("not relevant for this patient").check()
        _mark_done(page, "Contraception (where relevant)")
        expect(page.locator("#checklist-summary")).to_have_text("Complete")
        expect(page.locator("#item-antiemetic_received")).to_contain_text("Paz Pharmacist")
        expect(page.locator("#item-antiemetic_received")).to_contain_text("note: olanzapine 5 mg")
        page.screenshot(path=artifacts_dir / "checklist-02-complete.png", full_page=True)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()

        page.goto(live_server.url("/staff/patients?q=Checklist"))
        expect(page.locator("table.roster td.checklist-state").first).to_have_text("Complete")
    finally:
        context.close()

    tablet = browser.new_context(**TABLET)
    try:
        page = tablet.new_page()
        other = live_server.create_patient(first_name="Tablet Checklist")
        _sign_in(page, live_server, pharmacist)
        page.goto(live_server.url(f"/staff/patients/{other.id}#checklist"))
        expect(page.locator("#checklist-summary")).to_have_text("Checklist 1/13")
        small = [c for c in page.evaluate(SMALL_CONTROLS.replace("main ", "#checklist "))]
        assert small == [], small
        page.screenshot(path=artifacts_dir / "checklist-03-tablet.png", full_page=False)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
    finally:
        tablet.close()
