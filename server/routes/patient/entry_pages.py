"""The log forms (dose, anti-nausea medicine, symptoms, weight) as pages that work without JavaScript.

A form posts the same model the API takes (schemas.py) plus how its time was given; whatever refuses it (the model
or a service) answers through one path, `_refused`: the same page again with the sentence beside the field, or Today
for the one-tap anti-nausea button.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import ValidationException
from litestar.params import URLEncodedBody
from litestar.response import Template

from ...auth import requires_patient
from ...clinical.grading import QUESTIONS, TEMPERATURE_OTHER_UNIT
from ...clinical.schedule import is_dose_day
from ...context import AppContext, Ctx
from ...errors import Conflict, FieldError, NotFound
from ...models import Patient
from ...services import patient_views
from ...services.entries import ConfirmationRequired
from ...services.patient_state import schedule_setup
from .advice import advice_view, conflict_message, error_message, field_name
from .deps import PATIENT_DEPENDENCY, SignedInPatient, provide_patient
from .rendering import app_context, new_key, page, patient_zone, plan_of, recent_days, submitted_form
from .schemas import AntiemeticForm, DoseForm, EntryIn, LocalTime, SymptomsForm, WeightForm, field_errors
from .submit import UnitQuestion, record_entry


def _form_page(
    request: Request,
    ctx: AppContext,
    patient: Patient,
    kind: str,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    status_code: int = 200,
    confirm: bool = False,
    wrong_day: str | None = None,
    switch_unit: str | None = None,
    about: list[str] | None = None,
) -> Template:
    values = dict(values or {})
    values.setdefault("idempotency_key", new_key())
    context: dict[str, Any] = {
        "values": values,
        "errors": errors or {},
        "confirm": confirm,
        "wrong_day": wrong_day,
        "switch_unit": switch_unit,
        "days": recent_days(ctx, patient),
        "questions": QUESTIONS,
        "other_unit_ranges": TEMPERATURE_OTHER_UNIT,
        "about": about or [],
        "key": new_key,
    }
    if kind == "dose":
        context["dose_days"] = _dose_days(ctx, patient, context["days"])
    if kind == "weight":
        view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
        context["last_weight"] = view.last_weight
        context["last_weight_at"] = view.last_weight.at.astimezone(view.setup.zone) if view.last_weight else None
    return page(request, ctx, f"patient/{kind}.html", patient=patient, status_code=status_code, **context)


# The groups of the check-in's questions, nausea first (web/templates/patient/symptoms.html `topics`).
SYMPTOM_TOPICS = ("nausea", "diarrhea", "fever", "appetite", "tired", "bleeding", "dizzy", "eyes")


def _dose_days(ctx: AppContext, patient: Patient, days: list[date]) -> list[date] | None:
    """Which of the form's days are selinexor days (None when the plan is not active: nothing to ask then)."""
    plan = plan_of(ctx, patient)
    if plan.status != "active":
        return None
    setup = schedule_setup(patient, plan)
    return [d for d in days if is_dose_day(setup, d)]


def _wrong_day(ctx: AppContext, patient: Patient, entry: DoseForm, at: datetime | None) -> str | None:
    """ "today" or "other" when a dose logged as taken falls on a day that is not a selinexor day, else None.

    clinical-reference: R-WRONG-DAY (asked before saving; the answer "yes" stores it and the rule still runs).
    """
    if entry.status != "taken" or entry.wrong_day_confirmed:
        return None
    zone = patient_zone(ctx, patient)
    today = ctx.clock.now().astimezone(zone).date()
    day = (at or ctx.clock.now()).astimezone(zone).date()
    dose_days = _dose_days(ctx, patient, [day])
    if dose_days is None or dose_days:
        return None
    return "today" if day == today else "other"


def _correction_values(request: Request, ctx: AppContext, patient: Patient, kind: str) -> dict[str, Any]:
    """Prefill a form from the entry being corrected (?correct=ID); another patient's entry is a 404."""
    raw = request.query_params.get("correct")
    if not raw:
        return {}
    try:
        entry_id = int(raw)
    except ValueError:
        raise NotFound("No such entry.") from None
    row = patient_views.get_own_entry(ctx.engine, patient.id, kind, entry_id)
    local = row.at.astimezone(patient_zone(ctx, patient))
    values: dict[str, Any] = {
        "corrects_id": row.id,
        "when": "earlier",
        "day": local.date().isoformat(),
        "time": local.strftime("%H:%M"),
    }
    if kind == "dose":
        values.update(status=row.status, scheduled_for=row.scheduled_for.isoformat() if row.scheduled_for else "")
    elif kind == "weight":
        values.update(value=f"{row.entered_value:g}")
    elif kind == "symptoms":
        for question in ("nausea", "appetite", "fatigue"):
            values[question] = patient_views.choice_value(question, getattr(row, question))
        values.update(
            vomiting_episodes=row.vomiting_episodes,
            loose_stools=row.loose_stools,
            temperature=row.temperature_c,
            temperature_unit="c",
            bleeding=row.bleeding,
            neuro=row.neuro,
            chills=None if row.chills is None else ("true" if row.chills else "false"),
            vision=None if row.vision_change is None else ("changed" if row.vision_change else "none"),
            note=row.note,
        )
    return values


