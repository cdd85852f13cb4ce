"""The patient's pages besides the log forms: Today, History, Learn and Settings, with the settings' small forms."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from ...auth import requires_patient
from ...clinical.grading import QUESTIONS
from ...context import Ctx
from ...errors import NotFound
from ...i18n import N_, format_number, translate
from ...services import patient_settings, patient_views
from .advice import error_json
from .deps import PATIENT_DEPENDENCY, SignedInPatient, provide_patient
from .plan_notice import status_banner
from .rendering import LEARN_TOPICS, new_key, page, plan_of
from .schemas import LanguageIn, WeightUnitForm, field_errors
from .teach_back import questions_offered_on_today


@get("/today", sync_to_thread=True)
def today_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    view = patient_views.today_view(ctx.engine, patient, ctx.clock.now(), ctx.settings)
    return page(
        request,
        ctx,
        "patient/today.html",
        patient=patient,
        view=view,
        key=new_key,
        welcome=request.query_params.get("welcome") == "1",
        **status_banner(view, patient.language),
        confirmed=request.query_params.get("confirmed") == "1",
        teach_back_left=questions_offered_on_today(request, ctx, view),
    )


QUESTION_LABELS = {
    "nausea": N_("Nausea"),
    "vomiting_episodes": N_("Vomiting, last 24 hours"),
    "loose_stools": N_("Loose stools, last 24 hours"),
    "appetite": N_("Appetite"),
    "fatigue": N_("Tiredness"),
    "temperature_c": N_("Temperature"),
    "chills": N_("Chills or shaking"),
    "bleeding": N_("Bleeding or bruising"),
    "neuro": N_("Dizziness or confusion"),
    "vision_change": N_("Eyesight"),
}


def _answer_text(lang: str, name: str, value: Any) -> str:
    """A stored answer in the words of the question's choices (clinical-reference §5)."""
    if name in ("nausea", "appetite", "fatigue", "bleeding", "neuro"):
        label = next((c.label for c in QUESTIONS[name] if c.grade == value), str(value))
        return translate(lang, label)
    if name == "vision_change":
        return translate(lang, QUESTIONS["vision"][1 if value else 0].label)
    if name == "chills":
        return translate(lang, "Yes") if value else translate(lang, "No")
    if name == "temperature_c":
        return f"{format_number(value, lang)} °C ({format_number(value * 9 / 5 + 32, lang)} °F)"
    return format_number(value, lang, 0)


@get("/history", sync_to_thread=True)
def history_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    lang = patient.language
    view = patient_views.history_view(ctx.engine, patient, ctx.clock.now(), lang)
    return page(
        request,
        ctx,
        "patient/history.html",
        patient=patient,
        view=view,
        question=lambda name: translate(lang, QUESTION_LABELS[name]),
        answer=lambda name, value: _answer_text(lang, name, value),
    )


@get("/learn", sync_to_thread=True)
def learn_index(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    return page(request, ctx, "patient/learn.html", patient=patient, topic=None)


@get("/learn/{topic:str}", sync_to_thread=True)
def learn_topic(request: Request, ctx: Ctx, patient: SignedInPatient, topic: FromPath[str]) -> Template:
    if topic not in LEARN_TOPICS:
        raise NotFound("No such page.")
    # P-ANTIEMETIC: the page says the patient's own antiemetic timing, set by the care team
    return page(request, ctx, "patient/learn.html", patient=patient, topic=topic, plan=plan_of(ctx, patient))


@get("/settings", sync_to_thread=True)
def settings_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    return page(
        request,
        ctx,
        "patient/settings.html",
        patient=patient,
        vapid_public_key=patient_views.vapid_public_key(ctx.engine, ctx.clock.now()),
    )


def _back(request: Request, fallback: str = "/today") -> str:
    """Where to return after a small settings change: the same page of this site."""
    target = str(request.query_params.get("next") or "")
    return target if re.fullmatch(r"/[a-z0-9/_-]*", target) and not target.startswith("//") else fallback


@post("/settings/language", sync_to_thread=True, status_code=303)
def language_post(request: Request, ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[LanguageIn]) -> Redirect:
    patient_settings.set_language(ctx, patient.id, data.language)
    return Redirect(_back(request), status_code=303)


@post("/settings/unit", sync_to_thread=True, status_code=303)
def unit_post(ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[WeightUnitForm]) -> Redirect:
    patient_settings.set_weight_unit(ctx, patient.id, data.weight_unit)
    return Redirect("/settings", status_code=303)


def _setting_refused(request: Request, exc: ValidationException) -> Response:
    """A setting the model refuses (only a hand-made post can send one): 422 naming the field, as a service would."""
    patient = provide_patient(request)  # exception handlers get no dependencies; the guard has signed them in
    return error_json(patient.language, patient, field_errors(exc)[0])


ROUTER = Router(
    path="/",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    include_in_schema=False,
    route_handlers=[today_page, history_page, learn_index, learn_topic, settings_page, language_post, unit_post],
    exception_handlers={ValidationException: _setting_refused},
)
