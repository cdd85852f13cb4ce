"""Safe plan changes in real Chromium (issue 12 item 4): a dose increase and an open urgent alert each ask for
confirmation, showing the change per dose and per week; an IT admin is refused a plan change; axe finds nothing on
the patient page with its confirmation box."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from test_staff_inbox_triage import DESKTOP, _sign_in, _staff

from server.db import session_scope
from server.models import Alert

pytestmark = pytest.mark.e2e


def test_dose_increase_and_open_urgent_confirmations_and_admin_refusal(browser, live_server, artifacts_dir):
    from axe_playwright_python.sync_playwright import Axe

    patient = live_server.create_patient(first_name="Confirm", level=1)  # Xd level 1: 100 mg once weekly
    pharmacist = _staff(live_server, role="pharmacist", name="Paz Pharmacist")
    admin = _staff(live_server, role="admin", name="Ada Admin")
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        _sign_in(page, live_server, pharmacist)
        page.goto(live_server.url(f"/staff/patients/{patient.id}"))
        form = page.locator("#plan-patient")
        form.get_by_label("Reason").fill("Tolerating well: back to the starting dose")
        form.get_by_label("Change to level").select_option("0")
        form.get_by_role("button", name="Change to this level").click()
        box = page.locator("#confirm-plan")
        expect(box).to_contain_text("weekly 100 → 160 mg")
        expect(box).to_contain_text("The dose goes up: 100 → 160 mg a week.")
        page.screenshot(path=artifacts_dir / "plan-01-confirm-dose-increase.png", full_page=False)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        box.get_by_role("button", name="Confirm and save").click()
        expect(page.get_by_text("Plan version 2 saved")).to_be_visible()

        now = datetime.now(UTC)
        with session_scope(live_server.ctx.engine) as session:
            session.add(
                Alert(
                    patient_id=patient.id,
                    family="bleeding",
                    rule="R-BLEED",
                    tier="urgent",
                    action="evaluate",
                    facts="blood in urine",
                    opened_at=now,
                    updated_at=now,
                )
            )
        page.goto(live_server.url(f"/staff/patients/{patient.id}"))
        form = page.locator("#plan-patient")
        form.get_by_label("Reason").fill("Bleeding: hold")
        form.get_by_role("button", name="Hold selinexor").click()
        expect(page.locator("#confirm-plan")).to_contain_text(
            "An urgent alert for this patient is not acknowledged yet (R-BLEED)."
        )
        page.screenshot(path=artifacts_dir / "plan-02-confirm-open-urgent.png", full_page=False)

        page.context.clear_cookies()
        _sign_in(page, live_server, admin)
        page.goto(live_server.url(f"/staff/patients/{patient.id}"))
        expect(
            page.get_by_text("Treatment plans are changed by a physician, pharmacist or nurse practitioner.").first
        ).to_be_visible()
        expect(page.get_by_role("button", name="Hold selinexor")).to_have_count(0)
        csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
        answer = page.request.post(
            live_server.url(f"/staff/patients/{patient.id}/plan"),
            form={"_csrf_token": csrf, "operation": "hold", "reason": "admin tries"},
            max_redirects=0,
        )
        assert answer.status == 403, answer.status
    finally:
        context.close()
