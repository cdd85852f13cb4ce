"""Every patient page, at the phone viewport: no axe-core violations (WCAG 2.2 AA), text of at least 18 px, tap targets
of at least 44×44 px, no sideways scrolling at 360 px or at 200% zoom; a screenshot of each as an artifact. The app is
installable (manifest, icons, service worker)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from e2e_support import wait_for_js
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
    "resultTypes": ["violations"],
}
SIGNED_IN_PAGES = [
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
    "/offline",
]

# Interactive things a finger must hit. Links inside running text are exempt (WCAG 2.5.8 "inline" exception).
# A radio or checkbox inside a `label.choice` is hit through its label, which is measured instead.
TAP_TARGETS = """() => {
  const selector = 'button, a, select, input:not([type=hidden]):not([type=radio]):not(label.choice > input[type=checkbox]), label.choice, summary';
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.matches('a') && el.closest('p, li, dd, figcaption') && !el.matches('.btn, .pill')) continue;
    if (el.matches('.skip')) continue;
    if (box.width < 44 || box.height < 44) small.push(`${el.tagName} "${(el.textContent || el.name || '').trim().slice(0, 40)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  return small;
}"""


def _check(page, name: str, artifacts_dir) -> list[str]:
    phone_viewport = dict(page.viewport_size)
    """Run every check on the current page; returns the problems found (empty: all good)."""
    problems = []
    page.wait_for_load_state("networkidle")
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        problems.append(f"axe: {results.generate_report()}")
    body_px = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    if body_px < 18:
        problems.append(f"body text is {body_px}px")
    small = page.evaluate(TAP_TARGETS)
    if small:
        problems.append(f"tap targets under 44x44: {small}")
    page.screenshot(path=artifacts_dir / f"page-{name}.png", full_page=True)
    for width, height, label in (
        (360, 740, "360px"),
        (phone_viewport["width"] // 2, phone_viewport["height"] // 2, "200% zoom"),
    ):
        # 200% zoom on a 390 px phone lays the page out in 195 CSS px, which is what this viewport does.
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wide = page.evaluate("""() => [...document.querySelectorAll('main *, header *, nav *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
            problems.append(f"scrolls sideways by {overflow}px at {label}: {wide}")
    page.set_viewport_size(phone_viewport)
    return [f"{name}: {p}" for p in problems]


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "root"


def test_every_patient_page_is_accessible_and_photographed(page, live_server, sign_in, artifacts_dir):
    problems = []
    guest = live_server.create_patient(first_name="Guest")
    page.goto(live_server.url("/signin"))
    problems += _check(page, "signin", artifacts_dir)
    page.goto(live_server.sign_in_link(guest))
    problems += _check(page, "invite", artifacts_dir)

    patient = live_server.create_patient(
        first_name="Marta", weights=((timedelta(days=3), 70.0), (timedelta(days=1), 68.5))
    )
    sign_in(page, patient)
    for language in ("en", "es"):
        for path in SIGNED_IN_PAGES:
            page.goto(live_server.url(path))
            problems += _check(page, f"{language}-{_slug(path)}", artifacts_dir)
        if language == "en":
            # The states that only appear after an entry: errors beside fields, the confirm step, the urgent banner.
            page.goto(live_server.url("/log/symptoms"))
            page.get_by_label("Temperature", exact=True).fill("45")
            page.get_by_role("button", name="Save").click()
            expect(page.locator("#temperature-error")).to_be_visible()
            problems += _check(page, "en-symptoms-error", artifacts_dir)
            page.get_by_label("Temperature", exact=True).fill("38.4")
            page.locator("label.choice", has_text="°C").click()
            page.get_by_role("button", name="Save").click()
            expect(page.locator(".banner.urgent")).to_be_visible()
            problems += _check(page, "en-symptoms-urgent", artifacts_dir)
            page.goto(live_server.url("/log/weight"))
            page.get_by_label("Your weight in kg").fill("60")
            page.get_by_role("button", name="Save", exact=True).click()
            expect(page.get_by_role("button", name="Yes, save it")).to_be_visible()
            problems += _check(page, "en-weight-confirm", artifacts_dir)
            page.goto(live_server.url("/today"))
            page.get_by_role("button", name="Español").click()
            expect(page.locator("html")).to_have_attribute("lang", "es")
    assert not problems, "\n".join(problems)


def test_the_pages_work_without_javascript_too(browser, live_server, phone_device, artifacts_dir):
    """Forms post to the server, which answers with the same advice (for old phones and failed script loads)."""
    context = browser.new_context(**phone_device, java_script_enabled=False)
    page = context.new_page()
    patient = live_server.create_patient(first_name="Nadia")
    page.goto(live_server.sign_in_link(patient))
    page.get_by_role("button", name="Open my app").click()
    page.wait_for_url("**/today**")
    page.get_by_role("button", name="I took my selinexor now").click()
    expect(page.get_by_text("Dose recorded.")).to_be_visible()
    page.goto(live_server.url("/log/symptoms"))
    page.get_by_label("Temperature", exact=True).fill("38.4")
    page.locator("label.choice", has_text="°C").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".banner.urgent")).to_be_visible()
    page.screenshot(path=artifacts_dir / "nojs-urgent.png", full_page=True)
    context.close()


def test_the_app_is_installable(playwright, live_server, sign_in, tmp_path, phone_device, browser_type_launch_args):
    """Chromium's own installability check (a persistent profile: incognito contexts never count as installable)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        **{**browser_type_launch_args, "headless": True},
        viewport=phone_device["viewport"],
        user_agent=phone_device["user_agent"],
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        patient = live_server.create_patient(first_name="Ines")
        sign_in(page, patient)
        wait_for_js(page, "navigator.serviceWorker.controller !== null", timeout_ms=15000)
        session = context.new_cdp_session(page)
        errors = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], json.dumps(errors)
        manifest = session.send("Page.getAppManifest")
        assert not manifest.get("errors"), manifest.get("errors")
        assert re.search(r'"display"\s*:\s*"standalone"', manifest["data"])
    finally:
        context.close()
