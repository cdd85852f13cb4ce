"""Today's status banner (the wait for the care team, a plan change to confirm), and the patient's confirmation of a
plan change ("I understand" on Today, or the same from the page scripts as JSON).

Architecture flow 5: the confirmation is recorded once (services/plan_notices.py) and shown to staff on the plan and
the timeline. The session decides whose notice it is: another patient's notice id is a 404.
"""

from __future__ import annotations

from typing import Any

from litestar import Router, post
from litestar.params import JSONBody, URLEncodedBody
from litestar.response import Redirect
from pydantic import Field

from ...auth import requires_patient
from ...clinical.advice import WAIT_FOR_TEAM
from ...context import Ctx
from ...i18n import render_advice, translate
from ...services import plan_notices
from ...services.patient_views import TodayView
from .deps import PATIENT_DEPENDENCY, SignedInPatient
from .schemas import PatientInput


def status_banner(view: TodayView, lang: str) -> dict[str, list[str]]:
    """The sentences of Today's status banner (web/templates/patient/_status_banner.html), in the patient's language."""
    return {
        "wait_words": render_advice(view.wait.advice, lang) if view.wait else [],
        "notice_words": (
            plan_notices.notice_sentences(view.notice.before, view.notice.after, lang) if view.notice else []
        ),
    }


def status_json(view: TodayView, lang: str) -> dict[str, Any]:
    """The same banner for /api/today: the wait state and the plan change to confirm, with their words."""
    wait = view.wait
    notice = view.notice
    return {
        "wait_for_team": None
        if wait is None
        else {
            "message": translate(lang, WAIT_FOR_TEAM),
            "reported_at": wait.reported_at.isoformat(),
            "seen_at": wait.seen_at.isoformat() if wait.seen_at else None,
            "clinic_open_now": wait.contact.clinic_open_now,
            "clinic_phone": wait.contact.clinic_phone,
            "advice": render_advice(wait.advice, lang),
        },
        "plan_change": None
        if notice is None
        else {
            "notice_id": notice.id,
            "operation": notice.operation,
            "created_at": notice.created_at.isoformat(),
            "before": notice.before,
            "after": notice.after,
            "message": " ".join(plan_notices.notice_sentences(notice.before, notice.after, lang)),
        },
    }


class NoticeConfirmIn(PatientInput):
    """Confirm this plan change (its id, from Today or /api/today)."""

    notice_id: int = Field(ge=1)


@post("/plan-change/confirm", sync_to_thread=True, status_code=303)
def confirm_page(ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[NoticeConfirmIn]) -> Redirect:
    plan_notices.acknowledge_notice(ctx, patient.id, data.notice_id, via="app")
    return Redirect("/today?confirmed=1", status_code=303)


@post(
    "/plan-change/confirm",
    sync_to_thread=True,
    status_code=200,
    summary="Confirm that the patient has read a change of their plan",
)
def confirm_api(ctx: Ctx, patient: SignedInPatient, data: JSONBody[NoticeConfirmIn]) -> dict[str, Any]:
    notice = plan_notices.acknowledge_notice(ctx, patient.id, data.notice_id, via="app")
    return {
        "notice_id": notice.id,
        "acknowledged_at": notice.acknowledged_at.isoformat(),
        "acknowledged_via": notice.acknowledged_via,
    }


PAGES_ROUTER = Router(
    path="/",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    include_in_schema=False,
    route_handlers=[confirm_page],
)
API_ROUTER = Router(
    path="/api",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    tags=["patient"],
    route_handlers=[confirm_api],
)
