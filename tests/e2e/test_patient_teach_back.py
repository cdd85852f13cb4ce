"""Issue 14 item 2 in real Chromium at 390×844: the patient signs in, Today offers the schedule questions below the
dose card, the patient answers the days question wrong twice (the right answer is shown in words after each), and a
nurse sees the routine R-TEACH-BACK alert in the inbox. axe-core finds nothing on Today with the offer, the question
page, and the page after a wrong answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_patient_accessibility import _check
from test_staff_inbox_flow import DESKTOP
from test_staff_inbox_triage import PASSWORD
from test_staff_inbox_triage import _staff as _new_staff

pytestmark = pytest.mark.e2e

RIGHT_DAYS = "You take selinexor on Mondays and Wednesdays."


def test_wrong_twice_opens_the_routine_alert_the_nurse_sees(browser, phone_device, live_server, sign_in, artifacts_dir):
    patient = live_server.create_patient(first_name="Tina", day1=0)  # 80 mg on Mondays and Wednesdays
    phone_context = browser.new_context(**phone_device)
    phone = phone_context.new_page()
    staff_context = browser.new_context(**DESKTOP)
    problems: list[str] = []
    try:
        sign_in(phone, patient)
        offer = phone.locator("#teach-back")
        expect(offer.get_by_role("heading", name="Do you know your schedule?")).to_be_visible()
        problems += _check(phone, "teach-back-today", artifacts_dir)

        offer.get_by_role("link", name="Answer the questions").click()
        phone.wait_for_url("**/teach-back")
        expect(phone.get_by_text("Question 1 of 3")).to_be_visible()
        problems += _check(phone, "teach-back-question", artifacts_dir)

        phone.locator("label.choice", has_text="Every day").click()
        phone.get_by_role("button", name="Check my answer").click()
        phone.wait_for_url("**/teach-back?after=days&result=wrong")
        feedback = phone.locator("#teach-back-feedback")
        expect(feedback).to_contain_text("Not quite. " + RIGHT_DAYS)
        expect(phone.get_by_role("group", name="On which days do you take selinexor?")).to_be_visible()
        problems += _check(phone, "teach-back-wrong", artifacts_dir)

        phone.locator("label.choice", has_text="Tuesdays and Thursdays").click()
        phone.get_by_role("button", name="Check my answer").click()
        phone.wait_for_url("**/teach-back?after=days&result=wrong_twice")
        expect(feedback).to_contain_text(RIGHT_DAYS)
        expect(feedback).to_contain_text("Your care team will call you to go over your schedule.")
        expect(phone.get_by_text("Question 2 of 3")).to_be_visible()
        problems += _check(phone, "teach-back-wrong-twice", artifacts_dir)

        # "Not now": back to Today, which no longer offers the questions on this phone today.
        phone.get_by_role("button", name="Not now").click()
        phone.wait_for_url("**/today")
        expect(phone.locator("#teach-back")).to_have_count(0)

        staff = staff_context.new_page()
        staff.goto(live_server.url("/staff/login"))
        staff.get_by_label("Email").fill(_new_staff(live_server, role="nurse", name="Nia Nurse"))
        staff.get_by_label("Password").fill(PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        staff.wait_for_url("**/staff/inbox")
        expect(
            staff.get_by_text(
                "Patient unsure of schedule: On which days do you take selinexor? answered Tuesdays and Thursdays; "
                "right: Mondays and Wednesdays"
            ).first
        ).to_be_visible()
    finally:
        phone_context.close()
        staff_context.close()
    assert not problems, "\n".join(problems)
