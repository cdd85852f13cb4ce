"""Signing in without a password: the invite link (one tap to use it), asking for a new link by SMS, signing out;
the pages and their JSON twins under /api. Public: whoever is asking, nobody is refused here."""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, Response, Router, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import TooManyRequestsException, ValidationException
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from ...auth import current_patient, sign_in_patient, sign_out
from ...client_address import client_address
from ...context import Ctx
from ...errors import FieldError
from ...i18n import normalize_language, translate
from ...models import Patient
from ...services import invites
from ..rate_limit import RateLimit
from .advice import error_json
from .api import api_validation_error
from .deps import VIEWER_DEPENDENCY, MaybePatient
from .rendering import app_context, guest_language, page, submitted_form
from .schemas import SignInForm, SignInIn, SignInLinkIn, field_errors

# Per client address, shared by every process: asking for sign-in links (each sends an SMS) and trying tokens.
SIGN_IN_RATE_LIMIT = RateLimit("sign-in", 10, timedelta(hours=1))
# Opening and using sign-in links (/i/{token}): generous for people, useless for guessing tokens.
LINK_RATE_LIMIT = RateLimit("link", 60, timedelta(minutes=10))


def _too_many(request: Request, exc: TooManyRequestsException) -> Response:
    if request.url.path.startswith("/api/"):
        return Response(
            {"error": "rate_limited", "message": "Too many requests. Try again in an hour."}, status_code=429
        )
    return page(
        request, app_context(request), "patient/signin.html", status_code=429, phone="", errors={}, rate_limited=True
    )


# Only the posts are limited: showing the sign-in page costs nothing.
RATE_LIMITED: ExceptionHandlersMap = {TooManyRequestsException: _too_many}


# --------------------------------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------------------------------


@get("/", sync_to_thread=False)
def home(viewer: MaybePatient) -> Redirect:
    return Redirect("/today" if viewer else "/signin", status_code=303)


@get("/i/{token:str}", sync_to_thread=True, guards=[LINK_RATE_LIMIT.guard], exception_handlers=RATE_LIMITED)
def invite_page(request: Request, ctx: Ctx, token: FromPath[str]) -> Template:
    """Greets the patient and asks for one tap: the POST uses the link (a link preview's GET must not)."""
    try:
        patient = invites.check_sign_in_link(ctx, token)
    except invites.InvalidSignInLink as exc:
        return page(request, ctx, "patient/signin.html", status_code=410, link_error=exc.message, phone="", errors={})
    return page(request, ctx, "patient/invite.html", lang=patient.language, first_name=patient.first_name, token=token)


@post(
    "/i/{token:str}",
    sync_to_thread=True,
    status_code=303,
    guards=[LINK_RATE_LIMIT.guard],
    exception_handlers=RATE_LIMITED,
)
def invite_redeem(request: Request, ctx: Ctx, token: FromPath[str]) -> Response:
    try:
        patient = invites.redeem_sign_in_link(ctx, token)
    except invites.InvalidSignInLink as exc:
        return page(request, ctx, "patient/signin.html", status_code=410, link_error=exc.message, phone="", errors={})
    sign_in_patient(request, patient)
    return Redirect("/today?welcome=1", status_code=303)


@get("/signin", sync_to_thread=False)
def signin_page(request: Request, ctx: Ctx) -> Template:
    return page(
        request, ctx, "patient/signin.html", phone="", errors={}, signed_out=request.query_params.get("out") == "1"
    )


def _phone_refused(request: Request, ctx: Ctx, lang: str, phone: str, exc: FieldError) -> Template:
    return page(
        request,
        ctx,
        "patient/signin.html",
        lang=lang,
        status_code=422,
        phone=phone,
        errors={"phone": translate(lang, exc.message)},
    )