@get("/log/dose", sync_to_thread=True)
def dose_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    return _form_page(request, ctx, patient, "dose", values=_correction_values(request, ctx, patient, "dose"))


@get("/log/symptoms", sync_to_thread=True)
def symptoms_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    # "What is bothering you?" (issue 11 item 7): ?about=nausea&about=fever opens only those questions.
    about = [topic for topic in request.query_params.getall("about", []) if topic in SYMPTOM_TOPICS]
    return _form_page(
        request, ctx, patient, "symptoms", values=_correction_values(request, ctx, patient, "symptoms"), about=about
    )


@get("/log/weight", sync_to_thread=True)
def weight_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    return _form_page(request, ctx, patient, "weight", values=_correction_values(request, ctx, patient, "weight"))


# Where a refused field's sentence is shown on the form, when not beside a field of its own name.
FORM_SLOTS = {"value": "weight"}


def _refused(request: Request, ctx: AppContext, patient: Patient, kind: str, exc: FieldError) -> Template:
    """The one answer to a refused form: the page again, as typed, with the plain sentence beside the field."""
    form = submitted_form(request)
    message = error_message(patient.language, patient, exc)
    if kind == "antiemetic":  # its one-tap form lives on Today: answer there
        view = patient_views.today_view(ctx.engine, patient, ctx.clock.now())
        return page(
            request,
            ctx,
            "patient/today.html",
            patient=patient,
            view=view,
            key=new_key,
            status_code=422,
            entry_error=message,
        )
    field = field_name(exc.field)
    field = FORM_SLOTS.get(field, field)
    if field in ("at", "scheduled_for"):
        field = "time" if form.get("when") == "earlier" else "when"
    return _form_page(
        request,
        ctx,
        patient,
        kind,
        values=form,
        errors={field: message},
        status_code=422,
        confirm=isinstance(exc, ConfirmationRequired),
        switch_unit=exc.meant_unit if isinstance(exc, UnitQuestion) else None,
    )


def _form_refused(request: Request, exc: ValidationException) -> Response:
    """A form the model refuses (Litestar calls this without dependencies; the guard has signed the patient in)."""
    kind = request.route_handler.opt["entry_kind"]
    return _refused(request, app_context(request), provide_patient(request), kind, field_errors(exc)[0])


def _post_entry(request: Request, ctx: AppContext, patient: Patient, entry: EntryIn) -> Template:
    at = None
    if isinstance(entry, LocalTime) and entry.when == "earlier":
        at = entry.local_at(patient_zone(ctx, patient))
    if isinstance(entry, DoseForm) and (wrong_day := _wrong_day(ctx, patient, entry, at)):
        # Ask before saving (the page's script asks the same question without a round trip).
        return _form_page(request, ctx, patient, "dose", values=submitted_form(request), wrong_day=wrong_day)
    try:
        result = record_entry(ctx, patient, entry, at=at, from_form=True)
    except FieldError as exc:
        return _refused(request, ctx, patient, entry.KIND, exc)
    except Conflict:
        return _form_page(
            request,
            ctx,
            patient,
            entry.KIND,
            values={**submitted_form(request), "idempotency_key": new_key()},
            status_code=409,
            errors={"form": conflict_message(patient.language)},
        )
    return page(
        request,
        ctx,
        "patient/done.html",
        patient=patient,
        kind=entry.KIND,
        result=result,
        advice=advice_view(ctx, patient, result, patient.language),
    )


@post("/log/dose", sync_to_thread=True, status_code=200, opt={"entry_kind": "dose"})
def dose_post(request: Request, ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[DoseForm]) -> Template:
    return _post_entry(request, ctx, patient, data)


@post("/log/antiemetic", sync_to_thread=True, status_code=200, opt={"entry_kind": "antiemetic"})
def antiemetic_post(
    request: Request, ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[AntiemeticForm]
) -> Template:
    return _post_entry(request, ctx, patient, data)


@post("/log/symptoms", sync_to_thread=True, status_code=200, opt={"entry_kind": "symptoms"})
def symptoms_post(request: Request, ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[SymptomsForm]) -> Template:
    return _post_entry(request, ctx, patient, data)


@post("/log/weight", sync_to_thread=True, status_code=200, opt={"entry_kind": "weight"})
def weight_post(request: Request, ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[WeightForm]) -> Template:
    return _post_entry(request, ctx, patient, data)


ROUTER = Router(
    path="/",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    include_in_schema=False,
    route_handlers=[dose_page, symptoms_page, weight_page, dose_post, antiemetic_post, symptoms_post, weight_post],
    exception_handlers={ValidationException: _form_refused},
)
