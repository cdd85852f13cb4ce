"""The app runs under its own Content-Security-Policy: no page of the patient app triggers a CSP violation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

PAGES = ("/today", "/log/dose", "/log/symptoms", "/log/weight", "/history", "/learn", "/settings")


def test_patient_pages_load_their_scripts_without_csp_violations(page, live_server, sign_in):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    sign_in(page, live_server.create_patient(first_name="Cora"))
    for path in PAGES:
        response = page.goto(live_server.url(path))
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
    # The app's own script ran (it registers the service worker), so 'self' scripts are allowed.
    assert page.evaluate("'serviceWorker' in navigator && navigator.serviceWorker.getRegistration().then(r => !!r)")
    assert violations == []
