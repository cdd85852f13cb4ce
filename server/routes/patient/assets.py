"""The files the patient app ships to the browser: their version (names the service worker's cache) and the CSS
inlined in every page."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from ...settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A hash of everything the service worker caches: a new release gets a new cache, and no stale page."""
    digest = hashlib.sha256()
    # The red-flag table is in the shell too (/static-data/red-flags.json): a change to it is a new release.
    roots = [
        WEB_DIR / "static" / "patient",
        WEB_DIR / "static" / "sw.js",
        WEB_DIR / "templates",
        WEB_DIR / "translations",
        PROJECT_ROOT / "server" / "clinical" / "red_flags.py",
    ]
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def patient_css() -> str:
    """The app's stylesheet, inlined in every page."""
    # Inlined: the first screen paints from the first round trip, online or from the cache.
    return (WEB_DIR / "static" / "patient" / "app.css").read_text()
