"""The clinic quality report in real Chromium (issue 14 item 3): a staff member opens the report for a period, the
charts render with their bars, a figure opens the patients behind it, the CSV downloads with the hand-worked figures,
and axe finds nothing on the report or the patient list. Data: tests/support/quality.py (every figure known)."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from server.models import Staff
from tests.support.quality import FROM, REPORTER, REPORTER_PASSWORD, TO, build_quality_clinic

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "en-US", "timezone_id": "America/New_York"}


def _quality_clinic(live_server) -> None:
    """The hand-made clinic, once per live server (its clinic and staff names are unique)."""
    with Session(live_server.ctx.engine) as session:
        if session.exec(select(Staff).where(Staff.email == REPORTER)).first() is not None:
            return
    build_quality_clinic(live_server.ctx.engine)


def test_the_report_renders_links_to_patients_downloads_csv_and_passes_axe(browser, live_server, artifacts_dir):
    from axe_playwright_python.sync_playwright import Axe

    _quality_clinic(live_server)
    context = browser.new_context(**DESKTOP, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(live_server.url("/staff/login"))
        page.get_by_label("Email").fill(REPORTER)
        page.get_by_label("Password").fill(REPORTER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/staff/inbox")

        page.goto(live_server.url(f"/staff/quality?from={FROM}&to={TO}"))
        expect(page.get_by_role("heading", name="Clinic quality report")).to_be_visible()
        expect(page.get_by_label("From", exact=True)).to_have_value(FROM)
        # Seven server-rendered charts, with bars carrying the hand-worked values and the trial's reference lines.
        charts = page.locator("figure.chart svg.quality-chart")
        expect(charts).to_have_count(7)
        expect(charts.first).to_be_visible()
        assert page.locator("svg.quality-chart rect.bar").count() > 10
        taken = page.locator('svg.quality-chart rect.bar[data-series="taken"][data-category="Mar 2026"]')
        expect(taken).to_have_attribute("data-value", "75")
        expect(page.locator("svg.quality-chart line.reference")).to_have_count(2)
        assert page.locator("svg.quality-chart rect.bar").first.bounding_box()["height"] > 0
        page.screenshot(path=artifacts_dir / "quality-01-report.png", full_page=False)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()

        # A figure opens the patients behind it, each with their own share.
        cell = page.locator('table[data-table="doses"] tr[data-row="2026-03"] td[data-column="taken"] a')
        expect(cell).to_have_text("75.0% (9/12)")
        cell.click()
        page.wait_for_url("**/staff/quality/patients?**")
        rows = page.locator("table.quality tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Archer, Ann")
        expect(rows.nth(0)).to_contain_text("3/5 doses")
        expect(rows.nth(1)).to_contain_text("Baker, Ben")
        expect(rows.nth(1)).to_contain_text("6/7 doses")
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        page.get_by_role("link", name="Back to the quality report").click()
        page.wait_for_url("**/staff/quality?**")

        # Every table as CSV, downloaded by the browser.
        with page.expect_download() as info:
            page.get_by_role("link", name="Download every table (CSV)").click()
        download = info.value
        assert download.suggested_filename == f"quality-report-{FROM}-{TO}.csv"
        lines = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
        start = lines.index(["Dose adherence"])
        assert lines[start + 1][:3] == ["row", "Scheduled doses", "Logged taken"]
        assert lines[start + 4] == [
            "Mar 2026",
            "12",
            "75.0% (9/12)",
            "8.3% (1/12)",
            "0.0% (0/12)",
            "16.7% (2/12)",
            "1",
        ]
    finally:
        context.close()
