"""Enrollment without free text in real Chromium (issue 12 item 5): a pharmacist enrolls a patient choosing the zone by
typing to filter the list, a once-weekly XVd plan (level 0 = 100 mg once weekly, Day 1 Tuesday), a national phone
number and the clinic's default weight unit; the plan history says "Tue" (one weekday), the invite sheet writes the
time in the patient's locale and the number formatted, and axe finds nothing on the enrollment and invite pages.

It also measures the form (controls, required ones, free-text boxes) and the time a scripted enrollment takes; the
figures are printed and written to tests/artifacts/e2e/enrollment-figures.json."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect
from test_staff_inbox_triage import DESKTOP, _sign_in, _staff

pytestmark = pytest.mark.e2e

FORM_FIGURES = """(() => {
  const form = document.querySelector("form.enroll");
  const controls = [...form.querySelectorAll("input:not([type=hidden]), select, textarea")];
  const typed = controls.filter((c) => c.tagName === "TEXTAREA" ||
    (c.tagName === "INPUT" && ["text", "tel", "search", "number", ""].includes(c.getAttribute("type") || "")));
  return {
    controls: controls.length,
    required: controls.filter((c) => c.required).length,
    free_text: typed.filter((c) => c.type !== "search").map((c) => c.name),
  };
})()"""


def test_enrolling_with_a_searchable_zone_and_a_once_weekly_plan(browser, live_server, artifacts_dir):
    from axe_playwright_python.sync_playwright import Axe

    pharmacist = _staff(live_server, role="pharmacist", name="Paz Enroll")
    mrn = f"E2E-{uuid.uuid4().hex[:6]}"
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        _sign_in(page, live_server, pharmacist)

        started = time.perf_counter()
        page.goto(live_server.url("/staff/patients/new"))
        figures = page.evaluate(FORM_FIGURES)
        zone = page.get_by_label("Time zone", exact=True)
        expect(zone).to_have_value("America/New_York")  # the clinic's zone
        expect(page.get_by_label("Weight unit (how the patient weighs)")).to_have_value("lb")  # a US clinic
        page.get_by_label("First name").fill("Tomasa")
        page.get_by_label("Last name").fill("Weekly")
        page.get_by_label("Date of birth").fill("1950-02-11")
        page.get_by_label("MRN").fill(mrn)
        page.get_by_label("Mobile number").fill("202 555 0123")  # national: the clinic is in the US
        page.get_by_label("Language").select_option("en")
        # The zone: type to filter the list; the first match is chosen.
        finder = page.get_by_label("Find a zone")
        finder.fill("los angeles")
        expect(zone).to_have_value("America/Los_Angeles")
        expect(page.locator("#timezone-count")).to_have_text("1 zone match")
        expect(zone.locator("option:not([hidden])")).to_have_count(1)
        page.get_by_label("The patient agrees to receive text messages").check()
        page.get_by_label("Regimen", exact=True).select_option("XVd")
        level = page.get_by_label("Start level")
        expect(level).to_have_value("XVd:0")  # only the regimen's levels are offered
        expect(level.locator("option:checked")).to_have_text(
            "XVd level 0: 100 mg once weekly, 5 tablets of 20 mg each dose"
        )
        expect(level.locator('optgroup[data-regimen="Xd"]')).to_be_hidden()
        page.get_by_label("Tablet strength").select_option("50")
        expect(level.locator("option:checked")).to_have_text(
            "XVd level 0: 100 mg once weekly, 2 tablets of 50 mg each dose"
        )
        page.get_by_label("Day 1 weekday").select_option("1")  # Tuesday
        page.get_by_label("Dose time").fill("09:00")
        page.get_by_label("Baseline weight").fill("154")
        page.screenshot(path=artifacts_dir / "enroll-01-form.png", full_page=True)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()

        page.get_by_role("button", name="Enroll and create the invite").click()
        page.wait_for_url(re.compile(r".*/staff/patients/\d+/invite$"))
        elapsed = time.perf_counter() - started

        sheet = page.locator("article.sheet")
        expect(sheet).to_contain_text("2 tablets of 50 mg (100 mg) every Tuesday at 9:00\u202fAM")
        expect(sheet).to_contain_text(f"Call {live_server.ctx.settings.clinic_name} at (")  # written nationally
        expect(page.get_by_text("The link was also sent by SMS to (202) 555-0123.")).to_be_visible()
        page.screenshot(path=artifacts_dir / "enroll-02-invite.png", full_page=True)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()

        page.get_by_role("link", name="Tomasa Weekly").click()
        expect(page.get_by_text("+1 202-555-0123")).to_be_visible()
        row = page.locator("section[aria-labelledby=versions-title] tbody tr", has_text="Enrollment")
        schedule = row.locator("td").nth(5)
        expect(schedule).to_contain_text("Tue 09:00")  # one weekday: never "Tue/Thu" or "Tue & Thu"
        assert re.match(r"^Tue 09:00,", schedule.inner_text().strip()), schedule.inner_text()
        expect(row.locator("td").nth(4)).to_have_text("XVd L0")
    finally:
        context.close()

    figures["seconds_to_enroll"] = round(elapsed, 2)
    (artifacts_dir / "enrollment-figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\nenrollment form: {figures}")
    assert "timezone" not in figures["free_text"]  # the zone is chosen, never typed
