"""The patient JSON API (/api/…), used by the pages' JavaScript and the offline queue.

The session decides whose data is read or written; no URL carries a patient id, and an entry id of another patient
is a 404. Bodies are the models of schemas.py, the same the forms use; a body the model refuses is 422 naming the
field in the patient's words (`api_validation_error`), like a refusal of the services.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody

from ...auth import requires_patient
from ...context import Ctx
from ...errors import Conflict, FieldError
from ...services import patient_settings, patient_views
from .advice import advice_view, conflict_json, error_json, error_message, field_name
from .deps import PATIENT_DEPENDENCY, SignedInPatient, provide_viewer
from .plan_notice import status_json
from .rendering import display_phone, guest_language
from .schemas import (
    AntiemeticIn,
    DoseIn,
    EntryIn,
    LanguageIn,
    PushEndpointIn,
    PushSubscriptionIn,
    SymptomsIn,
    WeightIn,
    field_errors,
)
from .submit import record_entry


def api_validation_error(request: Request, exc: ValidationException) -> Response:
    """A body the model refuses -> 422 naming each field, in the words and language a service refusal has."""
    patient = provide_viewer(request)  # exception handlers get no dependencies; the guard looked them up already
    lang = patient.language if patient else guest_language(request)
    errors = field_errors(exc)
    body = error_json(lang, patient, errors[0]).content
    body["errors"] = [{"field": field_name(e.field), "message": error_message(lang, patient, e)} for e in errors]
    return Response(body, status_code=422)


def _entry(request: Request, ctx: Ctx, patient: SignedInPatient, entry: EntryIn) -> Response:
    kind = entry.KIND
    lang = patient.language
    try:
        result = record_entry(ctx, patient, entry)
    except FieldError as exc:
        return error_json(lang, patient, exc)
    except Conflict as exc:
        return conflict_json(lang, exc)
    advice = advice_view(ctx, patient, result, lang)
    html = request.app.template_engine.get_template("patient/_advice.html").render(
        lang=lang,
        advice=advice,
        kind=kind,
        clinic_phone=ctx.settings.clinic_phone,
        clinic_phone_display=display_phone(ctx.settings.clinic_phone),
    )
    return Response(
        {
            "kind": kind,
            "id": result.entry.id,
            "replayed": result.replayed,
            "entry": patient_views.entry_json(kind, result.entry),
            "advice": {
                "tier": advice.tier,
                "call_now": advice.call_now,
                "messages": advice.messages,
                "clinic_phone": ctx.settings.clinic_phone,
            },
            "advice_html": html,
        },
        status_code=200 if result.replayed else 201,
    )


ENTRY_DOC = (
    "Stored once per `idempotency_key`: a replay (same key, same content) answers 200 with the stored entry "
    "and never creates a second one; the same key with other content is 409. Bad input is 422 naming the "
    "field, and nothing is stored. The clinical rules run in the same request; `advice` is what the "
    'patient sees (`call_now`: show the "Call your care team now" banner).'
)


@post("/doses", sync_to_thread=True, summary="Log a selinexor dose (taken, missed, vomited)", description=ENTRY_DOC)
def api_dose(request: Request, ctx: Ctx, patient: SignedInPatient, data: JSONBody[DoseIn]) -> Response:
    return _entry(request, ctx, patient, data)


@post("/antiemetics", sync_to_thread=True, summary="Log the anti-nausea medicine", description=ENTRY_DOC)
def api_antiemetic(request: Request, ctx: Ctx, patient: SignedInPatient, data: JSONBody[AntiemeticIn]) -> Response:
    return _entry(request, ctx, patient, data)


@post("/symptoms", sync_to_thread=True, summary="Log a symptom check-in", description=ENTRY_DOC)
def api_symptoms(request: Request, ctx: Ctx, patient: SignedInPatient, data: JSONBody[SymptomsIn]) -> Response:
    return _entry(request, ctx, patient, data)


@post(
    "/weights",
    sync_to_thread=True,
    summary="Log a body weight (kg or lb)",
    description=ENTRY_DOC + " A weight more than 5% away from the previous one answers 422 with `confirm: true` "
    "until it is sent again with `confirmed: true`.",
)
def api_weight(request: Request, ctx: Ctx, patient: SignedInPatient, data: JSONBody[WeightIn]) -> Response:
    return _entry(request, ctx, patient, data)


@get(
    "/entries/{kind:str}/{entry_id:int}",
    sync_to_thread=True,
    summary="Read one of your entries (404 for anyone else's)",
)
def api_entry(ctx: Ctx, patient: SignedInPatient, kind: FromPath[str], entry_id: FromPath[int]) -> dict[str, Any]:
    row = patient_views.get_own_entry(ctx.engine, patient.id, kind, entry_id)
    return patient_views.entry_json(kind, row)


@get("/me", sync_to_thread=True, summary="Who is signed in, their language and weight unit")
def api_me(ctx: Ctx, patient: SignedInPatient) -> dict[str, Any]:
    settings = ctx.settings
    return {
        "id": patient.id,
        "first_name": patient.first_name,
        "language": patient.language,
        "weight_unit": patient.weight_unit,
        "timezone": patient.timezone,
        "clinic_name": settings.clinic_name,
        "clinic_phone": settings.clinic_phone,
        "vapid_public_key": patient_views.vapid_public_key(ctx.engine, ctx.clock.now()),
    }


def _event_json(event: Any) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"at": event.local.isoformat(), "dose_mg": event.dose_mg, "tablets": event.tablets}


@get("/today", sync_to_thread=True, summary="What to take today, what was logged, and the next dose day")
def api_today(ctx: Ctx, patient: SignedInPatient) -> dict[str, Any]:
    view = patient_views.today_view(ctx.engine, patient, ctx.clock.now(), ctx.settings)
    return {**_today_json(view, patient), **status_json(view, patient.language)}


def _today_json(view: patient_views.TodayView, patient: SignedInPatient) -> dict[str, Any]:
    return {
        "date": view.today.isoformat(),
        "status": view.status,
        "dose": _event_json(view.dose),
        "day_number": view.day_number,
        "tablet_strength_mg": patient.tablet_strength_mg,
        "antiemetic": view.plan.antiemetic_name,
        "antiemetic_offset_min": view.plan.antiemetic_offset_min,
        "items": [
            {"kind": i.kind, "at": i.at.isoformat(), "dose_mg": i.dose_mg, "tablets": i.tablets} for i in view.items
        ],
        "dose_log": patient_views.entry_json("dose", view.dose_log) if view.dose_log else None,
        "antiemetic_log": patient_views.entry_json("antiemetic", view.antiemetic_log) if view.antiemetic_log else None,
        "weight_today": patient_views.entry_json("weight", view.weight_today) if view.weight_today else None,
        # clinical-reference §3: while the patient waits for the care team, no next dose is offered.
        "next_dose": None if view.wait else _event_json(view.next_dose),
        "week": [
            {
                "date": d.day.isoformat(),
                "dose_mg": d.dose.dose_mg if d.dose else None,
                "held": d.held,
                "wait_for_team": d.wait,
            }
            for d in view.week
        ],
    }


@get("/history", sync_to_thread=True, summary="Adherence calendar, weights against the baseline, symptom timeline")
def api_history(ctx: Ctx, patient: SignedInPatient) -> dict[str, Any]:
    view = patient_views.history_view(ctx.engine, patient, ctx.clock.now(), patient.language)
    chart = view.chart
    return {
        "calendar": [{"date": d.day.isoformat(), "status": d.status, "extra": d.extra} for w in view.weeks for d in w],
        "weight": {
            "unit": chart.unit,
            "baseline": chart.baseline,
            "guides": {g.name: g.value for g in chart.guides},
            "points": [
                {"at": p.at.isoformat(), "value": p.value, "kg": p.kg, "pct_below_baseline": p.pct_below}
                for p in chart.points
            ],
        },
        "symptoms": [
            {"at": s.at.isoformat(), **dict(s.answers), "report_status": _status_json(s.status)} for s in view.symptoms
        ],
    }


def _status_json(status: Any) -> dict[str, Any]:
    """A report's status with the care team: sent | seen | acted, with the times."""
    return {
        "state": status.state,
        "seen_at": status.seen_at.isoformat() if status.seen_at else None,
        "acted_at": status.acted_at.isoformat() if status.acted_at else None,
    }


