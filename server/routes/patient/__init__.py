"""The patient web app (server-rendered pages) and its JSON API, as Routers for server.app.

Handlers are thin: they take a parsed model (schemas.py), call a service, render. Each Router sets its guard and its
dependencies once: `patient` (the signed-in patient) on the guarded ones, `viewer` (maybe nobody) on the public
ones, `ctx` from server.app. Modules:
- signin.py: invite links, sign-in by link or SMS, sign-out (public; pages and /api);
- pages.py: Today, History, Learn, Settings; entry_pages.py: the log forms;
- api.py: the JSON API under /api (the page scripts, the offline queue);
- plan_notice.py: the patient confirms a plan change ("I understand"), as a form and in the JSON API;
- teach_back.py: the schedule teach-back (issue 14 item 2), a few questions about the patient's own plan;
- pwa.py: service worker, manifest, offline page; assets.py: the asset version and inlined CSS;
- schemas.py: every form and body the patient app accepts; submit.py: an entry to the entries service;
- advice.py: advice and error messages in the patient's words; rendering.py: what every page is rendered with;
  deps.py: the dependency providers.
"""

from litestar import Router

from . import api, entry_pages, pages, plan_notice, pwa, signin, teach_back

ROUTES: list[Router] = [
    signin.PAGES_ROUTER,
    signin.API_ROUTER,
    pages.ROUTER,
    entry_pages.ROUTER,
    pwa.ROUTER,
    api.ROUTER,
    plan_notice.PAGES_ROUTER,
    plan_notice.API_ROUTER,
    teach_back.ROUTER,
]
