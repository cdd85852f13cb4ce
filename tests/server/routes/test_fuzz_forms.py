"""A fuzzer over every HTML form: each page's POST forms are found in the page itself, then submitted with hostile
values in every field they name (and with fields left out); no answer may be 5xx. Patient forms as the signed-in
patient, staff forms as an administrator (who may use every one). Bounded so the walk takes seconds; runs on
whichever database the suite runs on.
"""

from __future__ import annotations

import html
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from tests.support.fuzz import form_values
from tests.support.patient import BASE_URL, PatientBrowser, sign_in_link
from tests.support.staff import ADMIN, csrf_token, seed, sign_in

EXAMPLES_PER_FORM = 6
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_NAME = re.compile(r"<(?:input|select|textarea)\b[^>]*\bname=\"([^\"]+)\"", re.I)
# Forms that would end the session the walk runs in (each is covered by its own tests).
SKIP = ("logout", "signout", "sign-out", "deactivate", "revoke", "reset-second-factor", "/activate")


def _forms(page: str) -> list[tuple[str, list[str]]]:
    found = []
    for attrs, body in _FORM.findall(page):
        if 'method="post"' not in attrs.lower():
            continue
        action = re.search(r'action="([^"]*)"', attrs)
        names = sorted({n for n in _NAME.findall(body) if n != "_csrf_token"})
        if action and action.group(1).startswith("/") and not any(s in action.group(1) for s in SKIP):
            found.append((html.unescape(action.group(1)), names))
    return found


def _walk(client: TestClient, token, pages: list[str]) -> list[str]:
    forms = {}
    for path in pages:
        answer = client.get(path, headers={"Accept": "text/html"})
        assert answer.status_code == 200, path
        forms.update({action: names for action, names in _forms(answer.text)})
    assert forms, "no forms found"
    print(f"fuzzing {len(forms)} forms: {sorted(forms)}")
    failures: list[str] = []
    for action, names in sorted(forms.items()):
        _fuzz_one_form(client, token, action, names, failures)
    return failures


def test_no_patient_form_input_answers_5xx(app, engine, patient, clock):  # noqa: F811
    with TestClient(app, base_url=BASE_URL) as client:
        browser = PatientBrowser(client)
        browser.sign_in(sign_in_link(engine, patient, clock.now()))
        failures = _walk(
            client, lambda: browser.csrf, ["/today", "/log/dose", "/log/symptoms", "/log/weight", "/settings"]
        )
    assert not failures, "\n".join(failures[:10])


def test_no_sign_in_form_input_answers_5xx(app):
    with TestClient(app, base_url=BASE_URL) as client:
        browser = PatientBrowser(client)
        failures = _walk(client, lambda: browser.csrf, ["/signin", "/staff/login"])
    assert not failures, "\n".join(failures[:10])


def test_no_staff_form_input_answers_5xx(app, client, engine, settings, clock):
    demo = seed(engine, settings, clock)
    sign_in(client, ADMIN)
    pid = demo["patient_ids"][0]
    failures = _walk(
        client,
        lambda: csrf_token(client),
        [
            "/staff/inbox",
            "/staff/patients",
            "/staff/patients/new",
            f"/staff/patients/{pid}",
            "/staff/account",
            "/staff/admin/staff",
        ],
    )
    assert not failures, "\n".join(failures[:10])


def _fuzz_one_form(client, token, action: str, names, failures: list[str]) -> None:
    """Submit hostile values to one form; every 5xx is recorded in `failures`."""

    @settings(
        max_examples=EXAMPLES_PER_FORM,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.fixed_dictionaries({}, optional={name: form_values for name in names}))
    def submit(data):
        answer = client.post(
            action, data={**data, "_csrf_token": token()}, headers={"Accept": "text/html"}, follow_redirects=False
        )
        if answer.status_code >= 500:
            failures.append(f"POST {action} {data!r:.300}: {answer.status_code}")

    submit()
