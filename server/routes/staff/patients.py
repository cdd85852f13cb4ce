# Over 400 lines on purpose: a patient's page and the forms posted from it share one router.
"""Patients for the care team: the roster, enrollment and the invite, a patient's page (plan actions, labs),
their timeline, weight chart and printable visit summary.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from markupsafe import Markup
from sqlmodel import Session

from ...clinical.regimens import REGIMENS, TABLET_STRENGTHS_MG
from ...clinical.schedule import WEEKDAYS
from ...clinical.start_checklist import INDICATIONS
from ...context import AppContext, Ctx
from ...errors import FieldError, FieldErrors, Forbidden
from ...models import Staff
from ...services import enrollment, enrollment_choices, labs
from ...services.audit import record_view, record_views
from ...services.clinic_scope import patient_for_staff, staff_choices
from ...services.enrollment import EnrollmentForm
from ...services.invites import revoke_patient_sessions as revoke_sessions
from ...services.invites import sign_in_qr_svg
from ...services.labs import LabEntry
from ...services.patient_state import current_plan
from ...services.pqi.checklist import CHECKLIST_ROLES, CONTRACEPTION_CHOICES, patient_checklist
from ...services.pqi.teach_back import teach_back_results
from ...services.staff import patient_record
from ...services.staff import roster as roster_service
from ...services.staff import visit_summary as visit_summary_service
from ...services.staff.plan_changes import ConfirmationNeeded, PlanChange, change_patient_plan
from ...services.staff.plan_history import day_start
from ...services.staff.wording import OUTCOMES, TIER_WORDS, patient_dose_words
from .charts import LAB_CHARTS, lab_chart_svg, weight_chart_svg
from .common import (
    FORM,
    SignedInStaff,
    client_ip,
    confirmation,
    pop_flash,
    render,
    requires_plan_role,
    see_other,
    set_flash,
    submitted,
    when_refused,
)

INVITE_FLASH = "invite"
CHART_DAYS = 56
LAB_CHART_DAYS = 180  # the lab table and trends: half a year of results


# --------------------------------------------------------------------------- roster


@get("/patients", sync_to_thread=True)
def roster(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    regimen: FromQuery[str] = "",
    alerts: FromQuery[str] = "",
    sort: FromQuery[str] = "alerts",
    desc: FromQuery[bool] = False,
    page: FromQuery[int] = 1,
) -> Template:
    """The clinic's patients, searchable, sortable and paged."""
    flt = roster_service.RosterFilter(
        q=q,
        status=status,
        regimen=regimen,
        alerts=alerts,
        sort=sort if sort in roster_service.ROSTER_SORTS else "alerts",
        desc=desc,
    )
    with Session(ctx.engine) as session:
        listing = roster_service.roster(session, staff, ctx.clock.now(), flt, page=page)
    record_views(ctx, staff, "roster.view", [r.patient.id for r in listing.rows], ip=client_ip(request))
    return render(
        request,
        "staff/roster.html",
        nav="patients",
        rows=listing.rows,
        listing=listing,
        filter=flt,
        regimens=list(REGIMENS),
    )


# --------------------------------------------------------------------------- enrollment


def _clinic_zone(ctx: AppContext, staff: Staff | None) -> str:
    """The signed-in person's clinic's zone (the enrollment form's default), else DEFAULT_TIMEZONE."""
    if staff is None:
        return ctx.settings.default_timezone
    with Session(ctx.engine) as session:
        return labs.clinic_zone(session, staff.clinic_id, ctx.settings.default_timezone)


