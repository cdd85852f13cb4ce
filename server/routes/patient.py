"""The patient web app (server-rendered pages) and its JSON API (/api/…), used by the pages' JavaScript and the
offline queue.

Handlers are thin: they map form fields or JSON bodies onto the entries service (flow 1 of the architecture), read
the Today/History read models, and render. Forms and the API share one mapping (`_submit`), so a form post, a fetch
from the page and a replay from the offline queue are the same entry with the same checks. The session decides whose
data is read or written; no URL carries a patient id, and an entry id of another patient is a 404.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any

import phonenumbers
from litestar import Request, Response, Router, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException, ValidationException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlmodel import Session

from ..auth import current_patient, requires_patient, sign_in_patient, sign_out
from ..clinical.grading import QUESTIONS, WEIGHT_CONFIRM_CHANGE_PCT, f_to_c
from ..clinical.rules import ROUTINE_TEXT, SAME_DAY_TEXT, URGENT_TEXT
from ..clinical.schedule import next_dose, next_dose_counted_from, next_dose_day_text
from ..context import AppContext
from ..errors import Conflict, FieldError, NotFound
from ..i18n import (LANGUAGES, N_, format_clock, format_day, format_number, localize_advice,
                    negotiate_language, normalize_language, translate)
from ..models import Patient, TreatmentPlan
from ..services import invites, patient_settings, patient_views
from ..services.entries import (ConfirmationRequired, EntryResult, SymptomAnswers, record_antiemetic, record_dose,
                                record_symptoms, record_weight)
from ..services.entries import NotMissedYet
from ..services.patient_state import current_plan, schedule_setup
from ..settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
EARLIEST_DAYS = 7  # entries may be dated up to 7 days back (entries.MAX_ENTRY_AGE)
# Per client address: asking for sign-in links (each sends an SMS) and trying tokens. In memory, per process.
SIGN_IN_RATE_LIMIT = RateLimitConfig(rate_limit=("hour", 10), set_rate_limit_headers=False)
LEARN_TOPICS = ("how-to-take", "side-effects", "when-to-call", "food-and-fluids", "tests-and-weight")


# The entries service's messages that a patient can see, so that the catalog carries them (server/services/entries.py).
SERVICE_SENTENCES = (
    N_("The time is in the future."),
    N_("The time is more than 7 days ago; tell your care team instead."),
    N_("Give the time with its time zone."),
    N_("Answer at least one question."),
    N_("No such entry to correct."),
    N_("That entry was already corrected; correct the latest version."),
    N_("Entries can be corrected for 24 hours; tell your care team instead."),
)


# --------------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------------


def _ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _patient(request: Request) -> Patient:
    patient = current_patient(request)
    if patient is None:  # requires_patient guards every caller; this keeps a mistake from reaching data
        raise NotAuthorizedException("Please sign in with the link your care team sent you.")
    return patient


def _guest_language(request: Request) -> str:
    """Before sign-in: ?lang=, else the browser's preference."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    return negotiate_language(request.headers.get("accept-language"))


def _display_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A hash of everything the service worker caches: a new release gets a new cache, and no stale page."""
    digest = hashlib.sha256()
    roots = [WEB_DIR / "static" / "patient", WEB_DIR / "static" / "sw.js", WEB_DIR / "templates",
             WEB_DIR / "translations"]
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def patient_css() -> str:
    # Inlined in every page: the first screen paints from the first round trip, online or from the cache.
    return (WEB_DIR / "static" / "patient" / "app.css").read_text()


def _page(request: Request, template: str, *, patient: Patient | None = None, lang: str | None = None,
          status_code: int = 200, background: BackgroundTask | None = None, **context: Any) -> Template:
    settings = _ctx(request).settings
    lang = normalize_language(lang or (patient.language if patient else _guest_language(request)))
    return Template(template_name=template, status_code=status_code, background=background, context={
        "lang": lang, "patient": patient, "clinic_name": settings.clinic_name, "clinic_phone": settings.clinic_phone,
        "clinic_phone_display": _display_phone(settings.clinic_phone), "asset_version": asset_version(),
        "path": request.url.path, "patient_css": patient_css(), "learn_topics": LEARN_TOPICS, **context,
    })


def _new_key() -> str:
    return secrets.token_urlsafe(16)


# --------------------------------------------------------------------------------------------------------------------
# One mapping for forms, the JSON API and the offline queue
# --------------------------------------------------------------------------------------------------------------------


def _int(field: str, value: Any, message: str = N_("Enter a whole number.")) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(field, message)
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        raise FieldError(field, message) from None
    if number != int(number):
        raise FieldError(field, message)
    return int(number)


def _float(field: str, value: Any, message: str = N_("Enter a number.")) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(field, message)
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError:
        raise FieldError(field, message) from None


def _bool(field: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise FieldError(field, N_("Choose yes or no."))


def _choice(question: str, value: Any) -> Any:
    """A §5 choice value ('eating_less') -> its grade; None when not answered."""
    if value is None or value == "":
        return None
    for choice in QUESTIONS[question]:
        if choice.value == value:
            return choice.grade
    raise FieldError(question, "Choose one of the answers.")


def _symptom_answers(body: dict[str, Any]) -> SymptomAnswers:
    """The check-in's answers as the entries service takes them (clinical-reference §5)."""
    temperature = _float("temperature", body.get("temperature"))
    unit = (body.get("temperature_unit") or "c").lower()
    if unit not in ("c", "f"):
        raise FieldError("temperature_unit", "Unit must be c or f.")
    if temperature is not None and unit == "f":
        temperature = round(f_to_c(temperature), 2)
    vision = body.get("vision")
    if vision not in (None, "", "none", "changed"):
        raise FieldError("vision", "Choose one of the answers.")
    return SymptomAnswers(
        nausea=_choice("nausea", body.get("nausea")),
        vomiting_episodes=_int("vomiting_episodes", body.get("vomiting_episodes")),
        loose_stools=_int("loose_stools", body.get("loose_stools")),
        appetite=_choice("appetite", body.get("appetite")),
        fatigue=_choice("fatigue", body.get("fatigue")),
        temperature_c=temperature,
        chills=_bool("chills", body.get("chills")),
        bleeding=_choice("bleeding", body.get("bleeding")),
        neuro=_choice("neuro", body.get("neuro")),
        vision_change=None if vision in (None, "") else vision == "changed",
    )


