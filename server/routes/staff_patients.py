"""Patients for the care team: the roster, enrollment and the invite, a patient's page (plan actions, labs),
their timeline, weight chart and printable visit summary."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlmodel import Session

from ..auth import requires_staff
from ..clinical.regimens import REGIMENS, TABLET_STRENGTHS_MG
from ..clinical.schedule import WEEKDAYS
from ..context import AppContext, Ctx
from ..errors import FieldError
from ..services import enrollment, inbox, labs
from ..services.enrollment import EnrollmentForm, FieldErrors
from .staff_charts import weight_chart_svg
from .staff_common import FORM, client_ip, me, pop_flash, render, see_other, set_flash
from .staff_inbox import staff_choices_of

INVITE_FLASH = "invite"
CHART_DAYS = 56


# --------------------------------------------------------------------------- roster


@get("/staff/patients", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def roster(request: Request, ctx: Ctx, q: FromQuery[str] = "", status: FromQuery[str] = "",
           regimen: FromQuery[str] = "", alerts: FromQuery[str] = "", sort: FromQuery[str] = "alerts",
           desc: FromQuery[bool] = False) -> Template:
    staff = me(request)
    flt = inbox.RosterFilter(q=q, status=status, regimen=regimen, alerts=alerts,
                             sort=sort if sort in inbox.ROSTER_SORTS else "alerts", desc=desc)
    with Session(ctx.engine) as session:
        rows = inbox.roster(session, staff, ctx.clock.now(), flt)
    inbox.record_views(ctx, staff, "roster.view", [r.patient.id for r in rows], ip=client_ip(request))
    return render(request, "staff/roster.html", nav="patients", rows=rows, filter=flt, regimens=list(REGIMENS))


# --------------------------------------------------------------------------- enrollment


def _enroll_page(request: Request, ctx: AppContext, form: EnrollmentForm, *, errors: dict | None = None,
                 status_code: int = 200) -> Template:
    return render(request, "staff/enroll.html", nav="enroll", status_code=status_code, form=form,
                  errors=errors or {}, regimens=REGIMENS, tablet_strengths=TABLET_STRENGTHS_MG,
                  languages=enrollment.LANGUAGES,
                  channels=enrollment.CHANNELS, weekdays=WEEKDAYS, time_zones=sorted(enrollment.time_zones()))


@get("/staff/patients/new", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def enroll_form(request: Request, ctx: Ctx) -> Template:
    today = ctx.clock.now().date()
    return _enroll_page(request, ctx, enrollment.form_defaults(ctx.settings.default_timezone, today))


@post("/staff/patients", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def enroll(request: Request, ctx: Ctx, data: Annotated[EnrollmentForm, FORM]) -> Template | Redirect:
    try:
        result = enrollment.enroll_patient(ctx, me(request), data, ip=client_ip(request))
    except FieldErrors as exc:
        return _enroll_page(request, ctx, data, errors=exc.errors, status_code=422)
    except FieldError as exc:
        return _enroll_page(request, ctx, data, errors={exc.field: exc.message}, status_code=422)
    # The link holds a one-time token we only store hashed: it is shown once, from the encrypted session cookie.
    set_flash(request, **{INVITE_FLASH: {"patient_id": result.patient_id, "url": result.invite_url, "new": True}})
    return see_other(f"/staff/patients/{result.patient_id}/invite")


@get("/staff/patients/{patient_id:int}/invite", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def invite(request: Request, ctx: Ctx, patient_id: FromPath[int]) -> Template:
    from ..services.invites import sign_in_qr_svg

    staff = me(request)
    with Session(ctx.engine) as session:
        patient = inbox.patient_for_staff(session, patient_id, staff.clinic_id)
        plan = inbox.current_plan(session, patient_id)
    flash = pop_flash(request)
    link = flash.get(INVITE_FLASH) if isinstance(flash.get(INVITE_FLASH), dict) else None
    if link is not None and link.get("patient_id") != patient_id:
        link = None
    inbox.record_view(ctx, staff, "patient.invite_view", patient_id=patient_id, ip=client_ip(request))
    return render(request, "staff/invite.html", nav="patients", flash={k: v for k, v in flash.items() if k != INVITE_FLASH},
                  patient=patient, plan=plan, dose=inbox.patient_dose_words(patient, plan), link=link,
                  qr=sign_in_qr_svg(link["url"]) if link else None, weekdays=WEEKDAYS)


@post("/staff/patients/{patient_id:int}/invite", guards=[requires_staff], sync_to_thread=True,
      include_in_schema=False)
def new_link(request: Request, ctx: Ctx, patient_id: FromPath[int]) -> Redirect:
    url = enrollment.new_sign_in_link(ctx, me(request), patient_id, ip=client_ip(request))
    set_flash(request, **{INVITE_FLASH: {"patient_id": patient_id, "url": url, "new": False}})
    return see_other(f"/staff/patients/{patient_id}/invite")


@post("/staff/patients/{patient_id:int}/sessions/revoke", guards=[requires_staff], sync_to_thread=True,
      include_in_schema=False)
def revoke_patient_sessions(request: Request, ctx: Ctx, patient_id: FromPath[int]) -> Redirect:
    from ..services.invites import revoke_patient_sessions as revoke

    staff = me(request)
    with Session(ctx.engine) as session:
        inbox.patient_for_staff(session, patient_id, staff.clinic_id)
    revoke(ctx, patient_id, staff.id)
    set_flash(request, notice="The patient was signed out on every device. Send a new sign-in link if needed.")
    return see_other(f"/staff/patients/{patient_id}")


# --------------------------------------------------------------------------- a patient's page


def patient_page(request: Request, ctx: AppContext, patient_id: int, *, status_code: int = 200,
                 error: dict | None = None, plan_form: inbox.PlanForm | None = None,
                 lab_form: labs.LabForm | None = None) -> Template:
    staff = me(request)
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        overview = inbox.patient_overview(session, staff, patient_id, now)
        choices = staff_choices_of(session, staff)
    inbox.record_view(ctx, staff, "patient.view", patient_id=patient_id, ip=client_ip(request))
    today = now.astimezone(inbox.setup_zone(overview.patient.timezone)).date()
    # "Hold because of": the open alerts' rules, so R-RESUME can tell when the hold may end.
    rule_choices = list(dict.fromkeys((v.alert.rule, v.rule_words) for v in overview.open_alerts))
    return render(request, "staff/patient.html", nav="patients", status_code=status_code, o=overview,
                  rule_choices=rule_choices,
                  staff_choices=choices, outcomes=inbox.OUTCOMES, error=error, weekdays=WEEKDAYS,
                  plan_form=plan_form or inbox.PlanForm(), lab_form=lab_form or labs.LabForm(collected_on=today.isoformat()),
                  lab_key=uuid.uuid4().hex, lab_fields=labs.LAB_FIELDS, today=today)


@get("/staff/patients/{patient_id:int}", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def patient_view(request: Request, ctx: Ctx, patient_id: FromPath[int]) -> Template:
    return patient_page(request, ctx, patient_id)


@post("/staff/patients/{patient_id:int}/plan", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def change_plan(request: Request, ctx: Ctx, patient_id: FromPath[int], data: Annotated[inbox.PlanForm, FORM]) -> Template | Redirect:
    try:
        plan = inbox.change_patient_plan(ctx, me(request), patient_id, data, ip=client_ip(request))
    except FieldError as exc:
        return patient_page(request, ctx, patient_id, status_code=422, plan_form=data,
                            error={"form": "plan", "field": exc.field, "message": exc.message})
    set_flash(request, notice=f"Plan version {plan.version} saved: {plan.status}, level {plan.dose_level}. "
                              "Reminders were replanned and the patient's Today shows the change.")
    return see_other(f"/staff/patients/{patient_id}#plan")


@post("/staff/patients/{patient_id:int}/labs", guards=[requires_staff], sync_to_thread=True, include_in_schema=False)
def enter_labs(request: Request, ctx: Ctx, patient_id: FromPath[int], data: Annotated[labs.LabForm, FORM]) -> Template | Redirect:
    try:
        result = labs.enter_labs(ctx, me(request), patient_id, data, ip=client_ip(request))
    except FieldError as exc:
        return patient_page(request, ctx, patient_id, status_code=422, lab_form=data,
                            error={"form": "labs", "field": exc.field, "message": exc.message})
    findings = [f"{f.rule} ({inbox.TIER_WORDS.get(f.tier.value, f.tier.value)})" for f in result.advice.findings]
    set_flash(request, notice="Labs saved." + (f" Findings: {', '.join(findings)}." if findings else ""))
    return see_other(f"/staff/patients/{patient_id}#labs")


# --------------------------------------------------------------------------- timeline, chart, visit summary


@get("/staff/patients/{patient_id:int}/timeline", guards=[requires_staff], sync_to_thread=True,
     include_in_schema=False)
def patient_timeline(request: Request, ctx: Ctx, patient_id: FromPath[int], days: FromQuery[int] = 30) -> Template:
    staff = me(request)
    days = min(max(days, 1), 365)
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        patient = inbox.patient_for_staff(session, patient_id, staff.clinic_id)
        items = inbox.timeline(session, staff, patient_id, now, days=days)
    inbox.record_view(ctx, staff, "patient.timeline", patient_id=patient_id, ip=client_ip(request),
                      detail=f"{days} days")
    return render(request, "staff/timeline.html", nav="patients", patient=patient, items=items, days=days)


@get("/staff/patients/{patient_id:int}/weight.svg", guards=[requires_staff], sync_to_thread=True,
     include_in_schema=False)
def weight_chart(request: Request, ctx: Ctx, patient_id: FromPath[int], days: FromQuery[int] = CHART_DAYS) -> Response:
    staff = me(request)
    now = ctx.clock.now()
    days = min(max(days, 7), 365)
    with Session(ctx.engine) as session:
        patient = inbox.patient_for_staff(session, patient_id, staff.clinic_id)
        weights = inbox.weights_between(session, patient_id, now - timedelta(days=days), now)
    inbox.record_view(ctx, staff, "patient.weight_chart", patient_id=patient_id, ip=client_ip(request))
    # Staff pages speak kg throughout (the patient's own unit is shown beside their entries).
    svg = weight_chart_svg([(w.at, w.kg) for w in weights], patient.baseline_weight_kg, unit="kg",
                           start=now - timedelta(days=days), end=now, zone=patient.timezone)
    return Response(content=svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@get("/staff/patients/{patient_id:int}/summary", guards=[requires_staff], sync_to_thread=True,
     include_in_schema=False)
def visit_summary(request: Request, ctx: Ctx, patient_id: FromPath[int], since: FromQuery[str] = "") -> Template:
    staff = me(request)
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        inbox.patient_for_staff(session, patient_id, staff.clinic_id)
        start: date | None = None
        if since:
            try:
                start = date.fromisoformat(since)
            except ValueError:
                start = None
        start = start or inbox.last_visit_date(session, patient_id, now)
        summary = inbox.visit_summary(session, staff, patient_id, now, start)
    inbox.record_view(ctx, staff, "patient.visit_summary", patient_id=patient_id, ip=client_ip(request),
                      detail=f"since {summary.since.isoformat()}")
    chart = weight_chart_svg([(w.at, w.kg) for w in summary.weights], summary.patient.baseline_weight_kg,
                             unit="kg", start=inbox.day_start(summary.since, summary.patient.timezone),
                             end=now, zone=summary.patient.timezone, height=180)
    return render(request, "staff/visit_summary.html", nav="patients", s=summary, chart=chart, now=now)


ROUTES = [roster, enroll_form, enroll, invite, new_link, revoke_patient_sessions, patient_view, change_plan,
          enter_labs, patient_timeline, weight_chart, visit_summary]
