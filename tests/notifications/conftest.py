"""Fixtures for the worker's tests: a fake Twilio on a local port, settings pointing the real SDK at it, patients.

`settings` is overridden here so that every app, context and channel in these tests speaks to the fake provider
over HTTP with the real twilio SDK (helper-2's tests use their own `fake` and `channel` fixtures).
"""

from __future__ import annotations

import threading
import time as _time
from datetime import date, time

import pytest

from notifications.channels import Channels, build_channels
from server.context import AppContext
from server.db import session_scope
from server.models import Clinic, Patient, Staff, TreatmentPlan
from tests.fakes.sms_provider import FakeSmsProvider
from tests.support.notifications import NURSE_PAGER, PUBLIC_BASE_URL, companion_settings, free_port


@pytest.fixture
def sms_provider(clock):
    # The fake stamps accepted messages with the test's frozen clock, so "accepted at" is domain time.
    with FakeSmsProvider(seed=7, clock=clock.now) as provider:
        yield provider


@pytest.fixture
def settings(database_url, tmp_path, sms_provider):
    return companion_settings(database_url, tmp_path / "var", sms_provider)


@pytest.fixture
def published():
    return []


@pytest.fixture
def ctx(settings, engine, clock, published):
    return AppContext(
        settings=settings, engine=engine, clock=clock, publish=lambda channel, data: published.append((channel, data))
    )


@pytest.fixture
def channels(ctx):
    built: Channels = build_channels(ctx)
    yield built
    built.close()


@pytest.fixture
def clinic(ctx):
    """A clinic in New York with one nurse on call."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        clinic = Clinic(name="Riverside Oncology", phone="+15555550100", timezone="America/New_York", created_at=now)
        session.add(clinic)
        session.flush()
        session.add(
            Staff(
                clinic_id=clinic.id,
                email="nurse@riverside.test",
                name="Nina Nurse",
                role="nurse",
                password_hash="x",
                phone_e164=NURSE_PAGER,
                on_call_order=1,
                created_at=now,
            )
        )
        return clinic.id


_numbers = iter(range(1000, 10**6))


@pytest.fixture
def make_patient(ctx, clinic):
    """Create a consenting SMS patient with plan v1 (default: Xd level 0, Monday/Wednesday 08:00, New York)."""

    def make(
        *,
        regimen="Xd",
        level=0,
        status="active",
        start=date(2026, 3, 2),
        day1=0,
        dose_time=time(8, 0),
        tz="America/New_York",
        language="en",
        phone=None,
        **patient_fields,
    ) -> int:
        now = ctx.clock.now()
        with session_scope(ctx.engine) as session:
            fields = {"sms_consent": True, "sms_consent_at": now, "baseline_weight_kg": 70.0, **patient_fields}
            patient = Patient(
                clinic_id=clinic,
                first_name="Pat",
                last_name=f"Test{next(_numbers)}",
                date_of_birth=date(1950, 1, 1),
                mrn=f"MRN-{next(_numbers)}",
                phone_e164=phone or f"+1555{next(_numbers):07d}",
                language=language,
                timezone=tz,
                created_at=now,
                **fields,
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
                    start_date=start,
                    day1_weekday=day1,
                    day3_weekday=(day1 + 2) % 7,
                    dose_time=dose_time,
                    antiemetic_name="ondansetron 8 mg",
                    reason="enrollment",
                    created_at=now,
                )
            )
            return patient.id

    return make


@pytest.fixture
def live_server(app, sms_provider):
    """The app served by uvicorn on a local port; the fake posts webhooks there, signed for PUBLIC_BASE_URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = _time.monotonic() + 10
    while not server.started:
        if _time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        _time.sleep(0.02)
    local = f"http://127.0.0.1:{port}"
    sms_provider.route_callbacks(PUBLIC_BASE_URL, local)
    sms_provider.set_inbound_webhook(f"{PUBLIC_BASE_URL}/sms/inbound")
    yield local
    server.should_exit = True
    thread.join(timeout=10)
