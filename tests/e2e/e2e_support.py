"""Helpers shared by the browser tests."""

from __future__ import annotations

import time


def wait_for_js(page, expression: str, timeout_ms: float = 15000) -> None:
    """Poll a JavaScript expression until it is truthy.

    Playwright's `wait_for_function` evaluates its predicate with `eval` inside the page, which the app's
    Content-Security-Policy (`script-src 'self'`, no 'unsafe-eval') rightly refuses; `page.evaluate` runs through
    the DevTools protocol instead, so the tests keep the real CSP.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms} ms waiting for: {expression}")
        page.wait_for_timeout(100)
