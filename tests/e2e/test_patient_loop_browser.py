"""Issue 11 items 1, 3 and 8 in real Chromium at 390×844, in English and Spanish: an urgent entry turns Today into
"wait for your care team" (no next-dose call to action), a nurse acknowledges and the patient sees "seen"; the nurse
reduces the dose, the patient sees the change notice, confirms it, and the nurse sees the confirmation. axe-core
finds nothing on the pages changed (Today with each banner, History with report statuses)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select
from test_patient_accessibility import _check
from test_staff_inbox_flow import DESKTOP
from test_staff_inbox_triage import PASSWORD
from test_staff_inbox_triage import _staff as _new_staff

from server.models import Alert, PlanChangeNotice

pytestmark = pytest.mark.e2e

WORDS = {
    "en": {
        "wait": "Wait for your care team before your next selinexor dose.",
        "week": "Wait for your care team",
        "seen": "Your care team has seen your report",
        "took": "I took my selinexor now",
        "next": "Next selinexor dose after today",
        "changed": "Your selinexor changed: now 5 tablets on",
        "understand": "I understand",
        "thanks": "Your care team can see that you have read the change.",
        "status_seen": "Seen by your care team",
        "status_acted": "Your care team acted on it",
    },
    "es": {
        "wait": "Espere a su equipo de atención antes de su próxima dosis de selinexor.",
        "week": "Espere a su equipo de atención",
        "seen": "Su equipo de atención ha visto su reporte",
        "took": "Tomé mi selinexor ahora",
        "next": "Próxima dosis de selinexor después de hoy",
        "changed": "Su selinexor cambió: ahora 5 comprimidos",
        "understand": "Entendido",
        "thanks": "Su equipo de atención puede ver que ha leído el cambio.",
        "status_seen": "Visto por su equipo de atención",
        "status_acted": "Su equipo de atención tomó medidas",
    },
}


def _staff(browser, live_server):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(live_server.url("/staff/login"))
    # A pharmacist: a clinical role that may reduce the dose (PLAN_CHANGE_ROLES; a nurse may only hold).
    page.get_by_label("Email").fill(_new_staff(live_server, role="pharmacist", name="Paz Pharmacist"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/staff/inbox")
    return context, page


def _report_vomiting(phone, live_server) -> None:
    """The patient's urgent entry, as the app sends it (JSON API; the log forms are redesigned elsewhere)."""
    token = next(c["value"] for c in phone.context.cookies() if c["name"] == "csrftoken")
    answer = phone.request.post(
        live_server.url("/api/symptoms"),
        headers={"x-csrftoken": token},
        data={"idempotency_key": uuid.uuid4().hex, "vomiting_episodes": 6},
    )
    assert answer.status == 201, answer.text()
    assert answer.json()["advice"]["call_now"] is True


@pytest.mark.parametrize("lang", ["en", "es"])
def test_urgent_entry_then_wait_then_seen_then_a_reduction_confirmed(
    browser, phone_device, live_server, sign_in, lang, artifacts_dir
):
    words = WORDS[lang]
    today = datetime.now(ZoneInfo("America/New_York")).date()
    patient = live_server.create_patient(language=lang, day1=(today.weekday() + 1) % 7)  # Day 1 is tomorrow
    staff_context, staff = _staff(browser, live_server)
    phone_context = browser.new_context(**phone_device)
    phone = phone_context.new_page()
    problems: list[str] = []
    try:
        sign_in(phone, patient)
        next_dose = phone.get_by_text(re.compile(r"^(Next dose|Próxima dosis):"))
        expect(next_dose).to_be_visible()  # not a dose day today: tomorrow's dose is offered
        expect(phone.locator("#wait-for-team")).to_have_count(0)

        # 1. Six vomiting episodes: R-NV-3 (urgent, interrupt). Today waits for the team; no next dose is offered.
        _report_vomiting(phone, live_server)
        phone.goto(live_server.url("/today"))
        card = phone.locator("#wait-for-team")
        expect(card.get_by_role("heading", name=words["wait"])).to_be_visible()
        expect(card.locator("a[href^='tel:']")).to_be_visible()
        expect(phone.get_by_role("button", name=words["took"])).to_have_count(0)
        expect(next_dose).to_have_count(0)
        expect(phone.locator(".week li").nth(1)).to_contain_text(words["week"])  # tomorrow's dose day
        problems += _check(phone, f"loop-{lang}-today-wait", artifacts_dir)

        # 2. The nurse acknowledges the alert in the inbox; the patient sees it, with the time.
        staff.goto(live_server.url("/staff/inbox"))
        with Session(live_server.ctx.engine) as session:
            alert = session.exec(select(Alert).where(Alert.patient_id == patient.id)).one()
        card = staff.locator(f"#alert-{alert.id}")
        card.get_by_role("button", name="Acknowledge").click()
        expect(staff.locator(f"#alert-{alert.id} .pill.ack")).to_be_visible()
        phone.goto(live_server.url("/today"))
        expect(phone.locator("#report-seen")).to_contain_text(words["seen"])
        expect(phone.locator("#wait-for-team").get_by_role("heading", name=words["wait"])).to_be_visible()
        phone.goto(live_server.url("/history"))
        expect(phone.locator(".report-status[data-status='seen']")).to_contain_text(words["status_seen"])

        # 3. The nurse reduces the dose from the patient's page: the change notice replaces the wait.
        staff.goto(live_server.url(f"/staff/patients/{patient.id}"))
        staff.locator("#plan-patient-reason").fill("R-NV-3: one level lower")
        staff.locator("#plan-patient button[value='reduce']").click()
        expect(staff.locator("#plan-title .plan-status")).to_have_text("active")
        expect(staff.get_by_text("not yet confirmed by the patient")).to_be_visible()
        phone.goto(live_server.url("/today"))
        expect(phone.locator("#wait-for-team")).to_have_count(0)
        notice = phone.locator("#plan-change")
        expect(notice).to_contain_text(words["changed"])
        problems += _check(phone, f"loop-{lang}-today-notice", artifacts_dir)
        phone.goto(live_server.url("/history"))
        expect(phone.locator(".report-status[data-status='acted']")).to_contain_text(words["status_acted"])
        problems += _check(phone, f"loop-{lang}-history-status", artifacts_dir)

        # 4. The patient confirms; the nurse sees the confirmation on the plan versions.
        phone.goto(live_server.url("/today"))
        phone.locator("#plan-change").get_by_role("button", name=words["understand"]).click()
        phone.wait_for_url("**/today?confirmed=1")
        expect(phone.get_by_text(words["thanks"])).to_be_visible()
        expect(phone.locator("#plan-change")).to_have_count(0)
        with Session(live_server.ctx.engine) as session:
            [confirmed] = session.exec(select(PlanChangeNotice).where(PlanChangeNotice.patient_id == patient.id)).all()
        assert confirmed.acknowledged_via == "app" and confirmed.acknowledged_at is not None
        staff.goto(live_server.url(f"/staff/patients/{patient.id}"))
        expect(staff.get_by_text(re.compile("confirmed by the patient at"))).to_be_visible()
        assert problems == [], "\n".join(problems)
    finally:
        staff_context.close()
        phone_context.close()
