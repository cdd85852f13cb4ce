"""The `companion` commands run: each has --help, and the ones that finish do their job."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from server.cli import cli
from server.db import create_db_engine
from server.models import Staff

COMMANDS = ["serve", "worker", "migrate", "demo", "create-staff", "backup", "restore"]


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return {"DATABASE_URL": url, "COMPANION_VAR_DIR": str(tmp_path / "var"), "COMPANION_ENV": "development"}


def test_demo_is_refused_in_production_and_creates_nothing(env):
    production = {
        **env,
        "COMPANION_ENV": "production",
        "SECRET_KEY": "production-secret-that-is-long-enough-012345",
        "PUBLIC_BASE_URL": "https://companion.example.org",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "tok",
        "TWILIO_FROM_NUMBER": "+15555550199",
    }
    runner = CliRunner(env=production)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "refused in production" in result.output
    with Session(create_db_engine(env["DATABASE_URL"])) as session:
        assert session.exec(select(Staff)).all() == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_migrate_demo_and_create_staff(env):
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    demo = runner.invoke(cli, ["demo"])
    assert demo.exit_code == 0, demo.output
    assert "nurse@demo.clinic" in demo.output
    created = runner.invoke(
        cli,
        [
            "create-staff",
            "--email",
            "New@Example.org",
            "--name",
            "New Nurse",
            "--role",
            "nurse",
            "--password",
            "a-long-enough-password",
        ],
    )
    assert created.exit_code == 0, created.output
    with Session(create_db_engine(env["DATABASE_URL"])) as session:
        assert session.exec(select(Staff).where(Staff.email == "new@example.org")).one().role == "nurse"


def test_create_staff_rejects_a_short_password_naming_the_option(env):
    runner = CliRunner(env=env)
    runner.invoke(cli, ["migrate"])
    result = runner.invoke(
        cli, ["create-staff", "--email", "a@b.org", "--name", "A", "--role", "admin", "--password", "short"]
    )
    assert result.exit_code == 2
    assert "--password" in result.output and "12 characters" in result.output


def test_bad_setting_stops_with_one_sentence(env):
    result = CliRunner(env={**env, "DEFAULT_TIMEZONE": "Nowhere/Land"}).invoke(cli, ["migrate"])
    assert result.exit_code != 0
    assert "DEFAULT_TIMEZONE" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _companion(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_serve_with_worker_answers_healthz_and_stops_on_sigterm(env):
    CliRunner(env=env).invoke(cli, ["migrate"])
    port = _free_port()
    proc = _companion(["serve", "--with-worker", "--port", str(port)], env)
    try:
        body = _wait_for(
            lambda: (
                (r := httpx.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                and r.json()["worker_heartbeat_age_s"] is not None
                and r.json()
            )
        )
        assert body["status"] == "ok" and body["worker_heartbeat_age_s"] < 30
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    # uvicorn re-raises SIGTERM after a clean shutdown, so the exit status is the signal itself.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "stopped" in output  # the embedded worker's scheduler shut down with the app


@pytest.mark.slow
def test_worker_process_beats_and_stops_cleanly_on_sigterm(env):
    CliRunner(env=env).invoke(cli, ["migrate"])
    proc = _companion(["worker"], env)
    engine = create_db_engine(env["DATABASE_URL"])
    from datetime import datetime

    from server.services.heartbeat import worker_heartbeat_age

    try:
        _wait_for(lambda: worker_heartbeat_age(engine, datetime.now(UTC)) is not None)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "stopped" in output


def test_serve_refuses_several_processes_on_sqlite(env):
    result = CliRunner(env=env).invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "SQLite serves from one process" in result.output
    by_setting = CliRunner(env={**env, "WEB_WORKERS": "3"}).invoke(cli, ["serve"])
    assert by_setting.exit_code == 2 and "SQLite" in by_setting.output


def test_serve_refuses_the_embedded_worker_in_several_processes(pg_url, env):
    result = CliRunner(env={**env, "DATABASE_URL": pg_url}).invoke(cli, ["serve", "--workers", "2", "--with-worker"])
    assert result.exit_code == 2
    assert "--with-worker runs the reminder worker in one process only" in result.output


@pytest.mark.slow
def test_serve_runs_several_processes_on_postgresql(pg_url, env):
    port = _free_port()
    proc = _companion(["serve", "--workers", "2", "--port", str(port)], {**env, "DATABASE_URL": pg_url})
    try:
        assert _wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert output.count("Application startup complete") == 2, output


def test_a_served_app_freezes_its_start_up_objects_once_started(env, monkeypatch):
    import gc

    import uvicorn

    from server.cli import YOUNG_COLLECTION_EVERY, settle_startup_objects, web_app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    assert CliRunner(env=env).invoke(cli, ["serve"]).exit_code == 0
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for app in (served[0], web_app()):  # one process, and each of `serve --workers N`
        assert app.on_startup[-1] is settle_startup_objects  # after the app's own start-up (and the worker's)
    thresholds = gc.get_threshold()
    try:
        settle_startup_objects()
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
    finally:
        gc.unfreeze()  # the test process builds many apps: none of them stays frozen
        gc.set_threshold(*thresholds)