@post("/language", sync_to_thread=True, status_code=200, summary="Switch the app's language (en, es)")
def api_language(ctx: Ctx, patient: SignedInPatient, data: JSONBody[LanguageIn]) -> dict[str, str]:
    changed = patient_settings.set_language(ctx, patient.id, data.language)
    return {"language": changed.language}


@post(
    "/push-subscriptions", sync_to_thread=True, status_code=201, summary="Turn on reminders by Web Push on this browser"
)
def api_push_subscribe(ctx: Ctx, patient: SignedInPatient, data: JSONBody[PushSubscriptionIn]) -> dict[str, Any]:
    row = patient_settings.save_push_subscription(
        ctx, patient.id, endpoint=data.endpoint, p256dh=data.keys.p256dh, auth=data.keys.auth
    )
    return {"id": row.id, "endpoint": row.endpoint}


@delete("/push-subscriptions", sync_to_thread=True, status_code=204, summary="Turn off Web Push on this browser")
def api_push_unsubscribe(ctx: Ctx, patient: SignedInPatient, data: JSONBody[PushEndpointIn]) -> None:
    patient_settings.delete_push_subscription(ctx, patient.id, data.endpoint)


ROUTER = Router(
    path="/api",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    tags=["patient"],
    route_handlers=[
        api_dose,
        api_antiemetic,
        api_symptoms,
        api_weight,
        api_entry,
        api_me,
        api_today,
        api_history,
        api_language,
        api_push_subscribe,
        api_push_unsubscribe,
    ],
    exception_handlers={ValidationException: api_validation_error},
)
