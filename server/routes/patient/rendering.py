"""What every patient page is rendered with: the page's language, the clinic's phone, the inlined CSS, and the
patient's own time zone for the days and times a form offers."""

from __future__ import annotations

import secrets
from datetime import date, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import phonenumbers
from litestar import Request
from litestar.background_tasks import BackgroundTask
from litestar.response import Template
from litestar.utils.scope.state import ScopeState
from sqlmodel import Session

from ...context import AppContext
from ...i18n import LANGUAGES, negotiate_language, normalize_language
from ...models import Patient, TreatmentPlan
from ...services.entries import MAX_ENTRY_AGE
from ...services.patient_state import current_plan, schedule_setup
from .assets import asset_version, patient_css

LEARN_TOPICS = ("how-to-take", "side-effects", "when-to-call", "food-and-fluids", "tests-and-weight")


def app_context(request: Request) -> AppContext:
    """The app context for exception handlers, which Litestar calls without dependencies (handlers declare `ctx`)."""
    return request.app.state.ctx


def guest_language(request: Request) -> str:
    """Before sign-in: ?lang=, else the browser's preference."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    return negotiate_language(request.headers.get("accept-language"))


@lru_cache(maxsize=256)  # the clinic's few numbers, formatted on every page and every entry's advice
def display_phone(e164: str) -> str:
    """A phone number as people write it in its country ('(555) 555-0100')."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def page(
    request: Request,
    ctx: AppContext,
    template: str,
    *,
    patient: Patient | None = None,
    lang: str | None = None,
    status_code: int = 200,
    background: BackgroundTask | None = None,
    **context: Any,
) -> Template:
    """A patient page in the patient's language (a guest's: ?lang= or the browser's)."""
    settings = ctx.settings
    lang = normalize_language(lang or (patient.language if patient else guest_language(request)))
    return Template(
        template_name=template,
        status_code=status_code,
        background=background,
        context={
            "lang": lang,
            "patient": patient,
            "clinic_name": settings.clinic_name,
            "clinic_phone": settings.clinic_phone,
            "clinic_phone_display": display_phone(settings.clinic_phone),
            "asset_version": asset_version(),
            "emergency_number": settings.emergency_number,
            "path": request.url.path,
            "patient_css": patient_css(),
            "learn_topics": LEARN_TOPICS,
            **context,
        },
    )


def new_key() -> str:
    """A fresh idempotency key for a form (a reload re-posts the same one; the entry is stored once)."""
    return secrets.token_urlsafe(16)


def plan_of(ctx: AppContext, patient: Patient) -> TreatmentPlan:
    """The patient's current treatment plan."""
    with Session(ctx.engine, expire_on_commit=False) as session:
        return current_plan(session, patient.id)


def patient_zone(ctx: AppContext, patient: Patient) -> tzinfo:
    """The time zone the patient's schedule runs in (the days and times of the forms)."""
    return schedule_setup(patient, plan_of(ctx, patient)).zone


def recent_days(ctx: AppContext, patient: Patient) -> list[date]:
    """The days an entry may be dated (today and the 6 before it, entries.MAX_ENTRY_AGE), newest first."""
    today = ctx.clock.now().astimezone(patient_zone(ctx, patient)).date()
    return [today - timedelta(days=n) for n in range(MAX_ENTRY_AGE.days)]


def submitted_form(request: Request) -> dict[str, str]:
    """The fields of the URL-encoded form this request posted, as typed (to show a refused form again)."""
    body = ScopeState.from_scope(request.scope).body  # read once already, when Litestar parsed the form
    if not isinstance(body, bytes):
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
