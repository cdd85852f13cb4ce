"""Offline: the service worker opens the app without a connection, entries wait in IndexedDB, and when the
connection returns the server gets each of them exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from e2e_support import wait_for_js
from playwright.sync_api import expect
from sqlmodel import Session, select

from server.models import AntiemeticEvent, DoseEvent, SymptomReport, WeightEntry

pytestmark = pytest.mark.e2e
TABLES = (DoseEvent, AntiemeticEvent, SymptomReport, WeightEntry)


def _entries(live_server, patient_id: int) -> list[str]:
    keys = []
    with Session(live_server.ctx.engine) as session:
        for model in TABLES:
            keys += [row.idempotency_key for row in session.exec(select(model).where(model.patient_id == patient_id))]
    return keys


def _wait_for_service_worker(page) -> None:
    # Installed (the shell is cached during install) and in control of this page.
    wait_for_js(page, "navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout_ms=15000)
    page.evaluate("navigator.serviceWorker.ready")


def test_entries_made_offline_reach_the_server_once_each(page, context, live_server, artifacts_dir):
    patient = live_server.create_patient(first_name="Olga", weights=((timedelta(days=1), 70.0),))
    page.goto(live_server.sign_in_link(patient))
    page.get_by_role("button", name="Open my app").click()
    page.wait_for_url("**/today**")
    _wait_for_service_worker(page)
    before = _entries(live_server, patient.id)

    # No connection at all (this also cuts the service worker's network): Today still opens, from the cache.
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Today is a selinexor day")).to_be_visible()

    # Three entries, offline.
    page.get_by_role("button", name="I took my anti-nausea medicine").click()
    expect(page.get_by_text("Saved on this phone")).to_be_visible()
    page.goto(live_server.url("/log/symptoms"))
    page.locator("fieldset", has_text="Nausea today").get_by_text("Mild, eating as usual").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved on this phone")).to_be_visible()
    page.goto(live_server.url("/log/weight"))
    page.get_by_label("Your weight in kg").fill("69.4")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved on this phone")).to_be_visible()
    expect(page.locator("#queue-count")).to_have_text("3 entries waiting to send")
    page.screenshot(path=artifacts_dir / "offline-01-waiting.png", full_page=True)
    queued = page.evaluate("CompanionQueue.all().then(items => items.map(i => i.key))")
    assert len(queued) == 3 and len(set(queued)) == 3
    assert _entries(live_server, patient.id) == before  # nothing reached the server

    # Back online: the `online` event (and Background Sync, where it fires) send the queue; the server keeps each once.
    context.set_offline(False)
    expect(page.locator("#queue")).to_be_hidden(timeout=20000)
    wait_for_js(page, "CompanionQueue.all().then(items => items.length === 0)", timeout_ms=20000)
    page.reload()  # a page load sends the queue again if anything were left: still once each
    wait_for_js(page, "CompanionQueue.all().then(items => items.length === 0)", timeout_ms=20000)
    after = _entries(live_server, patient.id)
    new = [key for key in after if key not in before]
    assert sorted(new) == sorted(queued), "the server holds exactly the three queued entries"
    with Session(live_server.ctx.engine) as session:
        assert session.exec(select(WeightEntry).where(WeightEntry.idempotency_key.in_(queued))).one().kg == 69.4
        assert session.exec(select(SymptomReport).where(SymptomReport.idempotency_key.in_(queued))).one().nausea == 1


def test_a_replayed_entry_is_stored_once(page, live_server):
    """The queue sends an entry whose first answer was lost: the server answers with the stored one (200)."""
    patient = live_server.create_patient(first_name="Iris")
    page.goto(live_server.sign_in_link(patient))
    page.get_by_role("button", name="Open my app").click()
    page.wait_for_url("**/today**")
    statuses = page.evaluate("""async () => {
        const item = {key: 'replay-' + Date.now(), kind: 'antiemetic', url: '/api/antiemetics', patient: document.body.dataset.patient,
                      body: {idempotency_key: 'replay-' + Date.now(), at: new Date().toISOString()}, created: Date.now(), status: 'pending'};
        item.body.idempotency_key = item.key;
        const send = () => fetch(item.url, {method: 'POST', credentials: 'same-origin', body: JSON.stringify(item.body),
            headers: {'Content-Type': 'application/json', 'x-csrftoken': CompanionQueue.csrfFromCookie()}}).then(r => r.status);
        return Promise.all([send(), send(), send()]);
    }""")
    assert sorted(statuses) == [200, 200, 201]
    with Session(live_server.ctx.engine) as session:
        assert len(session.exec(select(AntiemeticEvent).where(AntiemeticEvent.patient_id == patient.id)).all()) == 1
