"""Staff pages on a tablet-sized touch screen (issue 12 item 7): every visible control is at least 44×44 px and no
text is under 16 px (the patient page, the inbox and the enrollment form with its zone filter box); the labs table
and trends render after entering values (item 3), and axe finds nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_staff_inbox_triage import _open_alert, _sign_in, _staff

pytestmark = pytest.mark.e2e

TABLET = {
    "viewport": {"width": 820, "height": 1180},
    "has_touch": True,
    "is_mobile": True,
    "locale": "en-US",
    "timezone_id": "America/New_York",
    "device_scale_factor": 2,
}

SMALL_CONTROLS = """(() => {
  const controls = document.querySelectorAll(
    "main button, main select, main textarea, main summary, main input:not([type=hidden]), .topbar a, .topbar button, main nav a, .counts a, .pager a");
  const small = [];
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === "hidden") continue;
    if (el.closest(".sr-only")) continue;
    if (box.width < 44 || box.height < 44) small.push(`${el.tagName} ${el.name || el.textContent.trim().slice(0, 30)} ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  return small;
})()"""

SMALL_TEXT = """(() => {
  const small = new Set();
  for (const el of document.querySelectorAll("main *, .topbar *")) {
    if (el.closest("svg")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || el.closest(".sr-only")) continue;
    if (parseFloat(getComputedStyle(el).fontSize) < 16) small.add(`${el.tagName}.${el.className} ${getComputedStyle(el).fontSize}`);
  }
  return [...small];
})()"""


def test_tablet_controls_text_labs_and_accessibility(browser, live_server, artifacts_dir):
    from axe_playwright_python.sync_playwright import Axe

    patient = live_server.create_patient(first_name="Tablet")
    _open_alert(live_server, patient.id, family="fever", rule="R-FEVER", tier="urgent", minutes_ago=2)
    email = _staff(live_server, role="physician", name="Theo Tablet")
    context = browser.new_context(**TABLET)
    try:
        page = context.new_page()
        _sign_in(page, live_server, email)
        page.goto(live_server.url(f"/staff/patients/{patient.id}"))
        labs = page.locator("form.labs-form")
        labs.get_by_label("Sodium (mmol/L)").fill("129")
        labs.get_by_label("Platelets (×10⁹/L)").fill("140")
        labs.get_by_role("button", name="Save labs").click()
        expect(page.locator(".notice")).to_contain_text("Sodium 129 mmol/L: interrupt (R-NA)")
        expect(page.locator("table.lab-table")).to_contain_text("129")
        expect(page.locator(".lab-charts svg")).to_have_count(4)
        expect(page.locator(".lab-charts svg").first).to_have_attribute(
            "aria-label", "Sodium trend in mmol/L, latest 129 mmol/L"
        )
        page.screenshot(path=artifacts_dir / "touch-01-patient-labs.png", full_page=True)
        for path in (f"/staff/patients/{patient.id}", "/staff/inbox", "/staff/inbox?mine=true", "/staff/patients/new"):
            page.goto(live_server.url(path))
            # Open every closed section so its controls are measured too.
            page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
            assert page.evaluate(SMALL_CONTROLS) == [], path
            assert page.evaluate(SMALL_TEXT) == [], path
            results = Axe().run(page)
            assert results.violations_count == 0, results.generate_report()
        page.screenshot(path=artifacts_dir / "touch-02-inbox-tablet.png", full_page=False)
    finally:
        context.close()
