"""Shared helpers for the care-team tests (imported as `test_staff_helpers`; it holds no tests itself)."""

from __future__ import annotations

import hashlib
import re

from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.testing import TestClient
from sqlmodel import Session, select

from server.context import AppContext
from server.demo import DEMO_PASSWORD, seed_demo
from server.models import Patient, Staff

NURSE = "nurse@demo.clinic"
PHARMACIST = "pharmacist@demo.clinic"
ADMIN = "admin@demo.clinic"
PASSWORD = DEMO_PASSWORD
CSRF_COOKIE = "csrftoken"


def seed(engine, settings, clock) -> dict:
    """The demo clinic: nurse (on call 1), pharmacist (on call 2), admin, and three patients."""
    return seed_demo(engine, settings, clock.now())


def staff_by_email(engine, email: str) -> Staff:
    with Session(engine) as session:
        return session.exec(select(Staff).where(Staff.email == email)).one()


def patient_by_mrn(engine, mrn: str) -> Patient:
    with Session(engine) as session:
        return session.exec(select(Patient).where(Patient.mrn == mrn)).one()


def csrf_token(client: TestClient) -> str:
    """The CSRF cookie (set by any GET); forms send it back as `_csrf_token`."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/staff/login")  # any page outside the CSRF-exempt paths sets the cookie
    return client.cookies[CSRF_COOKIE]


def post_form(client: TestClient, path: str, data: dict | None = None, **kwargs):
    form = {"_csrf_token": csrf_token(client), **(data or {})}
    return client.post(path, data=form, headers={"Accept": "text/html"}, **kwargs)


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    client.get("/staff/login")
    return post_form(client, "/staff/login", {"email": email, "password": password}, follow_redirects=False)


def session_config(settings) -> CookieBackendConfig:
    """The app's cookie-session config (same key derivation as server.app), to set sessions directly."""
    key = hashlib.sha256(f"session:{settings.secret()}".encode()).digest()
    return CookieBackendConfig(secret=key)


def ctx_for(settings, engine, clock, published: list | None = None) -> AppContext:
    sink = published if published is not None else []
    return AppContext(settings=settings, engine=engine, clock=clock, publish=lambda c, d: sink.append((c, d)))


def text_of(html: str) -> str:
    """Visible text of an HTML answer, whitespace collapsed (for readable assertions)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def sends_to_sign_in(client: TestClient, path: str = "/staff/inbox") -> bool:
    """True when a browser asking for `path` is sent to the staff sign-in page (no valid staff session)."""
    answer = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    return answer.status_code in (302, 303, 307) and answer.headers["location"].startswith("/staff/login")


class LiveServer:
    """The app served by uvicorn on a free local port in a background thread (for the SSE stream and benchmarks)."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn

        # An open SSE stream never finishes on its own: shutdown cancels it after a second, which uvicorn logs as
        # an error; "critical" keeps that expected noise out of the test output.
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="critical", lifespan="on", timeout_graceful_shutdown=1
            )
        )
        self._thread = threading.Thread(target=self._uvicorn.run, name="live-app", daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)


def http_sign_in(http, email: str, password: str = PASSWORD) -> None:
    """Sign in a plain httpx.Client (against a LiveServer) through the real form."""
    http.get("/staff/login")
    answer = http.post(
        "/staff/login",
        data={"_csrf_token": http.cookies[CSRF_COOKIE], "email": email, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


class SseReader:
    """Reads `event:`/`data:` pairs from a text/event-stream in a thread; `next_event(name)` waits for one."""

    def __init__(self, http, path: str = "/staff/inbox/stream") -> None:
        import queue
        import threading

        self.events: queue.Queue[tuple[str, str, float]] = queue.Queue()
        self._http, self._path = http, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._response = None

    def __enter__(self) -> SseReader:
        self._thread.start()
        self.next_event("hello", timeout=10)
        return self

    def _run(self) -> None:
        import httpx

        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def _read(self) -> None:
        import time

        with self._http.stream("GET", self._path, headers={"Accept": "text/event-stream"}, timeout=None) as response:
            self._response = response
            event = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    self.events.put((event, line[5:].strip(), time.perf_counter()))
                elif line == "":
                    event = ""

    def next_event(self, name: str, timeout: float = 5.0) -> tuple[str, float]:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event within {timeout} s")
            try:
                event, data, at = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event == name:
                return data, at

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.close()
        self._thread.join(timeout=0.5)  # a blocked read ends when the server goes away (daemon thread)
