"""Browser tests: Debian's Chromium driven by Playwright (never `playwright install`) against a real server process.

Fixtures for every e2e test (patient app and care-team screens alike):
- `live_server`: uvicorn (`companion serve`) on 127.0.0.1 and a free port, with its own migrated SQLite database (or a
  PostgreSQL database when DATABASE_URL says so) and COMPANION_ENV=test. `live_server.ctx` is an AppContext on that
  database, to set up data through services; `live_server.create_patient()` and `live_server.sign_in_link()` help.
- `browser_type_launch_args` / `browser_context_args`: Debian's Chromium; a Pixel 5 phone at 390×844.
- `artifacts_dir`: tests/artifacts/e2e (gitignored) for screenshots.
Run them in their own pytest process (`make test-e2e`): sync Playwright and asyncio tests do not share a process.
Under CI=true a missing Chromium fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time as clock_time
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from server.clock import SystemClock
from server.context import AppContext
from server.db import create_db_engine, session_scope
from server.models import Clinic, Patient, TreatmentPlan, WeightEntry
from server.services.invites import create_sign_in_link
from server.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
CHROME_PATH = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SECRET_KEY = "e2e-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="session", autouse=True)
def _chromium_is_required():
    """Chromium is mandatory under CI=true; elsewhere its absence skips the browser tests."""
    found = Path(CHROME_PATH).exists() or shutil.which(CHROME_PATH) is not None
    if not found:
        if IN_CI:
            pytest.fail(f"Chromium ({CHROME_PATH}) is required under CI=true", pytrace=False)
        pytest.skip(f"Chromium ({CHROME_PATH}) not available")  # only outside CI: under CI=true it failed above


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROME_PATH, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def phone_device(playwright) -> dict:
    """A Pixel 5 (mobile, touch, its user agent) with the 390×844 viewport the patient app is designed for."""
    return {
        **playwright.devices["Pixel 5"],
        "viewport": dict(PHONE_VIEWPORT),
        "screen": dict(PHONE_VIEWPORT),
        "locale": "en-US",
        "timezone_id": "America/New_York",
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, phone_device):
    return {**browser_context_args, **phone_device}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "tests" / "artifacts" / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A running server and a way to arrange its data through services."""

    base_url: str
    ctx: AppContext
    log_path: Path
    _counter: list = field(default_factory=lambda: [0])

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def create_patient(
        self,
        *,
        first_name: str = "Ana",
        language: str = "en",
        weight_unit: str = "kg",
        baseline_kg: float = 70.0,
        timezone_name: str = "America/New_York",
        regimen: str = "Xd",
        level: int = 0,
        day1: int | None = None,
        dose_time: time = time(8, 0),
        status: str = "active",
        weights: tuple[tuple[timedelta, float], ...] = (),
    ) -> Patient:
        """A patient with a plan (by default today, in their zone, is their Day 1) and optional earlier weights."""
        self._counter[0] += 1
        n = self._counter[0]
        now = self.ctx.clock.now()
        today = now.astimezone(ZoneInfo(timezone_name)).date()
        day1 = today.weekday() if day1 is None else day1
        stamp = f"{os.getpid()}-{n}-{int(now.timestamp())}"
        with session_scope(self.ctx.engine) as session:
            clinic = session.exec(select(Clinic).where(Clinic.name == self.ctx.settings.clinic_name)).first()
            if clinic is None:
                clinic = Clinic(
                    name=self.ctx.settings.clinic_name,
                    phone=self.ctx.settings.clinic_phone,
                    timezone=timezone_name,
                    created_at=now,
                )
                session.add(clinic)
                session.flush()
            patient = Patient(
                clinic_id=clinic.id,
                first_name=first_name,
                last_name="E2E",
                date_of_birth=date(1950, 1, 1),
                mrn=f"E2E-{stamp}",
                phone_e164=f"+1555555{n:04d}",
                language=language,
                timezone=timezone_name,
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
                    start_date=today - timedelta(days=14),
                    day1_weekday=day1,
                    day3_weekday=(day1 + 2) % 7,
                    dose_time=dose_time,
                    antiemetic_name="ondansetron 8 mg",
                    created_at=now - timedelta(days=14),
                )
            )
            for i, (ago, kg) in enumerate(weights):
                session.add(
                    WeightEntry(
                        patient_id=patient.id,
                        idempotency_key=f"seed-{stamp}-{i}",
                        at=now - ago,
                        kg=kg,
                        entered_value=kg,
                        entered_unit="kg",
                        recorded_at=now - ago,
                    )
                )
        return patient

    def sign_in_link(self, patient: Patient) -> str:
        with session_scope(self.ctx.engine) as session:
            return create_sign_in_link(
                session, session.get(Patient, patient.id), now=self.ctx.clock.now(), base_url=self.base_url
            )


@pytest.fixture(scope="session")
def live_server(request, tmp_path_factory, artifacts_dir):
    """`companion serve` in its own process, on its own database; stopped at the end of the session."""
    workdir = tmp_path_factory.mktemp("live")
    if os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        database_url = request.getfixturevalue("_session_postgres_url")
    else:
        path = workdir / "live.sqlite3"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        database_url = f"sqlite:///{path}"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COMPANION_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_BASE_URL": base_url,
        "COMPANION_VAR_DIR": str(workdir / "var"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log_path = artifacts_dir / "live-server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_healthy(base_url, process, log_path)
        settings = load_settings(
            COMPANION_ENV="test",
            DATABASE_URL=database_url,
            SECRET_KEY=SECRET_KEY,
            PUBLIC_BASE_URL=base_url,
            COMPANION_VAR_DIR=str(workdir / "var"),
        )
        engine = create_db_engine(settings)
        yield LiveServer(
            base_url=base_url, ctx=AppContext(settings=settings, engine=engine, clock=SystemClock()), log_path=log_path
        )
        engine.dispose()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_healthy(base_url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    deadline = clock_time.monotonic() + timeout
    while clock_time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early; see {log_path}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        clock_time.sleep(0.2)
    raise RuntimeError(f"the server did not become healthy in {timeout:.0f} s; see {log_path}")


@pytest.fixture
def sign_in(live_server):
    """`sign_in(page, patient)`: open the patient's invite link and tap the button, as a patient would."""

    def open_app(page, patient: Patient):
        page.goto(live_server.sign_in_link(patient))
        page.locator("form[action^='/i/'] button").click()
        page.wait_for_url("**/today**")
        return page

    return open_app
