"""The quality report's pages: the figures in the page, the charts' data and the CSV are the hand-worked ones;
every figure links to its patients (this clinic's only); every view is audited; bad dates are a 422 naming the field."""

from __future__ import annotations

import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from server.db import session_scope
from server.models import AuditLog, Patient
from server.routes.staff.quality import spreadsheet_safe
from tests.server.services.pqi.test_quality_report import EXPECTED
from tests.support.quality import FROM, REPORT_NOW, REPORTER, REPORTER_PASSWORD, TO, build_quality_clinic
from tests.support.staff import sign_in, text_of


def _signed_in(client, engine, clock):
    ids = build_quality_clinic(engine)
    clock.set(REPORT_NOW)
    assert sign_in(client, REPORTER, REPORTER_PASSWORD).status_code in (302, 303)
    return ids


def _cell(html: str, table: str, row: str, column: str) -> str:
    body = html.split(f'data-table="{table}"', 1)[1].split("</table>", 1)[0]
    row_html = body.split(f'data-row="{row}"', 1)[1].split("</tr>", 1)[0]
    cell = row_html.split(f'data-column="{column}">', 1)[1].split("</td>", 1)[0]
    return text_of(cell).strip()


def test_the_page_shows_the_hand_worked_figures_and_charts(client, engine, clock):
    _signed_in(client, engine, clock)
    answer = client.get(f"/staff/quality?from={FROM}&to={TO}")
    assert answer.status_code == 200
    html = answer.text
    wrong = {key: _cell(html, *key) for key, text in EXPECTED.items() if _cell(html, *key) != text}
    assert not wrong, wrong
    assert '<a href="/staff/quality"' in html and 'aria-current="page">Quality' in html
    assert "CBC: a CBC with differential, that is platelets, ANC and hemoglobin each recorded" in text_of(html)
    # The charts' data: months as categories, "no data" (never a zero bar) for the empty January.
    bars = re.findall(r'class="bar" data-series="([^"]+)" data-category="([^"]+)" data-value="([^"]+)"', html)
    assert ("before the dose", "Feb 2026", "50") in bars and ("before the dose", "Mar 2026", "90") in bars
    assert ("taken", "Mar 2026", "75") in bars and ("missed", "Mar 2026", "8.3") in bars
    assert ("reduced", "Mar 2026", "33.3") in bars and ("interrupted", "Feb 2026", "100") in bars
    assert ("checklist before the first dose", "Feb 2026", "100") in bars
    assert ("checklist before the first dose", "Mar 2026", "0") in bars
    assert ("teach-back passed", "Feb 2026", "0") in bars and ("teach-back passed", "Mar 2026", "50") in bars
    assert ("−5%", "Feb 2026", "100") in bars and ("CMP", "Mar 2026", "25") in bars
    assert not any(category == "Jan 2026" for _, category, _ in bars)
    assert 'class="no-data" data-series="before the dose" data-category="Jan 2026"' in html
    assert re.findall(r'class="reference" data-value="([^"]+)"', html) == ["49", "61"]
    # The by-patient table lists only the patients below 100% on the page (Ben's 6/6 is in the CSV).
    by_patient = html.split('data-table="antiemetic_by_patient"', 1)[1].split("</table>", 1)[0]
    assert "Archer, Ann (Q-001)" in by_patient and "Baker, Ben" not in by_patient
    assert "(1 of 1 below 100%, of 2 patients); the CSV lists every patient" in text_of(html)