def _at(body: dict[str, Any], now: datetime) -> datetime:
    at = body.get("at")
    if at is None or at == "":
        return now
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError("at", "Give the time as an ISO date-time such as 2026-03-02T08:30:00-05:00.") from None
    return at


def _check_owned_correction(ctx: AppContext, patient: Patient, kind: str, corrects_id: Any) -> int | None:
    corrects_id = _int("corrects_id", corrects_id)
    if corrects_id is not None:
        patient_views.get_own_entry(ctx.engine, patient.id, kind, corrects_id)  # another patient's: 404
    return corrects_id


def _submit(ctx: AppContext, patient: Patient, kind: str, body: dict[str, Any]) -> EntryResult:
    """Store one entry (any door: form, page script, offline replay) and return it with its advice."""
    now = ctx.clock.now()
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not key.strip():
        raise FieldError("idempotency_key", "Missing: each entry needs a client-generated unique id.")
    at = _at(body, now)
    if kind == "dose":
        status = body.get("status")
        if status not in ("taken", "missed", "vomited"):
            raise FieldError("status", "Choose one of the answers.")
        scheduled_for = body.get("scheduled_for") or None
        if isinstance(scheduled_for, str):
            try:
                scheduled_for = date.fromisoformat(scheduled_for)
            except ValueError:
                raise FieldError("scheduled_for", "Give the dose day as a date such as 2026-03-02.") from None
        if scheduled_for is not None:
            today = now.astimezone(schedule_setup(patient, _plan(ctx, patient)).zone).date()
            if scheduled_for > today:
                raise FieldError("scheduled_for", "The time is in the future.")
            if scheduled_for < today - timedelta(days=EARLIEST_DAYS):
                raise FieldError("scheduled_for", "The time is more than 7 days ago; tell your care team instead.")
        antiemetic_taken = _bool("antiemetic_taken", body.get("antiemetic_taken"))
        return record_dose(ctx, patient.id, key=key, status=status, at=at, antiemetic_taken=antiemetic_taken,
                           scheduled_for=scheduled_for,
                           corrects_id=_check_owned_correction(ctx, patient, "dose", body.get("corrects_id")))
    if kind == "antiemetic":
        return record_antiemetic(ctx, patient.id, key=key, at=at)
    if kind == "symptoms":
        return record_symptoms(ctx, patient.id, key=key, at=at, answers=_symptom_answers(body),
                               corrects_id=_check_owned_correction(ctx, patient, "symptoms", body.get("corrects_id")))
    if kind == "weight":
        value = _float("weight", body.get("value"), N_("Enter your weight as a number."))
        if value is None:
            raise FieldError("weight", N_("Enter your weight."))
        unit = body.get("unit") or patient.weight_unit
        return record_weight(ctx, patient.id, key=key, at=at, value=value, unit=unit,
                             confirmed=bool(_bool("confirmed", body.get("confirmed"))),
                             corrects_id=_check_owned_correction(ctx, patient, "weight", body.get("corrects_id")))
    raise NotFound("No such kind of entry.")


def _plan(ctx: AppContext, patient: Patient) -> TreatmentPlan:
    with Session(ctx.engine, expire_on_commit=False) as session:
        return current_plan(session, patient.id)


# --------------------------------------------------------------------------------------------------------------------
# Advice and error messages in the patient's words
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdviceView:
    tier: str | None
    call_now: bool
    messages: list[str]


def _next_dose_words(ctx: AppContext, patient: Patient, lang: str, logged_day: date | None = None) -> tuple[str, str]:
    """The next-dose words the rules used (English) and the same in the patient's language."""
    setup = schedule_setup(patient, _plan(ctx, patient))
    now = next_dose_counted_from(setup, logged_day, ctx.clock.now())
    english = next_dose_day_text(setup, now)
    dose = next_dose(setup, now)
    if dose is None:
        return english, translate(lang, english)
    return english, translate(lang, "%(day)s at %(time)s", day=format_day(dose.local, lang),
                            time=format_clock(dose.local, lang))


