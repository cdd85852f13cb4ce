"""Helpers for the patient-app tests: a patient with a plan, and a browser-like client signed in as them.

Imported by the server tests (`from tests.support.patient import ...`); its fixtures are registered by tests/server/conftest.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.db import session_scope
from server.models import Clinic, Patient, TreatmentPlan, WeightEntry
from server.services.invites import create_sign_in_link

BASE_URL = "http://testserver.local"


def make_patient(
    engine,
    settings,
    now: datetime,
    *,
    mrn: str = "T-001",
    first_name: str = "Ana",
    language: str = "en",
    weight_unit: str = "kg",
    baseline_kg: float = 70.0,
    phone: str | None = "+15555550301",
    regimen: str = "Xd",
    level: int = 0,
    day1: int | None = None,
    dose_time: time = time(8, 0),
    status: str = "active",
    timezone: str = "America/New_York",
    start: date | None = None,
    weights: tuple[tuple[timedelta, float], ...] = (),
) -> Patient:
    """A patient with a plan; by default today (in their zone) is their Day 1, so a dose is due today."""
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo(timezone)).date()
    day1 = today.weekday() if day1 is None else day1
    with session_scope(engine) as session:
        clinic = session.exec(select(Clinic).where(Clinic.name == settings.clinic_name)).first()
        if clinic is None:
            clinic = Clinic(name=settings.clinic_name, phone=settings.clinic_phone, timezone=timezone, created_at=now)
            session.add(clinic)
            session.flush()
        patient = Patient(
            clinic_id=clinic.id,
            first_name=first_name,
            last_name="Test",
            date_of_birth=date(1950, 1, 1),
            mrn=mrn,
            phone_e164=phone,
            language=language,
            timezone=timezone,
            baseline_weight_kg=baseline_kg,
            weight_unit=weight_unit,
            created_at=now - timedelta(days=14),
        )
        session.add(patient)
        session.flush()
        session.add(
            TreatmentPlan(
                patient_id=patient.id,
                version=1,
                regimen=regimen,
                dose_level=level,
                status=status,
                start_date=start or today - timedelta(days=14),
                day1_weekday=day1,
                day3_weekday=(day1 + 2) % 7,
                dose_time=dose_time,
                antiemetic_name="ondansetron 8 mg",
                created_at=now - timedelta(days=14),
            )
        )
        for ago, kg in weights:
            session.add(
                WeightEntry(
                    patient_id=patient.id,
                    idempotency_key=f"{mrn}-w-{ago.total_seconds():.0f}",
                    at=now - ago,
                    kg=kg,
                    entered_value=kg,
                    entered_unit="kg",
                    recorded_at=now - ago,
                )
            )
    return patient


def sign_in_link(engine, patient: Patient, now: datetime, base_url: str = BASE_URL) -> str:
    with session_scope(engine) as session:
        return create_sign_in_link(session, session.get(Patient, patient.id), now=now, base_url=base_url)


class PatientBrowser:
    """A TestClient that behaves like the patient's phone: cookies, CSRF token in forms and in the JSON header."""

    def __init__(self, client: TestClient):
        self.client = client

    @property
    def csrf(self) -> str:
        if "csrftoken" not in self.client.cookies:
            self.client.get("/signin")
        return self.client.cookies["csrftoken"]

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def form(self, path: str, data: dict, **kwargs):
        return self.client.post(path, data={**data, "_csrf_token": self.csrf}, **kwargs)

    def api(self, method: str, path: str, json=None, **kwargs):
        headers = {"x-csrftoken": self.csrf, **kwargs.pop("headers", {})}
        return self.client.request(method, path, json=json, headers=headers, **kwargs)

    def sign_in(self, link: str):
        path = link.removeprefix(BASE_URL)
        page = self.get(path)
        assert page.status_code == 200, page.text
        return self.form(path, {}, follow_redirects=True)


def field_error(html: str, field: str) -> str:
    """The text of the error shown beside a field (empty when there is none)."""
    match = re.search(rf'<p class="error" id="{field}-error"(?P<hidden> hidden)?>(?P<text>[^<]*)</p>', html)
    assert match, f"no error slot for {field}"
    return "" if match.group("hidden") else match.group("text")


@pytest.fixture
def patient(engine, settings, clock) -> Patient:
    return make_patient(engine, settings, clock.now())


@pytest.fixture
def phone(app, engine, patient, clock):
    with TestClient(app, base_url=BASE_URL) as client:
        b = PatientBrowser(client)
        b.sign_in(sign_in_link(engine, patient, clock.now()))
        yield b


def stored(engine, model, patient_id: int) -> list:
    with Session(engine) as session:
        return list(session.exec(select(model).where(model.patient_id == patient_id)).all())
