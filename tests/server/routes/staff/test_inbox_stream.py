"""The live inbox stream keeps working whatever browsers do to it (issue 12: a new alert within 2 s).

On PostgreSQL the events travel through LISTEN/NOTIFY. A browser that opens the inbox and leaves at once (a click
to another page) drops its stream while the server is still subscribing it; that must not stop the events of every
other open inbox for the rest of the server's life. A listening connection the database closed is opened again, and
the open streams are told to re-read the list (what happened in between is not lost, only late).
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
import sqlalchemy as sa

from server.app import create_app
from server.clock import SystemClock
from server.db import create_db_engine
from server.settings import load_settings
from tests.support.staff import NURSE, LiveServer, SseReader, http_sign_in, patient_by_mrn, seed

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(pg_url, tmp_path, clock):
    settings = load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=pg_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL="http://testserver.local",
    )
    engine = create_db_engine(pg_url)
    seed(engine, settings, clock)
    try:
        yield create_app(settings, engine=engine, clock=SystemClock()), engine
    finally:
        engine.dispose()


def _dropped_streams(http: httpx.Client, times: int) -> None:
    """Ask for the stream and hang up before it answers, as a browser leaving the inbox at once does (its first
    bytes come only once the server has subscribed it, so the hang-up lands while it subscribes)."""
    url = httpx.URL(str(http.base_url))
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    request = (
        f"GET /staff/inbox/stream HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nAccept: text/event-stream\r\n"
        f"Cookie: {cookie}\r\n\r\n"
    ).encode()
    for n in range(times):
        with socket.create_connection((url.host, url.port)) as sock:
            sock.sendall(request)
            time.sleep(0.01 * (n % 10))  # somewhere in the subscribing


def _publish(app, patient_id: int, alert_id: int) -> float:
    app.state.ctx.publish(
        "inbox", {"alert_id": alert_id, "patient_id": patient_id, "kind": "created", "tier": "urgent"}
    )
    return time.perf_counter()


def test_streams_dropped_while_subscribing_do_not_stop_the_events_of_open_inboxes(pg_app):
    app, engine = pg_app
    maria = patient_by_mrn(engine, "DEMO-001")
    with LiveServer(app) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        http_sign_in(http, NURSE)
        for round_ in range(3):
            _dropped_streams(http, 15)
            with SseReader(http) as stream:
                sent = _publish(app, maria.id, 1000 + round_)
                data, arrived = stream.next_event("alert", timeout=2)
                assert json.loads(data)["alert_id"] == 1000 + round_
                assert arrived - sent < 1.0


def test_a_lost_listening_connection_is_reopened_and_open_inboxes_are_told_to_resync(pg_app):
    app, engine = pg_app
    maria = patient_by_mrn(engine, "DEMO-001")
    with LiveServer(app) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        http_sign_in(http, NURSE)
        with SseReader(http) as stream:
            # The database ends the app's LISTEN session (a restart, a failover, an idle-session killer).
            with engine.connect() as conn:
                ended = conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'"
                    )
                ).scalar_one()
            assert ended == 1
            stream.next_event("resync", timeout=10)  # the page re-reads its list: nothing missed stays missed
            sent = _publish(app, maria.id, 2000)
            data, arrived = stream.next_event("alert", timeout=2)
            assert json.loads(data)["alert_id"] == 2000
            assert arrived - sent < 1.0