@post(
    "/signin", sync_to_thread=True, status_code=200, guards=[SIGN_IN_RATE_LIMIT.guard], exception_handlers=RATE_LIMITED
)
def signin_request(request: Request, ctx: Ctx, data: URLEncodedBody[SignInForm]) -> Template:
    """Text a new link if the number is enrolled; the page says the same either way."""
    lang = normalize_language(data.lang or guest_language(request))
    try:
        e164 = invites.parse_phone(data.phone, invites.region_of(ctx.settings.clinic_phone))
    except FieldError as exc:
        return _phone_refused(request, ctx, lang, data.phone, exc)
    # The lookup and the SMS happen after the answer is sent, so the answer's timing does not tell either.
    return page(
        request,
        ctx,
        "patient/signin.html",
        lang=lang,
        phone="",
        errors={},
        sent=True,
        background=BackgroundTask(invites.request_sign_in_link, ctx, e164),
    )


def _signin_form_refused(request: Request, exc: ValidationException) -> Response:
    """A sign-in form Litestar could not read (a field sent twice): the page again, asking for the number."""
    form = submitted_form(request)
    lang = normalize_language(form.get("lang") or guest_language(request))
    return _phone_refused(request, app_context(request), lang, "", field_errors(exc)[0])


def _sign_out_patient(request: Request, ctx: Ctx, viewer: Patient | None) -> None:
    """End the session server-side too: a copy of the cookie must stop working once the patient signs out."""
    if viewer is not None:
        invites.end_patient_sessions_at_sign_out(ctx, viewer.id, viewer.session_version, client_address(request))
    sign_out(request)


@post("/signout", sync_to_thread=True, status_code=303)
def signout(request: Request, ctx: Ctx, viewer: MaybePatient) -> Redirect:
    _sign_out_patient(request, ctx, viewer)
    return Redirect("/signin?out=1", status_code=303)


# --------------------------------------------------------------------------------------------------------------------
# The same under /api, for the page scripts
# --------------------------------------------------------------------------------------------------------------------


@post(
    "/sign-in-link",
    sync_to_thread=True,
    status_code=202,
    guards=[SIGN_IN_RATE_LIMIT.guard],
    exception_handlers=RATE_LIMITED,
    summary="Ask for a new sign-in link by SMS",
    description="Always 202 for a well-formed number, enrolled or not (the answer reveals nothing). "
    "Rate-limited per client address; at most 3 links per patient per hour.",
)
def api_sign_in_link(request: Request, ctx: Ctx, data: JSONBody[SignInLinkIn]) -> Response:
    try:
        e164 = invites.parse_phone(data.phone, invites.region_of(ctx.settings.clinic_phone))
    except FieldError as exc:
        return error_json(guest_language(request), None, exc)
    return Response(
        {"status": "accepted"}, status_code=202, background=BackgroundTask(invites.request_sign_in_link, ctx, e164)
    )


@post(
    "/sign-in",
    sync_to_thread=True,
    status_code=200,
    guards=[SIGN_IN_RATE_LIMIT.guard],
    exception_handlers=RATE_LIMITED,
    summary="Use a sign-in link's token: starts a session for its patient",
)
def api_sign_in(request: Request, ctx: Ctx, data: JSONBody[SignInIn]) -> Response:
    try:
        patient = invites.redeem_sign_in_link(ctx, data.token)
    except invites.InvalidSignInLink as exc:
        return Response(
            {"error": "invalid", "field": "token", "reason": exc.reason, "message": exc.message}, status_code=422
        )
    sign_in_patient(request, patient)
    return Response({"id": patient.id, "first_name": patient.first_name, "language": patient.language})


@post(
    "/sign-out",
    sync_to_thread=True,
    status_code=204,
    summary="End this patient's session",
    description="Ends it in the database too: the cookie, and any copy of it, stops working (on every device).",
)
def api_sign_out(request: Request, ctx: Ctx) -> None:
    _sign_out_patient(request, ctx, current_patient(request))


PAGES_ROUTER = Router(
    path="/",
    include_in_schema=False,
    dependencies=VIEWER_DEPENDENCY,
    route_handlers=[home, invite_page, invite_redeem, signin_page, signin_request, signout],
    exception_handlers={ValidationException: _signin_form_refused},
)
API_ROUTER = Router(
    path="/api",
    tags=["patient"],
    route_handlers=[api_sign_in_link, api_sign_in, api_sign_out],
    exception_handlers={ValidationException: api_validation_error},
)