def _enroll_page(
    request: Request,
    ctx: AppContext,
    staff: Staff | None,
    form: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    strength = form.get("tablet_strength_mg") or ""
    country = ctx.settings.clinic_country
    return render(
        request,
        "staff/enroll.html",
        nav="enroll",
        status_code=status_code,
        form=form,
        errors=errors or {},
        labels=enrollment.FIELD_LABELS,
        field_label=enrollment.field_label,
        regimens=REGIMENS,
        level_options=enrollment_choices.level_options(
            int(strength) if strength.isdigit() and int(strength) in TABLET_STRENGTHS_MG else TABLET_STRENGTHS_MG[0]
        ),
        tablet_strengths=TABLET_STRENGTHS_MG,
        languages=enrollment.LANGUAGES,
        channels=enrollment.CHANNELS,
        weekdays=WEEKDAYS,
        zone_groups=enrollment_choices.zone_groups(enrollment.time_zones(), _clinic_zone(ctx, staff), ctx.clock.now()),
        phone_example=enrollment_choices.phone_example(country),
    )


@get("/patients/new", sync_to_thread=True)
def enroll_form(request: Request, ctx: Ctx, staff: SignedInStaff) -> Template:
    """A blank enrollment form with the clinic's defaults (zone, weight unit)."""
    today = ctx.clock.now().date()
    defaults = enrollment.form_defaults(_clinic_zone(ctx, staff), today, ctx.settings.clinic_country)
    return _enroll_page(request, ctx, staff, defaults)


def _enrollment_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    return _enroll_page(request, ctx, staff, values, errors=errors.errors, status_code=422)


@post("/patients", sync_to_thread=True, exception_handlers=when_refused(EnrollmentForm, _enrollment_refused))
def enroll(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[EnrollmentForm, FORM]
) -> Template | Redirect:
    """Enroll a patient, then show their sign-in link once."""
    try:
        result = enrollment.enroll_patient(ctx, staff, data, ip=client_ip(request))
    except FieldErrors as exc:
        return _enroll_page(request, ctx, staff, submitted(request), errors=exc.errors, status_code=422)
    except FieldError as exc:
        return _enroll_page(request, ctx, staff, submitted(request), errors={exc.field: exc.message}, status_code=422)
    # The link holds a one-time token we only store hashed: it is shown once, from the encrypted session cookie.
    set_flash(request, **{INVITE_FLASH: {"patient_id": result.patient_id, "url": result.invite_url, "new": True}})
    return see_other(f"/staff/patients/{result.patient_id}/invite")


@get("/patients/{patient_id:int}/invite", sync_to_thread=True)
def invite(request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int]) -> Template:
    """The patient's sign-in link (shown once, right after it was made) and the printable instructions."""
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
        plan = current_plan(session, patient_id)
    flash = pop_flash(request)
    link = flash.get(INVITE_FLASH) if isinstance(flash.get(INVITE_FLASH), dict) else None
    if link is not None and link.get("patient_id") != patient_id:
        link = None
    record_view(ctx, staff, "patient.invite_view", patient_id=patient_id, ip=client_ip(request))
    return render(
        request,
        "staff/invite.html",
        nav="patients",
        flash={k: v for k, v in flash.items() if k != INVITE_FLASH},
        patient=patient,
        plan=plan,
        dose=patient_dose_words(patient, plan),
        phone=enrollment_choices.phone_words(patient.phone_e164, ctx.settings.clinic_country),
        clinic_phone_words=enrollment_choices.phone_words(ctx.settings.clinic_phone, ctx.settings.clinic_country),
        link=link,
        qr=sign_in_qr_svg(link["url"]) if link else None,
        weekdays=WEEKDAYS,
    )


@post("/patients/{patient_id:int}/invite", sync_to_thread=True)
def new_link(request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int]) -> Redirect:
    """A fresh sign-in link (a lost phone, an expired invite)."""
    url = enrollment.new_sign_in_link(ctx, staff, patient_id, ip=client_ip(request))
    set_flash(request, **{INVITE_FLASH: {"patient_id": patient_id, "url": url, "new": False}})
    return see_other(f"/staff/patients/{patient_id}/invite")


@post("/patients/{patient_id:int}/sessions/revoke", sync_to_thread=True)
def revoke_patient_sessions(request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int]) -> Redirect:
    """Sign the patient out on every device."""
    with Session(ctx.engine) as session:
        patient_for_staff(session, patient_id, staff.clinic_id)
    revoke_sessions(ctx, patient_id, staff.id)
    set_flash(request, notice="The patient was signed out on every device. Send a new sign-in link if needed.")
    return see_other(f"/staff/patients/{patient_id}")


# --------------------------------------------------------------------------- a patient's page


