"""Prometheus metrics: off by default, token-protected when on, with request latency by route and domain figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import SQLModel

from server.app import create_app
from server.db import session_scope
from server.settings import load_settings

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_client(database_url, engine, clock, tmp_path):
    settings = load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        METRICS_TOKEN=TOKEN,
    )
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client


def _alert(engine, *, tier: str, opened_at, acknowledged_at=None, status="open", patient_id: int, family: str):
    table = SQLModel.metadata.tables["alert"]
    with session_scope(engine) as session:
        session.execute(
            table.insert().values(
                patient_id=patient_id,
                family=family,
                rule="R-FEVER",
                tier=tier,
                action="evaluate",
                status=status,
                facts="f",
                patient_advice="",
                opened_at=opened_at,
                updated_at=opened_at,
                acknowledged_at=acknowledged_at,
                page_level=0,
            )
        )


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_token(metrics_client):
    assert metrics_client.get("/metrics").status_code == 401
    assert metrics_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_report_latency_by_route_template_and_the_domain_figures(metrics_client, engine, clock):
    from tests.support.patient import make_patient

    patient = make_patient(engine, metrics_client.app.state.ctx.settings, clock.now(), mrn="MET-1")
    opened = clock.now() - timedelta(minutes=30)
    _alert(
        engine,
        tier="urgent",
        opened_at=opened,
        acknowledged_at=opened + timedelta(minutes=10),
        status="acknowledged",
        patient_id=patient.id,
        family="fever",
    )
    _alert(engine, tier="same_day", opened_at=opened, patient_id=patient.id, family="weight")
    metrics_client.get("/healthz")
    metrics_client.get("/i/secret-token-that-must-not-appear")
    body = metrics_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'companion_open_alerts{tier="urgent"} 1.0' in body
    assert 'companion_open_alerts{tier="same_day"} 1.0' in body
    assert 'companion_alert_time_to_acknowledge_seconds{quantile="0.5",tier="urgent"} 600.0' in body
    assert "companion_outbox_due_lag_seconds 0.0" in body
    assert "companion_request_duration_seconds" in body
    assert "secret-token-that-must-not-appear" not in body