def _advice_view(ctx: AppContext, patient: Patient, result: EntryResult, lang: str) -> AdviceView:
    advice = result.advice
    logged_day = result.entry.scheduled_for if result.kind == "dose" else None
    english, local = _next_dose_words(ctx, patient, lang, logged_day)
    messages = []
    for message in advice.messages:
        # The banner's heading already says the tier's words; the rest of each message is the advice.
        if advice.call_now:
            message = message.replace(URGENT_TEXT, "").strip()
        elif advice.tier == "same_day":
            message = message.replace(SAME_DAY_TEXT, "").strip()
        elif advice.tier == "routine":
            message = message.replace(ROUTINE_TEXT, "").strip()
        if message:
            text = localize_advice(message, lang, english, local)
            if text not in messages:
                messages.append(text)
    return AdviceView(tier=advice.tier, call_now=advice.call_now, messages=messages)


RANGE_MESSAGES = {
    "vomiting_episodes": N_("Enter a whole number from 0 to 50."),
    "loose_stools": N_("Enter a whole number from 0 to 50."),
    "nausea": N_("Choose one of the answers."),
    "appetite": N_("Choose one of the answers."),
    "fatigue": N_("Choose one of the answers."),
    "bleeding": N_("Choose one of the answers."),
    "neuro": N_("Choose one of the answers."),
    "vision": N_("Choose one of the answers."),
    "status": N_("Choose one of the answers."),
    "chills": N_("Choose yes or no."),
}


def _field_name(field: str) -> str:
    """The service's field name -> the form's and API's name for it."""
    return {"temperature_c": "temperature", "vision_change": "vision", "unit": "weight"}.get(field, field)


def _error_message(lang: str, patient: Patient | None, exc: FieldError) -> str:
    """A plain, translated sentence for a field error (the service's own wording is for developers)."""
    field = _field_name(exc.field)
    if isinstance(exc, ConfirmationRequired):
        return translate(lang, "This is more than %(pct)s%% away from your last weight. Please check it. If it is "
                               "right, tap “Yes, save it”.", pct=format_number(WEIGHT_CONFIRM_CHANGE_PCT, lang))
    if isinstance(exc, NotMissedYet):  # clinical-reference: P-MISSED (issue 10 item 7)
        return translate(lang, "Your dose is at %(time)s: it is not missed yet.", time=format_clock(exc.dose_local, lang))
    if field == "temperature" and exc.field == "temperature_c":
        return translate(lang, "Enter a temperature between 34 and 43 °C (93.2 and 109.4 °F).")
    if field == "weight" and ("between" in exc.message or exc.field == "unit"):
        unit = patient.weight_unit if patient else "kg"
        low, high = (25, 300) if unit == "kg" else (55, 661)
        return translate(lang, "Enter a weight between %(low)s and %(high)s %(unit)s.", low=low, high=high, unit=unit)
    if field in RANGE_MESSAGES and exc.message not in SERVICE_SENTENCES:
        return translate(lang, RANGE_MESSAGES[field])
    return translate(lang, exc.message)


def _error_json(lang: str, patient: Patient | None, exc: FieldError, status_code: int = 422) -> Response:
    field = _field_name(exc.field)
    body = {"error": "invalid", "field": field, "message": _error_message(lang, patient, exc), "detail": exc.message,
            "errors": [{"field": field, "message": _error_message(lang, patient, exc)}]}
    if isinstance(exc, ConfirmationRequired):
        body["confirm"] = True
    return Response(body, status_code=status_code)


def _conflict_message(lang: str) -> str:
    return translate(lang, "This entry was already sent with different answers. Nothing was changed.")


def _conflict_json(lang: str, exc: Conflict) -> Response:
    return Response({"error": "conflict", "field": exc.field, "message": _conflict_message(lang),
                     "detail": exc.message}, status_code=409)


# --------------------------------------------------------------------------------------------------------------------
# Sign-in pages
# --------------------------------------------------------------------------------------------------------------------


@get("/", include_in_schema=False, sync_to_thread=False)
def home(request: Request) -> Redirect:
    return Redirect("/today" if current_patient(request) else "/signin", status_code=303)


@get("/i/{token:str}", include_in_schema=False, sync_to_thread=True)
def invite_page(request: Request, token: str) -> Template:
    """Greets the patient and asks for one tap: the POST uses the link (a link preview's GET must not)."""
    try:
        patient = invites.check_sign_in_link(_ctx(request), token)
    except invites.InvalidSignInLink as exc:
        return _page(request, "patient/signin.html", status_code=410, link_error=exc.message, phone="", errors={})
    return _page(request, "patient/invite.html", lang=patient.language, first_name=patient.first_name, token=token)