def patient_page(
    request: Request,
    ctx: AppContext,
    staff: Staff,
    patient_id: int,
    *,
    status_code: int = 200,
    error: dict[str, Any] | None = None,
    plan_form: dict[str, str] | None = None,
    lab_form: dict[str, str] | None = None,
    confirm: dict[str, Any] | None = None,
) -> Template:
    """The patient's page; after a refused form, with the form as typed and its message."""
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        overview = patient_record.patient_overview(session, staff, patient_id, now)
        checklist = patient_checklist(session, overview.patient, overview.plan)
        choices = staff_choices(session, staff)
        results = labs.lab_history(session, patient_id, now - timedelta(days=LAB_CHART_DAYS))
        lab_zone = labs.clinic_zone(session, overview.patient.clinic_id, ctx.settings.default_timezone)
        teach_back = teach_back_results(session, [patient_id]).get(patient_id)
    record_view(ctx, staff, "patient.view", patient_id=patient_id, ip=client_ip(request))
    today = now.astimezone(ZoneInfo(lab_zone)).date()
    lab_charts = [
        Markup(
            lab_chart_svg(
                [(r.collected_at, getattr(r, name)) for r in results if getattr(r, name) is not None],
                title=title,
                unit=unit,
                lines=lines,
                zone=overview.patient.timezone,
            )
        )
        for name, title, unit, lines in LAB_CHARTS
    ]
    # "Hold because of": the open alerts' rules, so R-RESUME can tell when the hold may end.
    rule_choices = list(dict.fromkeys((v.alert.rule, v.rule_words) for v in overview.open_alerts))
    return render(
        request,
        "staff/patient.html",
        nav="patients",
        status_code=status_code,
        o=overview,
        phone=enrollment_choices.phone_words(overview.patient.phone_e164),
        rule_choices=rule_choices,
        staff_choices=choices,
        outcomes=OUTCOMES,
        error=error,
        weekdays=WEEKDAYS,
        plan_form=plan_form or {},
        lab_form=lab_form
        or {"collected_on": today.isoformat(), "collected_time": now.astimezone(ZoneInfo(lab_zone)).strftime("%H:%M")},
        lab_results=list(reversed(results)),
        lab_charts=lab_charts,
        lab_zone=lab_zone,
        lab_key=uuid.uuid4().hex,
        lab_fields=labs.LAB_FIELDS,
        today=today,
        confirm=confirm,
        checklist=checklist,
        checklist_may_tick=staff.role in CHECKLIST_ROLES,
        checklist_form=submitted(request) if error and error.get("form") == "checklist" else {},
        indications=INDICATIONS,
        contraception_choices=CONTRACEPTION_CHOICES,
        teach_back=teach_back,
    )


@get("/patients/{patient_id:int}", sync_to_thread=True)
def patient_view(request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int]) -> Template:
    """The patient's page."""
    return patient_page(request, ctx, staff, patient_id)


def _plan_form_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    return patient_page(
        request,
        ctx,
        staff,
        request.path_params["patient_id"],
        status_code=422,
        plan_form=values,
        error={"form": "plan", "field": errors.field, "message": errors.message},
    )


@post(
    "/patients/{patient_id:int}/plan",
    sync_to_thread=True,
    guards=[requires_plan_role],
    exception_handlers=when_refused(PlanChange, _plan_form_refused),
)
def change_plan(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], data: Annotated[PlanChange, FORM]
) -> Template | Redirect:
    """A plan decision from the patient's page."""
    try:
        plan = change_patient_plan(ctx, staff, patient_id, data, ip=client_ip(request))
    except ConfirmationNeeded as exc:
        return patient_page(
            request,
            ctx,
            staff,
            patient_id,
            confirm=confirmation(
                request, exc, f"/staff/patients/{patient_id}/plan", f"/staff/patients/{patient_id}#plan"
            ),
        )
    except Forbidden as exc:
        return patient_page(
            request,
            ctx,
            staff,
            patient_id,
            status_code=403,
            error={"form": "plan", "field": "operation", "message": str(exc)},
        )
    except FieldError as exc:
        return patient_page(
            request,
            ctx,
            staff,
            patient_id,
            status_code=422,
            plan_form=submitted(request),
            error={"form": "plan", "field": exc.field, "message": exc.message},
        )
    set_flash(
        request,
        notice=f"Plan version {plan.version} saved: {plan.status}, level {plan.dose_level}. "
        "Reminders were replanned and the patient's Today shows the change.",
    )
    return see_other(f"/staff/patients/{patient_id}#plan")


