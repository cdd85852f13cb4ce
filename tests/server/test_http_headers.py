"""Every response carries the security headers, error pages included; nothing with patient data is cached."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.settings import load_settings

PRODUCTION = {
    "COMPANION_ENV": "production",
    "SECRET_KEY": "production-secret-that-is-long-enough-0123456789",
    "PUBLIC_BASE_URL": "https://companion.example.org",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "tok",
    "TWILIO_FROM_NUMBER": "+15555550199",
}


def _csp(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page", 404),
        ("DELETE", "/healthz", 405),
        ("GET", "/today", 401),
        ("POST", "/api/doses", 403),  # refused by CSRF before anything else
    ],
)
def test_every_response_carries_the_security_headers(client, method, path, status):
    response = client.request(method, path, headers={"accept": "application/json"})
    assert response.status_code == status
    csp = _csp(response)
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_static_assets_may_be_cached_and_hsts_is_off_outside_production(client):
    response = client.get("/static/patient/app.js")
    assert response.status_code == 200
    assert response.headers.get("cache-control") != "no-store"
    assert "strict-transport-security" not in response.headers


def test_production_sends_hsts_and_serves_no_api_schema(engine, database_url, tmp_path, clock):
    settings = load_settings(**PRODUCTION, DATABASE_URL=database_url, COMPANION_VAR_DIR=str(tmp_path))
    with TestClient(
        create_app(settings, engine=engine, clock=clock), base_url="https://companion.example.org"
    ) as client:
        health = client.get("/healthz")
        assert health.headers["strict-transport-security"].startswith("max-age=31536000")
        assert client.get("/schema/openapi.json").status_code == 404
        assert client.get("/schema").status_code == 404


def test_the_api_schema_is_served_outside_production(client):
    assert client.get("/schema/openapi.json").status_code == 200
