"""Entries at the right time (issue 11 item 4): an "Earlier" entry and its unchanged correction, made on a phone set to
Madrid for a patient who lives in New York, are stored at the instant the patient meant, in New York."""

from __future__ import annotations

from datetime import UTC, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from server.clinical.schedule import resolve_local
from server.models import DoseEvent

pytestmark = pytest.mark.e2e
NEW_YORK = ZoneInfo("America/New_York")


def _doses(live_server, patient_id: int) -> list[DoseEvent]:
    with Session(live_server.ctx.engine) as session:
        rows = session.exec(select(DoseEvent).where(DoseEvent.patient_id == patient_id).order_by(DoseEvent.id)).all()
    return list(rows)


def _utc(at):
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@pytest.mark.parametrize("language", ["en", "es"])
def test_an_earlier_dose_on_a_madrid_phone_is_stored_at_the_new_york_instant(
    browser, phone_device, live_server, sign_in, language
):
    yesterday = live_server.ctx.clock.now().astimezone(NEW_YORK).date() - timedelta(days=1)
    patient = live_server.create_patient(first_name="Marta", language=language, day1=yesterday.weekday())
    context = browser.new_context(**{**phone_device, "timezone_id": "Europe/Madrid"})
    try:
        page = context.new_page()
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Europe/Madrid"
        sign_in(page, patient)
        page.goto(live_server.url("/log/dose"))
        page.locator("label.choice", has=page.locator("input[name=status][value=taken]")).click()
        page.locator("label.choice", has=page.locator("input[name=when][value=earlier]")).click()
        page.locator("#day").select_option(index=1)  # yesterday, in the patient's zone
        page.locator("#time").fill("11:50")
        page.locator("form[data-entry=dose] button.btn").last.click()
        expect(page.locator(".advice")).to_be_visible()

        meant = resolve_local(yesterday, time(11, 50), NEW_YORK).astimezone(UTC)
        [first] = _doses(live_server, patient.id)
        assert _utc(first.at) == meant

        # An unchanged correction keeps that instant (it moved to 03:50 on a Madrid phone before).
        page.goto(live_server.url(f"/log/dose?correct={first.id}"))
        page.locator("form[data-entry=dose] button.btn").last.click()
        expect(page.locator(".advice")).to_be_visible()
        original, correction = _doses(live_server, patient.id)
        assert correction.corrects_id == original.id
        assert _utc(correction.at) == meant
    finally:
        context.close()