@post("/i/{token:str}", include_in_schema=False, sync_to_thread=True, status_code=303)
def invite_redeem(request: Request, token: str) -> Response:
    ctx = _ctx(request)
    try:
        patient = invites.redeem_sign_in_link(ctx, token)
    except invites.InvalidSignInLink as exc:
        return _page(request, "patient/signin.html", status_code=410, link_error=exc.message, phone="", errors={})
    sign_in_patient(request, patient)
    return Redirect("/today?welcome=1", status_code=303)


def _too_many(request: Request, exc: TooManyRequestsException) -> Response:
    if request.url.path.startswith("/api/"):
        return Response({"error": "rate_limited", "message": "Too many requests. Try again in an hour."},
                        status_code=429)
    return _page(request, "patient/signin.html", status_code=429, phone="", errors={}, rate_limited=True)


@get("/signin", include_in_schema=False, sync_to_thread=False)
def signin_page(request: Request) -> Template:
    return _page(request, "patient/signin.html", phone="", errors={}, signed_out=request.query_params.get("out") == "1")


@post("/signin", include_in_schema=False, sync_to_thread=True, status_code=200,
      middleware=[SIGN_IN_RATE_LIMIT.middleware], exception_handlers={TooManyRequestsException: _too_many})
def signin_request(request: Request, data: FormData) -> Template:
    """Text a new link if the number is enrolled; the page says the same either way."""
    ctx = _ctx(request)
    lang = normalize_language(data.get("lang") or _guest_language(request))
    phone = str(data.get("phone") or "")
    try:
        e164 = invites.parse_phone(phone, invites.region_of(ctx.settings.clinic_phone))
    except FieldError as exc:
        return _page(request, "patient/signin.html", lang=lang, status_code=422, phone=phone,
                     errors={"phone": translate(lang, exc.message)})
    # The lookup and the SMS happen after the answer is sent, so the answer's timing does not tell either.
    return _page(request, "patient/signin.html", lang=lang, phone="", errors={}, sent=True,
                 background=BackgroundTask(invites.request_sign_in_link, ctx, e164))


@post("/signout", include_in_schema=False, sync_to_thread=False, status_code=303)
def signout(request: Request) -> Redirect:
    sign_out(request)
    return Redirect("/signin?out=1", status_code=303)


# --------------------------------------------------------------------------------------------------------------------
# Patient pages
# --------------------------------------------------------------------------------------------------------------------

PAGE = {"guards": [requires_patient], "include_in_schema": False, "sync_to_thread": True}


@get("/today", **PAGE)
def today_page(request: Request) -> Template:
    ctx = _ctx(request)
    patient = _patient(request)
    view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
    return _page(request, "patient/today.html", patient=patient, view=view, key=_new_key,
                 welcome=request.query_params.get("welcome") == "1")


def _recent_days(ctx: AppContext, patient: Patient) -> list[date]:
    today = ctx.clock.now().astimezone(schedule_setup(patient, _plan(ctx, patient)).zone).date()
    return [today - timedelta(days=n) for n in range(EARLIEST_DAYS)]


def _form_page(request: Request, kind: str, *, values: dict | None = None, errors: dict | None = None,
               status_code: int = 200, confirm: bool = False) -> Template:
    ctx = _ctx(request)
    patient = _patient(request)
    values = dict(values or {})
    values.setdefault("idempotency_key", _new_key())
    context: dict[str, Any] = {"values": values, "errors": errors or {}, "confirm": confirm,
                               "days": _recent_days(ctx, patient), "questions": QUESTIONS}
    if kind == "weight":
        view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
        context["last_weight"] = view.last_weight
        context["last_weight_at"] = view.last_weight.at.astimezone(view.setup.zone) if view.last_weight else None
    return _page(request, f"patient/{kind}.html", patient=patient, status_code=status_code, **context)


def _correction_values(request: Request, kind: str) -> dict[str, Any]:
    """Prefill a form from the entry being corrected (?correct=ID); another patient's entry is a 404."""
    raw = request.query_params.get("correct")
    if not raw:
        return {}
    try:
        entry_id = int(raw)
    except ValueError:
        raise NotFound("No such entry.") from None
    ctx = _ctx(request)
    patient = _patient(request)
    row = patient_views.get_own_entry(ctx.engine, patient.id, kind, entry_id)
    zone = schedule_setup(patient, _plan(ctx, patient)).zone
    local = row.at.astimezone(zone)
    values: dict[str, Any] = {"corrects_id": row.id, "when": "earlier", "day": local.date().isoformat(),
                              "time": local.strftime("%H:%M")}
    if kind == "dose":
        values.update(status=row.status, scheduled_for=row.scheduled_for.isoformat() if row.scheduled_for else "")
    elif kind == "weight":
        values.update(value=f"{row.entered_value:g}")
    elif kind == "symptoms":
        for question in ("nausea", "appetite", "fatigue"):
            values[question] = patient_views.choice_value(question, getattr(row, question))
        values.update(vomiting_episodes=row.vomiting_episodes, loose_stools=row.loose_stools,
                      temperature=row.temperature_c, temperature_unit="c", bleeding=row.bleeding, neuro=row.neuro,
                      chills=None if row.chills is None else ("true" if row.chills else "false"),
                      vision=None if row.vision_change is None else ("changed" if row.vision_change else "none"))
    return values