def _lab_form_refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    return patient_page(
        request,
        ctx,
        staff,
        request.path_params["patient_id"],
        status_code=422,
        lab_form=values,
        error={"form": "labs", "field": errors.field, "message": errors.message},
    )


@post(
    "/patients/{patient_id:int}/labs", sync_to_thread=True, exception_handlers=when_refused(LabEntry, _lab_form_refused)
)
def enter_labs(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], data: Annotated[LabEntry, FORM]
) -> Template | Redirect:
    """Lab results, which feed the rules like any entry."""
    try:
        result = labs.enter_labs(ctx, staff, patient_id, data, ip=client_ip(request))
    except FieldError as exc:
        return patient_page(
            request,
            ctx,
            staff,
            patient_id,
            status_code=422,
            lab_form=submitted(request),
            error={"form": "labs", "field": exc.field, "message": exc.message},
        )
    findings = [
        f"{labs.finding_words(data, f)} ({TIER_WORDS.get(f.tier.value, f.tier.value)})" for f in result.advice.findings
    ]
    set_flash(request, notice="Labs saved." + (f" Findings: {'; '.join(findings)}." if findings else ""))
    return see_other(f"/staff/patients/{patient_id}#labs")


# --------------------------------------------------------------------------- timeline, chart, visit summary


@get("/patients/{patient_id:int}/timeline", sync_to_thread=True)
def patient_timeline(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], days: FromQuery[int] = 30
) -> Template:
    """Everything that happened to the patient, newest first."""
    days = min(max(days, 1), 365)
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
        items = patient_record.timeline(session, staff, patient_id, now, days=days)
    record_view(ctx, staff, "patient.timeline", patient_id=patient_id, ip=client_ip(request), detail=f"{days} days")
    return render(request, "staff/timeline.html", nav="patients", patient=patient, items=items, days=days)


@get("/patients/{patient_id:int}/weight.svg", sync_to_thread=True)
def weight_chart(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], days: FromQuery[int] = CHART_DAYS
) -> Response[str]:
    """The weight chart (kg, with the baseline and loss lines)."""
    now = ctx.clock.now()
    days = min(max(days, 7), 365)
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
        weights = patient_record.weights_between(session, patient_id, now - timedelta(days=days), now)
    record_view(ctx, staff, "patient.weight_chart", patient_id=patient_id, ip=client_ip(request))
    # Staff pages speak kg throughout (the patient's own unit is shown beside their entries).
    svg = weight_chart_svg(
        [(w.at, w.kg) for w in weights],
        patient.baseline_weight_kg,
        unit="kg",
        start=now - timedelta(days=days),
        end=now,
        zone=patient.timezone,
    )
    return Response(content=svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@get("/patients/{patient_id:int}/summary", sync_to_thread=True)
def visit_summary(
    request: Request, ctx: Ctx, staff: SignedInStaff, patient_id: FromPath[int], since: FromQuery[str] = ""
) -> Template:
    """The printable visit summary, since the last visit (or `since`, a date; one that does not parse is ignored)."""
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        patient_for_staff(session, patient_id, staff.clinic_id)
        start: date | None = None
        if since:
            try:
                start = date.fromisoformat(since)
            except ValueError:
                start = None
        start = start or visit_summary_service.last_visit_date(session, patient_id, now)
        summary = visit_summary_service.visit_summary(session, staff, patient_id, now, start)
    record_view(
        ctx,
        staff,
        "patient.visit_summary",
        patient_id=patient_id,
        ip=client_ip(request),
        detail=f"since {summary.since.isoformat()}",
    )
    chart = weight_chart_svg(
        [(w.at, w.kg) for w in summary.weights],
        summary.patient.baseline_weight_kg,
        unit="kg",
        start=day_start(summary.since, summary.patient.timezone),
        end=now,
        zone=summary.patient.timezone,
        height=180,
    )
    return render(request, "staff/visit_summary.html", nav="patients", s=summary, chart=chart, now=now)


ROUTES: list[Any] = [
    roster,
    enroll_form,
    enroll,
    invite,
    new_link,
    revoke_patient_sessions,
    patient_view,
    change_plan,
    enter_labs,
    patient_timeline,
    weight_chart,
    visit_summary,
]
