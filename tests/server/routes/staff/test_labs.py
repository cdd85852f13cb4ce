"""Labs on the patient's page (issue 12 item 3): the collection date and time (default now, in the clinic's zone),
findings in words, the labs table, SVG trends with the rules' lines, and a weight chart whose axis starts at the data."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from server.models import LabResult
from tests.support.patient import make_patient
from tests.support.staff import PHARMACIST, patient_by_mrn, post_form, seed, sign_in
from tests.support.staff import text_of as _text_of

MARIA = "DEMO-001"


def text_of(page: str) -> str:
    return html.unescape(_text_of(page))


@pytest.fixture
def staff(client, engine, settings, clock):
    seed(engine, settings, clock)
    sign_in(client, PHARMACIST)
    return client


def test_lab_entry_takes_the_collection_time_and_says_the_finding_in_words(staff, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    form = staff.get(f"/staff/patients/{maria.id}").text
    # Default: now in the clinic's zone (the demo clinic is in New York; the clock says 14:00 UTC = 09:00 EST).
    assert 'name="collected_time" type="time" value="09:00"' in form and "Collection time (America/New_York)" in form
    answer = post_form(
        staff,
        f"/staff/patients/{maria.id}/labs",
        {
            "collected_on": "2026-03-02",
            "collected_time": "07:45",
            "sodium_mmol_l": "129",
            "platelets_10e9_l": "60",
            "key": "lab-time-0001",
        },
    )
    words = text_of(answer.text)
    assert "Sodium 129 mmol/L: interrupt (R-NA)" in words
    assert re.search(r"Platelets 60 ×10⁹/L: [a-z ]+ \(R-PLT-75\)", words)
    with Session(engine) as session:
        [lab] = session.exec(select(LabResult)).all()
    assert lab.collected_at == datetime(2026, 3, 2, 12, 45, tzinfo=UTC)  # 07:45 EST
    later = post_form(
        staff,
        f"/staff/patients/{maria.id}/labs",
        {"collected_on": "2026-03-02", "collected_time": "11:00", "sodium_mmol_l": "135", "key": "lab-time-0002"},
    )
    assert later.status_code == 422 and "The collection time is in the future." in text_of(later.text)


def test_the_patient_page_shows_a_labs_table_and_trends_with_the_rules_lines(staff, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    for n, (day, sodium, platelets) in enumerate(
        (("2026-02-16", 136, 150), ("2026-02-23", 132, 90), ("2026-03-02", 129, 70))
    ):
        post_form(
            staff,
            f"/staff/patients/{maria.id}/labs",
            {
                "collected_on": day,
                "collected_time": "08:00",
                "sodium_mmol_l": str(sodium),
                "platelets_10e9_l": str(platelets),
                "key": f"lab-trend-{n}",
            },
        )
    page = staff.get(f"/staff/patients/{maria.id}").text
    table = text_of(page.split('id="lab-table-title"')[1].split("</table>")[0])
    assert table.index("Mon 02 Mar 08:00") < table.index("Mon 23 Feb 08:00")  # newest first
    assert "129" in table and "132" in table and "136" in table
    charts = page.split('class="lab-charts"')[1].split("</div>")[0]
    assert charts.count("<svg") == 4
    sodium, platelets, anc, hemoglobin = re.findall(r"<svg.*?</svg>", charts)
    assert 'aria-label="Sodium trend in mmol/L, latest 129 mmol/L"' in sodium and sodium.count("<circle") == 3
    assert ">130</text>" in sodium and sodium.count('class="threshold"') == 1
    assert ">75</text>" in platelets and ">25</text>" in platelets
    assert ">1.0</text>" in anc and ">0.5</text>" in anc and "No results yet" in anc
    assert ">8.0</text>" in hemoglobin


def test_the_weight_chart_axis_starts_at_the_first_weight(staff, engine, settings, clock):
    now = clock.now()
    patient = make_patient(
        engine, settings, now, mrn="CHART-1", weights=((timedelta(days=3), 70.0), (timedelta(days=1), 69.0))
    )
    svg = staff.get(f"/staff/patients/{patient.id}/weight.svg").text
    first_label = re.findall(r'text-anchor="start" fill="#555">([^<]+)</text>', svg)
    assert first_label == ["27 Feb"]  # the first weight (3 days ago, New York), not 8 weeks of empty plot