@get("/log/dose", **PAGE)
def dose_page(request: Request) -> Template:
    return _form_page(request, "dose", values=_correction_values(request, "dose"))


@get("/log/symptoms", **PAGE)
def symptoms_page(request: Request) -> Template:
    return _form_page(request, "symptoms", values=_correction_values(request, "symptoms"))


@get("/log/weight", **PAGE)
def weight_page(request: Request) -> Template:
    return _form_page(request, "weight", values=_correction_values(request, "weight"))


def _form_body(ctx: AppContext, patient: Patient, kind: str, form: dict[str, Any]) -> dict[str, Any]:
    """Form fields -> the JSON API's body: 'now' or an earlier local day and time in the patient's zone."""
    body = {k: v for k, v in form.items() if k not in ("_csrf_token", "when", "day", "time")}
    if form.get("when") == "earlier" and kind != "antiemetic":
        zone = schedule_setup(patient, _plan(ctx, patient)).zone
        try:
            day = date.fromisoformat(str(form.get("day") or ""))
        except ValueError:
            raise FieldError("day", N_("Choose the day.")) from None
        try:
            clock = time.fromisoformat(str(form.get("time") or ""))
        except ValueError:
            raise FieldError("time", N_("Enter the time, for example 8:30 AM.")) from None
        body["at"] = datetime.combine(day, clock, zone)
    if kind == "dose" and form.get("status") != "missed":
        body.pop("scheduled_for", None)  # a dose taken or vomited answers the day it was taken
    return body


def _post_entry(request: Request, kind: str, form: dict[str, Any]) -> Template:
    ctx = _ctx(request)
    patient = _patient(request)
    lang = patient.language
    try:
        result = _submit(ctx, patient, kind, _form_body(ctx, patient, kind, form))
    except FieldError as exc:
        field = _field_name(exc.field)
        if kind == "antiemetic":  # its one-tap form lives on Today: answer there
            view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
            return _page(request, "patient/today.html", patient=patient, view=view, key=_new_key, status_code=422,
                         entry_error=_error_message(lang, patient, exc))
        if field in ("at", "scheduled_for"):
            field = "time" if form.get("when") == "earlier" else "when"
        return _form_page(request, kind, values=form, errors={field: _error_message(lang, patient, exc)},
                          status_code=422, confirm=isinstance(exc, ConfirmationRequired))
    except Conflict as exc:
        return _form_page(request, kind, values={**form, "idempotency_key": _new_key()}, status_code=409,
                          errors={"form": _conflict_message(lang)})
    return _page(request, "patient/done.html", patient=patient, kind=kind, result=result,
                 advice=_advice_view(ctx, patient, result, lang))


@post("/log/dose", **PAGE, status_code=200)
def dose_post(request: Request, data: FormData) -> Template:
    return _post_entry(request, "dose", data)


@post("/log/antiemetic", **PAGE, status_code=200)
def antiemetic_post(request: Request, data: FormData) -> Template:
    return _post_entry(request, "antiemetic", data)


@post("/log/symptoms", **PAGE, status_code=200)
def symptoms_post(request: Request, data: FormData) -> Template:
    return _post_entry(request, "symptoms", data)


@post("/log/weight", **PAGE, status_code=200)
def weight_post(request: Request, data: FormData) -> Template:
    return _post_entry(request, "weight", data)


