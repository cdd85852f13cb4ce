"""The installable app: the service worker (at the root, so its scope is the whole app), the manifest, and the page
the worker shows offline. Public: a phone asks for them before and after sign-in alike."""

from __future__ import annotations

import json

from litestar import Request, Response, Router, get
from litestar.response import Template

from ...clinical import red_flags
from ...context import Ctx
from ...i18n import normalize_language, translate
from .assets import WEB_DIR, asset_version
from .deps import VIEWER_DEPENDENCY, MaybePatient
from .rendering import guest_language, page

SHELL_PAGES = ("/today", "/log/dose", "/log/symptoms", "/log/weight", "/history", "/learn", "/settings", "/offline")
RED_FLAGS_URL = "/static-data/red-flags.json"
SHELL_ASSETS = (
    "/static/patient/app.js",
    "/static/patient/queue.js",
    "/static/patient/redflags.js",
    "/manifest.webmanifest",
    "/static/patient/icons/icon-192.png",
    RED_FLAGS_URL,
)


@get("/sw.js", sync_to_thread=False)
def service_worker() -> Response:
    version = asset_version()
    assets = [f"{a}?v={version}" if a.startswith("/static/") else a for a in SHELL_ASSETS]
    source = (WEB_DIR / "static" / "sw.js").read_text()
    source = source.replace("__VERSION__", version).replace("__SHELL__", json.dumps(list(SHELL_PAGES) + assets))
    # no-cache: the browser checks for a new worker on every load, so a release reaches patients the same day.
    return Response(
        source,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@get(RED_FLAGS_URL, sync_to_thread=False)
def red_flags_table() -> Response:
    """The urgent patient-reported thresholds (server/clinical/red_flags.py), for the phone to check entries offline."""
    # no-cache: the service worker keeps its copy for offline use; online the phone always checks for a newer one.
    return Response(
        json.dumps(red_flags.as_json()), media_type="application/json", headers={"Cache-Control": "no-cache"}
    )


@get("/manifest.webmanifest", sync_to_thread=False)
def manifest(request: Request, viewer: MaybePatient) -> Response:
    lang = normalize_language((viewer.language if viewer else None) or guest_language(request))
    icons = [
        {
            "src": f"/static/patient/icons/icon-{size}.png",
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "any",
        }
        for size in (192, 512)
    ]
    icons.append(
        {
            "src": "/static/patient/icons/icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        }
    )
    # A neutral name on the home screen: people nearby need not learn the diagnosis or the drug.
    body = {
        "name": translate(lang, "My treatment companion"),
        "short_name": translate(lang, "Companion"),
        "lang": lang,
        "start_url": "/today",
        "scope": "/",
        "display": "standalone",
        "id": "/today",
        "background_color": "#ffffff",
        "theme_color": "#0b4f5c",
        "icons": icons,
    }
    return Response(json.dumps(body), media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


@get("/offline", sync_to_thread=False)
def offline_page(request: Request, ctx: Ctx, viewer: MaybePatient) -> Template:
    """Shown by the service worker when a page was never cached and there is no network."""
    return page(request, ctx, "patient/offline.html", patient=viewer)


ROUTER = Router(
    path="/",
    include_in_schema=False,
    dependencies=VIEWER_DEPENDENCY,
    route_handlers=[service_worker, red_flags_table, manifest, offline_page],
)
