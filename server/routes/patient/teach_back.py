"""The schedule teach-back pages (issue 14 item 2): a few questions about the patient's own plan, one a screen.

Plain forms (no JavaScript needed). Today offers the questions (below the dose card, once a plan change is
confirmed); "Not now" puts the offer off for a day on this phone (a cookie), so it never stands between the patient
and Today, logging or red flags. After an answer the page says whether it was right, and the right answer in words
when it was not (services/pqi/teach_back.py stores the answer and opens R-TEACH-BACK after a second wrong one).
"""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import ValidationException
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from ...auth import requires_patient
from ...context import AppContext, Ctx
from ...errors import FieldError
from ...i18n import N_, translate
from ...models import Patient
from ...services.patient_state import current_plan
from ...services.patient_views import TodayView
from ...services.pqi import teach_back
from .deps import PATIENT_DEPENDENCY, SignedInPatient, provide_patient
from .rendering import app_context, page
from .schemas import TeachBackAnswerIn

LATER_COOKIE = "teach_back_later"  # the plan version whose offer the patient put off, on this phone
LATER_FOR = timedelta(days=1)
RESULTS = ("right", "wrong", "wrong_twice")
CHOOSE_ONE = N_("Please choose one of the answers.")


def questions_offered_on_today(request: Request, ctx: AppContext, view: TodayView) -> int:
    """How many questions Today offers (0: no offer): an active plan with questions left, its change confirmed, not
    put off, and no wait for the care team (Today's own wait state)."""
    if view.status != "active" or view.notice is not None:
        return 0  # the plan change is confirmed first (architecture flow 5)
    if view.wait is not None:
        return 0  # "wait for your care team": no question restates the schedule the advice stopped
    if request.cookies.get(LATER_COOKIE) == str(view.plan.id):
        return 0
    with Session(ctx.engine) as session:
        return teach_back.questions_left(session, view.patient, view.plan)


def _page(
    request: Request,
    ctx: AppContext,
    patient: Patient,
    *,
    after: str | None = None,
    result: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    lang = patient.language
    with Session(ctx.engine) as session:
        plan = current_plan(session, patient.id)
        attempts = teach_back.attempts_for(session, patient.id, plan.id)
        waiting = teach_back.waiting_for_team(session, patient.id)
    # While the patient is told to wait for the care team, no question (nor any right answer in words) is shown.
    questions = [] if waiting else teach_back.build_questions(patient, plan, lang)
    question = teach_back.next_question(questions, attempts)
    answered = next((q for q in questions if q.name == after), None) if result in RESULTS else None
    return page(
        request,
        ctx,
        "patient/teach_back.html",
        patient=patient,
        status_code=status_code,
        plan_id=plan.id,
        question=question,
        attempt=teach_back.attempt_number(attempts, question.name) if question else 0,
        number=(questions.index(question) + 1) if question else 0,
        total=len(questions),
        answered=answered,
        result=result if answered else None,
        error=error,
        any_questions=bool(questions),
    )


@get("/teach-back", sync_to_thread=True)
def teach_back_page(request: Request, ctx: Ctx, patient: SignedInPatient) -> Template:
    after = request.query_params.get("after")
    return _page(request, ctx, patient, after=after, result=request.query_params.get("result"))


@post("/teach-back", sync_to_thread=True, status_code=303)
def teach_back_answer(ctx: Ctx, patient: SignedInPatient, data: URLEncodedBody[TeachBackAnswerIn]) -> Redirect:
    outcome = teach_back.record_answer(
        ctx, patient.id, plan_id=data.plan_id, question=data.question, answer=data.answer, channel="app"
    )
    if outcome.result == "already":
        return Redirect("/teach-back", status_code=303)
    return Redirect(f"/teach-back?after={outcome.question}&result={outcome.result}", status_code=303)


@post("/teach-back/later", sync_to_thread=True, status_code=303)
def teach_back_later(request: Request, ctx: Ctx, patient: SignedInPatient) -> Redirect:
    with Session(ctx.engine) as session:
        plan_id = current_plan(session, patient.id).id
    cookie = Cookie(
        key=LATER_COOKIE,
        value=str(plan_id),
        max_age=int(LATER_FOR.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return Redirect("/today", status_code=303, cookies=[cookie])


def _refused(request: Request, exc: Exception) -> Response:
    """A choice the question does not offer, or none (only a hand-made post can send one): the question again with a
    plain sentence, 422, nothing stored."""
    patient = provide_patient(request)  # exception handlers get no dependencies; the guard has signed them in
    ctx = app_context(request)
    return _page(request, ctx, patient, error=translate(patient.language, CHOOSE_ONE), status_code=422)


ROUTER = Router(
    path="/",
    guards=[requires_patient],
    dependencies=PATIENT_DEPENDENCY,
    include_in_schema=False,
    route_handlers=[teach_back_page, teach_back_answer, teach_back_later],
    exception_handlers={ValidationException: _refused, FieldError: _refused},
)