QUESTION_LABELS = {
    "nausea": N_("Nausea"), "vomiting_episodes": N_("Vomiting, last 24 hours"),
    "loose_stools": N_("Loose stools, last 24 hours"), "appetite": N_("Appetite"), "fatigue": N_("Tiredness"),
    "temperature_c": N_("Temperature"), "chills": N_("Chills or shaking"), "bleeding": N_("Bleeding or bruising"),
    "neuro": N_("Dizziness or confusion"), "vision_change": N_("Eyesight"),
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


@get("/history", **PAGE)
def history_page(request: Request) -> Template:
    ctx = _ctx(request)
    patient = _patient(request)
    lang = patient.language
    view = patient_views.history_view(ctx.engine, patient, ctx.clock.now(), lang)
    return _page(request, "patient/history.html", patient=patient, view=view,
                 question=lambda name: translate(lang, QUESTION_LABELS[name]),
                 answer=lambda name, value: _answer_text(lang, name, value))


@get("/learn", **PAGE)
def learn_index(request: Request) -> Template:
    return _page(request, "patient/learn.html", patient=_patient(request), topic=None)


@get("/learn/{topic:str}", **PAGE)
def learn_topic(request: Request, topic: str) -> Template:
    if topic not in LEARN_TOPICS:
        raise NotFound("No such page.")
    patient = _patient(request)
    # P-ANTIEMETIC: the page says the patient's own antiemetic timing, set by the care team
    return _page(request, "patient/learn.html", patient=patient, topic=topic, plan=_plan(_ctx(request), patient))


@get("/settings", **PAGE)
def settings_page(request: Request) -> Template:
    ctx = _ctx(request)
    return _page(request, "patient/settings.html", patient=_patient(request),
                 vapid_public_key=patient_views.vapid_public_key(ctx.engine, ctx.clock.now()))


def _back(request: Request, fallback: str = "/today") -> str:
    """Where to return after a small settings change: the same page of this site."""
    target = str(request.query_params.get("next") or "")
    return target if re.fullmatch(r"/[a-z0-9/_-]*", target) and not target.startswith("//") else fallback


@post("/settings/language", **PAGE, status_code=303)
def language_post(request: Request, data: FormData) -> Redirect:
    patient_settings.set_language(_ctx(request), _patient(request).id, str(data.get("language") or ""))
    return Redirect(_back(request), status_code=303)


@post("/settings/unit", **PAGE, status_code=303)
def unit_post(request: Request, data: FormData) -> Redirect:
    patient_settings.set_weight_unit(_ctx(request), _patient(request).id, str(data.get("weight_unit") or ""))
    return Redirect("/settings", status_code=303)


@get("/offline", include_in_schema=False, sync_to_thread=False)
def offline_page(request: Request) -> Template:
    """Shown by the service worker when a page was never cached and there is no network."""
    return _page(request, "patient/offline.html", patient=current_patient(request))


# --------------------------------------------------------------------------------------------------------------------
# PWA: service worker (at the root, so its scope is the whole app) and manifest
# --------------------------------------------------------------------------------------------------------------------

SHELL_PAGES = ("/today", "/log/dose", "/log/symptoms", "/log/weight", "/history", "/learn", "/settings", "/offline")
SHELL_ASSETS = ("/static/patient/app.js", "/static/patient/queue.js", "/manifest.webmanifest",
                "/static/patient/icons/icon-192.png")


@get("/sw.js", include_in_schema=False, sync_to_thread=False)
def service_worker() -> Response:
    version = asset_version()
    assets = [f"{a}?v={version}" if a.startswith("/static/") else a for a in SHELL_ASSETS]
    source = (WEB_DIR / "static" / "sw.js").read_text()
    source = source.replace("__VERSION__", version).replace("__SHELL__", json.dumps(list(SHELL_PAGES) + assets))
    # no-cache: the browser checks for a new worker on every load, so a release reaches patients the same day.
    return Response(source, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@get("/manifest.webmanifest", include_in_schema=False, sync_to_thread=False)
def manifest(request: Request) -> Response:
    lang = normalize_language((current_patient(request).language if current_patient(request) else None)
                              or _guest_language(request))
    icons = [{"src": f"/static/patient/icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png",
              "purpose": "any"} for size in (192, 512)]
    icons.append({"src": "/static/patient/icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png",
                  "purpose": "maskable"})
    # A neutral name on the home screen: people nearby need not learn the diagnosis or the drug.
    body = {"name": translate(lang, "My treatment companion"), "short_name": translate(lang, "Companion"),
            "lang": lang, "start_url": "/today", "scope": "/", "display": "standalone", "id": "/today",
            "background_color": "#ffffff", "theme_color": "#0b4f5c", "icons": icons}
    return Response(json.dumps(body), media_type="application/manifest+json",
                    headers={"Cache-Control": "no-cache"})


# --------------------------------------------------------------------------------------------------------------------
# JSON API
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class DoseIn:
    """A selinexor dose: taken, missed, or vomited after taking (clinical-reference P-MISSED, P-VOMITED)."""

    idempotency_key: str
    status: str  # taken | missed | vomited
    at: datetime | None = None  # when taken (or noticed missing); default now; at most 7 days ago
    scheduled_for: date | None = None  # the dose day a "missed" answers; default the day of `at`
    antiemetic_taken: bool | None = None  # default: whether an anti-nausea log came in the 3 h before
    corrects_id: int | None = None  # an own dose entry of the last 24 h that this one corrects


@dataclass
class AntiemeticIn:
    """The anti-nausea medicine taken before a dose (P-ANTIEMETIC)."""

    idempotency_key: str
    at: datetime | None = None


@dataclass
class SymptomsIn:
    """A symptom check-in: the questions of clinical-reference §5; leave out what was not answered."""

    idempotency_key: str
    at: datetime | None = None
    nausea: str | None = None  # none | mild | eating_less | cannot_eat
    vomiting_episodes: int | None = None  # last 24 h, 0-50
    loose_stools: int | None = None  # last 24 h, 0-50
    appetite: str | None = None  # normal | a_bit_less | much_less | barely_eating
    fatigue: str | None = None  # none | tired_rest_helps | rest_does_not_help | hard_to_wash_or_dress
    temperature: float | None = None  # 34-43 °C
    temperature_unit: str = "c"  # c | f
    chills: bool | None = None
    bleeding: str | None = None  # none | minor | major
    neuro: str | None = None  # none | dizzy | major
    vision: str | None = None  # none | changed
    corrects_id: int | None = None


@dataclass
class WeightIn:
    """A body weight; more than 5% away from the previous one needs `confirmed` (clinical-reference §5)."""

    idempotency_key: str
    value: float
    unit: str | None = None  # kg | lb; default the patient's unit
    at: datetime | None = None
    confirmed: bool = False
    corrects_id: int | None = None


@dataclass
class LanguageIn:
    language: str  # en | es


@dataclass
class PushKeys:
    p256dh: str
    auth: str


@dataclass
class PushSubscriptionIn:
    """A browser PushSubscription as `subscription.toJSON()` gives it."""

    endpoint: str
    keys: PushKeys


@dataclass
class PushEndpointIn:
    endpoint: str


@dataclass
class SignInLinkIn:
    phone: str  # as typed, e.g. (555) 555-0123


@dataclass
class SignInIn:
    token: str  # the part of the link after /i/


def _api_validation_error(request: Request, exc: ValidationException) -> Response:
    """Litestar's body validation -> 422 naming the field, like every other bad input."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message = str(item.get("message", "Invalid value."))
        key = item.get("key") or ""
        missing = re.search(r"missing required field `(\w+)`", message)
        errors.append({"field": missing.group(1) if missing else key.split(".")[-1] or None, "message": message})
    first = errors[0] if errors else {"field": None, "message": str(exc.detail)}
    return Response({"error": "invalid", "field": first["field"], "message": first["message"], "errors": errors},
                    status_code=422)


def _api_entry(request: Request, kind: str, body: dict[str, Any]) -> Response:
    ctx = _ctx(request)
    patient = _patient(request)
    lang = patient.language
    try:
        result = _submit(ctx, patient, kind, body)
    except FieldError as exc:
        return _error_json(lang, patient, exc)
    except Conflict as exc:
        return _conflict_json(lang, exc)
    advice = _advice_view(ctx, patient, result, lang)
    html = request.app.template_engine.get_template("patient/_advice.html").render(
        lang=lang, advice=advice, kind=kind, clinic_phone=ctx.settings.clinic_phone,
        clinic_phone_display=_display_phone(ctx.settings.clinic_phone))
    return Response({
        "kind": kind, "id": result.entry.id, "replayed": result.replayed,
        "entry": patient_views.entry_json(kind, result.entry),
        "advice": {"tier": advice.tier, "call_now": advice.call_now, "messages": advice.messages,
                   "clinic_phone": ctx.settings.clinic_phone},
        "advice_html": html,
    }, status_code=200 if result.replayed else 201)


API = {"guards": [requires_patient], "sync_to_thread": True, "tags": ["patient"]}
ENTRY_DOC = ("Stored once per `idempotency_key`: a replay (same key, same content) answers 200 with the stored entry "
             "and never creates a second one; the same key with other content is 409. Bad input is 422 naming the "
             "field, and nothing is stored. The clinical rules run in the same request; `advice` is what the "
             "patient sees (`call_now`: show the \"Call your care team now\" banner).")


@post("/doses", **API, summary="Log a selinexor dose (taken, missed, vomited)", description=ENTRY_DOC)
def api_dose(request: Request, data: DoseIn) -> Response:
    return _api_entry(request, "dose", asdict(data))


@post("/antiemetics", **API, summary="Log the anti-nausea medicine", description=ENTRY_DOC)
def api_antiemetic(request: Request, data: AntiemeticIn) -> Response:
    return _api_entry(request, "antiemetic", asdict(data))


@post("/symptoms", **API, summary="Log a symptom check-in", description=ENTRY_DOC)
def api_symptoms(request: Request, data: SymptomsIn) -> Response:
    return _api_entry(request, "symptoms", asdict(data))


@post("/weights", **API, summary="Log a body weight (kg or lb)",
      description=ENTRY_DOC + " A weight more than 5% away from the previous one answers 422 with `confirm: true` "
                              "until it is sent again with `confirmed: true`.")
def api_weight(request: Request, data: WeightIn) -> Response:
    return _api_entry(request, "weight", asdict(data))


@get("/entries/{kind:str}/{entry_id:int}", **API, summary="Read one of your entries (404 for anyone else's)")
def api_entry(request: Request, kind: str, entry_id: int) -> dict[str, Any]:
    row = patient_views.get_own_entry(_ctx(request).engine, _patient(request).id, kind, entry_id)
    return patient_views.entry_json(kind, row)


@get("/me", **API, summary="Who is signed in, their language and weight unit")
def api_me(request: Request) -> dict[str, Any]:
    patient = _patient(request)
    settings = _ctx(request).settings
    return {"id": patient.id, "first_name": patient.first_name, "language": patient.language,
            "weight_unit": patient.weight_unit, "timezone": patient.timezone, "clinic_name": settings.clinic_name,
            "clinic_phone": settings.clinic_phone,
            "vapid_public_key": patient_views.vapid_public_key(_ctx(request).engine, _ctx(request).clock.now())}


def _event_json(event) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"at": event.local.isoformat(), "dose_mg": event.dose_mg, "tablets": event.tablets}


@get("/today", **API, summary="What to take today, what was logged, and the next dose day")
def api_today(request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    patient = _patient(request)
    view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
    return {
        "date": view.today.isoformat(), "status": view.status, "dose": _event_json(view.dose),
        "day_number": view.day_number, "tablet_strength_mg": patient.tablet_strength_mg,
        "antiemetic": view.plan.antiemetic_name, "antiemetic_offset_min": view.plan.antiemetic_offset_min,
        "items": [{"kind": i.kind, "at": i.at.isoformat(), "dose_mg": i.dose_mg, "tablets": i.tablets}
                  for i in view.items],
        "dose_log": patient_views.entry_json("dose", view.dose_log) if view.dose_log else None,
        "antiemetic_log": patient_views.entry_json("antiemetic", view.antiemetic_log) if view.antiemetic_log else None,
        "weight_today": patient_views.entry_json("weight", view.weight_today) if view.weight_today else None,
        "next_dose": _event_json(view.next_dose),
        "week": [{"date": d.day.isoformat(), "dose_mg": d.dose.dose_mg if d.dose else None, "held": d.held}
                 for d in view.week],
    }


@get("/history", **API, summary="Adherence calendar, weights against the baseline, symptom timeline")
def api_history(request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    patient = _patient(request)
    view = patient_views.history_view(ctx.engine, patient, ctx.clock.now(), patient.language)
    chart = view.chart
    return {
        "calendar": [{"date": d.day.isoformat(), "status": d.status, "extra": d.extra} for w in view.weeks for d in w],
        "weight": {"unit": chart.unit, "baseline": chart.baseline,
                   "guides": {g.name: g.value for g in chart.guides},
                   "points": [{"at": p.at.isoformat(), "value": p.value, "kg": p.kg, "pct_below_baseline": p.pct_below}
                              for p in chart.points]},
        "symptoms": [{"at": s.at.isoformat(), **dict(s.answers)} for s in view.symptoms],
    }


@post("/language", **API, status_code=200, summary="Switch the app's language (en, es)")
def api_language(request: Request, data: LanguageIn) -> dict[str, str]:
    patient = patient_settings.set_language(_ctx(request), _patient(request).id, data.language)
    return {"language": patient.language}


@post("/push-subscriptions", **API, status_code=201, summary="Turn on reminders by Web Push on this browser")
def api_push_subscribe(request: Request, data: PushSubscriptionIn) -> dict[str, Any]:
    row = patient_settings.save_push_subscription(_ctx(request), _patient(request).id, endpoint=data.endpoint,
                                                  p256dh=data.keys.p256dh, auth=data.keys.auth)
    return {"id": row.id, "endpoint": row.endpoint}


@delete("/push-subscriptions", **API, status_code=204, summary="Turn off Web Push on this browser")
def api_push_unsubscribe(request: Request, data: PushEndpointIn) -> None:
    patient_settings.delete_push_subscription(_ctx(request), _patient(request).id, data.endpoint)


@post("/sign-in-link", sync_to_thread=True, status_code=202, tags=["patient"],
      middleware=[SIGN_IN_RATE_LIMIT.middleware], exception_handlers={TooManyRequestsException: _too_many},
      summary="Ask for a new sign-in link by SMS",
      description="Always 202 for a well-formed number, enrolled or not (the answer reveals nothing). "
                  "Rate-limited per client address; at most 3 links per patient per hour.")
def api_sign_in_link(request: Request, data: SignInLinkIn) -> Response:
    ctx = _ctx(request)
    try:
        e164 = invites.parse_phone(data.phone, invites.region_of(ctx.settings.clinic_phone))
    except FieldError as exc:
        return _error_json(_guest_language(request), None, exc)
    return Response({"status": "accepted"}, status_code=202,
                    background=BackgroundTask(invites.request_sign_in_link, ctx, e164))


@post("/sign-in", sync_to_thread=True, status_code=200, tags=["patient"], middleware=[SIGN_IN_RATE_LIMIT.middleware],
      exception_handlers={TooManyRequestsException: _too_many},
      summary="Use a sign-in link's token: starts a session for its patient")
def api_sign_in(request: Request, data: SignInIn) -> Response:
    try:
        patient = invites.redeem_sign_in_link(_ctx(request), data.token)
    except invites.InvalidSignInLink as exc:
        return Response({"error": "invalid", "field": "token", "reason": exc.reason, "message": exc.message},
                        status_code=422)
    sign_in_patient(request, patient)
    return Response({"id": patient.id, "first_name": patient.first_name, "language": patient.language})


@post("/sign-out", sync_to_thread=False, status_code=204, tags=["patient"], summary="End this browser's session")
def api_sign_out(request: Request) -> None:
    sign_out(request)


API_ROUTER = Router(
    path="/api",
    route_handlers=[api_dose, api_antiemetic, api_symptoms, api_weight, api_entry, api_me, api_today, api_history,
                    api_language, api_push_subscribe, api_push_unsubscribe, api_sign_in_link, api_sign_in,
                    api_sign_out],
    exception_handlers={ValidationException: _api_validation_error},
)

ROUTES: list = [
    home, invite_page, invite_redeem, signin_page, signin_request, signout, today_page, dose_page, symptoms_page,
    weight_page, dose_post, antiemetic_post, symptoms_post, weight_post, history_page, learn_index, learn_topic,
    settings_page, language_post, unit_post, offline_page, service_worker, manifest, API_ROUTER,
]