def test_the_csv_holds_the_same_tables(client, engine, clock):
    _signed_in(client, engine, clock)
    answer = client.get(f"/staff/quality.csv?from={FROM}&to={TO}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(answer.text)))
    assert ["Dose adherence"] in lines
    start = lines.index(["Dose adherence"])
    assert lines[start + 1] == [
        "row",
        "Scheduled doses",
        "Logged taken",
        "Logged missed",
        "Logged vomited",
        "Not logged",
        "Wrong-day doses",
    ]
    assert lines[start + 2] == ["Jan 2026", "0", "no data", "no data", "no data", "no data", "0"]
    assert lines[start + 3] == ["Feb 2026", "4", "50.0% (2/4)", "25.0% (1/4)", "25.0% (1/4)", "0.0% (0/4)", "0"]
    assert lines[start + 4] == ["Mar 2026", "12", "75.0% (9/12)", "8.3% (1/12)", "0.0% (0/12)", "16.7% (2/12)", "1"]
    start = lines.index(["Start of therapy: checklist and teach-back"])
    assert lines[start + 1 : start + 6] == [
        ["row", "New starts", "Checklist complete before the first dose", "Teach-back passed"],
        ["Jan 2026", "0", "no data", "no data"],
        ["Feb 2026", "1", "100.0% (1/1)", "0.0% (0/1)"],
        ["Mar 2026", "2", "0.0% (0/2)", "50.0% (1/2)"],
        ["15 Jan 2026 – 31 Mar 2026", "3", "33.3% (1/3)", "33.3% (1/3)"],
    ]
    one = client.get(f"/staff/quality.csv?from={FROM}&to={TO}&table=antiemetic_by_patient")
    assert list(csv.reader(io.StringIO(one.text))) == [
        ["Anti-nausea medicine before selinexor, by patient (whole period)"],
        ["row", "Anti-nausea medicine before the dose"],
        ["Archer, Ann (Q-001)", "66.7% (4/6)"],
        ["Baker, Ben (Q-002)", "100.0% (6/6)"],
    ]


def test_the_csv_does_not_hand_a_spreadsheet_a_formula(client, engine, clock):
    ids = _signed_in(client, engine, clock)
    with session_scope(engine) as s:
        ann, ben = s.get(Patient, ids["ann"]), s.get(Patient, ids["ben"])
        ann.last_name = '=HYPERLINK("http://evil.example","x")'
        ben.last_name = "@SUM(1+1)"
        s.add_all([ann, ben])
    answer = client.get(f"/staff/quality.csv?from={FROM}&to={TO}&table=antiemetic_by_patient")
    assert list(csv.reader(io.StringIO(answer.text)))[2:] == [
        ['\'=HYPERLINK("http://evil.example","x"), Ann (Q-001)', "66.7% (4/6)"],
        ["'@SUM(1+1), Ben (Q-002)", "100.0% (6/6)"],
    ]
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet_safe(f"{start}1+1") == f"'{start}1+1"
    assert spreadsheet_safe("Archer, Ann") == "Archer, Ann" and spreadsheet_safe("50.0% (1/2)") == "50.0% (1/2)"


def test_a_figure_lists_its_patients_and_every_view_is_audited(client, engine, clock):
    ids = _signed_in(client, engine, clock)
    answer = client.get(f"/staff/quality/patients?from={FROM}&to={TO}&table=doses&row=2026-03&column=taken")
    assert answer.status_code == 200
    text = text_of(answer.text)
    assert "Archer, Ann" in text and "3/5 doses" in text and "Baker, Ben" in text and "6/7 doses" in text
    assert "Zimmer" not in text
    assert f'href="/staff/patients/{ids["ann"]}"' in answer.text
    started = client.get(f"/staff/quality/patients?from={FROM}&to={TO}&table=program&row=period&column=checklist")
    assert started.status_code == 200
    listed = text_of(started.text)
    assert "Archer, Ann" in listed and "Baker, Ben" in listed and "Carter, Cal" in listed
    assert "1/1 patients" in listed and listed.count("0/1 patients") == 2
    client.get(f"/staff/quality?from={FROM}&to={TO}")
    client.get(f"/staff/quality.csv?from={FROM}&to={TO}")
    with Session(engine) as session:
        actions = [(a.action, a.patient_id) for a in session.exec(select(AuditLog).order_by(AuditLog.id)).all()]
    assert ("quality.patients", ids["ann"]) in actions and ("quality.patients", ids["ben"]) in actions
    assert ("quality.view", None) in actions and ("quality.csv", None) in actions
    assert client.get(f"/staff/quality/patients?from={FROM}&to={TO}&table=doses&row=x&column=y").status_code == 404


def test_bad_dates_are_a_422_naming_the_field(client, engine, clock):
    _signed_in(client, engine, clock)
    page = client.get("/staff/quality?from=2026-02-30&to=2026-03-31")
    assert page.status_code == 422 and "From:" in text_of(page.text) and "not a date" in page.text
    backwards = client.get("/staff/quality?from=2026-03-31&to=2026-03-01")
    assert backwards.status_code == 422 and "on or before the end date" in backwards.text
    sheet = client.get("/staff/quality.csv?from=2026-01-01&to=tomorrow")
    assert sheet.status_code == 422 and sheet.json()["field"] == "to"
    assert client.get("/staff/quality.csv?from=2020-01-01&to=2026-03-31").json()["field"] == "to"
    # Years the date arithmetic cannot reach (a month before the start, the midnight after the end).
    for query in ("from=0001-01-01&to=0001-01-31", "from=9999-12-01&to=9999-12-31"):
        page = client.get(f"/staff/quality?{query}")
        assert page.status_code == 422 and "From: Choose a date between 2000 and 2099" in text_of(page.text)
        assert "To: Choose a date between 2000 and 2099" in text_of(page.text)
        sheet = client.get(f"/staff/quality.csv?{query}")
        assert sheet.status_code == 422 and sheet.json()["field"] == "from"
    late = client.get("/staff/quality.csv?from=2026-01-01&to=9999-12-31")
    assert late.status_code == 422 and late.json()["field"] == "to"


@pytest.mark.postgres
def test_many_reports_at_once_never_starve_their_own_reads_of_connections(pg_url, settings):
    # Each report holds its session's connection while its reads run side by side on more (side_by_side.py): with
    # a pool just big enough for REPORTS_AT_ONCE reports and the shared readers, ten at once still all finish (without
    # the bound, the first sessions take every connection and their reads time out).
    from types import SimpleNamespace

    from server.db import create_db_engine
    from server.routes.staff.quality import REPORTS_AT_ONCE, _report
    from server.services.pqi.side_by_side import READERS

    engine = create_db_engine(pg_url, pool_size=REPORTS_AT_ONCE + READERS, max_overflow=0, pool_timeout=5)
    try:
        ids = build_quality_clinic(engine)
        ctx = SimpleNamespace(engine=engine, settings=settings, clock=SimpleNamespace(now=lambda: REPORT_NOW))
        staff = SimpleNamespace(clinic_id=ids["clinic"])
        with ThreadPoolExecutor(10) as pool:
            reports = list(pool.map(lambda _: _report(ctx, staff, FROM, TO), range(10)))
        assert {r.table("doses").figure("period", "taken").text for r in reports} == {
            EXPECTED[("doses", "period", "taken")]
        }
    finally:
        engine.dispose()
