"""What every staff page handler shares: the signed-in person (a dependency), the client address, rendering,
flash messages, and the one path that shows a refused form again with plain-language messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from ...auth import current_staff
from ...client_address import client_address
from ...context import AppContext
from ...errors import FieldErrors
from ...forms import FormModel, parse_form
from ...models import Staff
from ...services.plan_permissions import allowed_operations, may_change_plans
from ...services.staff.wording import ACTION_WORDS, TIER_WORDS, ladder, level_choices, schedule_words

# Typed form bodies: `data: Annotated[SomeForm, FORM]`.
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
FLASH_KEY = "flash"


def provide_staff(request: Request) -> Staff:
    """Dependency `staff`: the signed-in staff member (the router's `requires_staff` guard has checked them)."""
    staff = current_staff(request)
    if staff is None:  # only if a handler was registered outside the guarded router
        raise NotAuthorizedException("Please sign in.")
    return staff


# Handlers declare `staff: SignedInStaff` to receive the signed-in staff member from `provide_staff`.
SignedInStaff = NamedDependency[Staff]


def requires_plan_role(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of every plan-changing route: only roles PLAN_CHANGE_ROLES lets change plans (issue 12 item 4); the
    service then checks the operation itself (a nurse may hold, not reduce)."""
    staff = current_staff(connection)
    ctx: AppContext = connection.app.state.ctx
    if staff is not None and not may_change_plans(ctx.settings, staff.role):
        raise PermissionDeniedException(
            "Treatment plans are changed by the clinical roles (physician, pharmacist, "
            "nurse practitioner); ask one of them."
        )


def confirmation(request: Request, exc: Any, action: str, back: str) -> dict[str, Any]:
    """The confirmation box of a risky plan change: what changes, why to look twice, and the same form again."""
    values = {k: v for k, v in submitted(request).items() if k not in ("_csrf_token", "confirmed")}
    return {
        "words": exc.preview.words,
        "reasons": exc.preview.reasons,
        "action": action,
        "values": values,
        "back": safe_back(values.get("back") or back, back),
    }


def client_ip(request: Request) -> str | None:
    """Where the request came from, for the audit log (the trusted-proxy rule: server/client_address.py)."""
    return client_address(request)


def local(instant: datetime | None, zone: str, fmt: str = "%a %d %b %H:%M") -> str:
    """An instant in a person's own time zone (every instant is stored in UTC)."""
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(zone)).strftime(fmt)


def safe_back(target: str | None, default: str = "/staff/inbox") -> str:
    """Only redirect to our own staff pages (no open redirects)."""
    if target and target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def set_flash(request: Request, **values: Any) -> None:
    """A message for the next page (after a redirect)."""
    session = dict(request.session or {})
    session[FLASH_KEY] = values
    request.set_session(session)


def pop_flash(request: Request) -> dict[str, Any]:
    """The message left by the previous request, once."""
    session = dict(request.session or {})
    flash = session.pop(FLASH_KEY, None)
    if flash is not None:
        request.set_session(session)
    return flash or {}


def render(request: Request, template: str, *, status_code: int = 200, nav: str = "", **context: Any) -> Template:
    """A staff page, with what every page's frame needs (who is signed in, the clinic, the shared words)."""
    ctx: AppContext = request.app.state.ctx
    me = current_staff(request)
    base = {
        "me": me,
        "plan_ops": allowed_operations(ctx.settings, me.role if me else None),
        "nav": nav,
        "clinic_name": ctx.settings.clinic_name,
        "clinic_phone": ctx.settings.clinic_phone,
        "local": local,
        "tier_words": TIER_WORDS,
        "action_words": ACTION_WORDS,
        "ladder": ladder,
        "level_choices": level_choices,
        "schedule_words": schedule_words,
        "flash": context.pop("flash", None) or pop_flash(request),
    }
    return Template(template_name=template, context={**base, **context}, status_code=status_code)


def see_other(path: str) -> Redirect:
    """After a POST: 303 so the browser GETs the next page (no re-submit on reload)."""
    return Redirect(path=path, status_code=303)


# --------------------------------------------------------------------------- refused forms


def submitted(connection: ASGIConnection) -> dict[str, str]:
    """The form as it was typed (strings), to show it again; Litestar keeps the parsed body in the scope."""
    form = ScopeState.from_scope(connection.scope).form
    if form is Empty or not isinstance(form, dict):
        return {}
    return {name: str(value[-1] if isinstance(value, list) else value) for name, value in form.items()}


# Shows the page the form was on again: (request, ctx, signed-in staff or None, the typed values, the errors).
ShowAgain = Callable[[Request, AppContext, "Staff | None", dict[str, str], FieldErrors], Response]


def when_refused(model: type[FormModel], show_again: ShowAgain) -> dict[Any, Any]:
    """A form handler's `exception_handlers`: a body its model refuses shows the form again (422) with the same
    plain-language, field-naming messages a service's FieldError gives (never the validator's own text)."""

    def handler(request: Request, exc: ValidationException) -> Response:
        # Litestar calls exception handlers on the event loop: the page is rendered here, like a guard's
        # session lookup (a refused form is rare, and the page's queries are those of a normal view).
        values = submitted(request)
        try:
            parse_form(model, values)
        except FieldErrors as errors:
            ctx: AppContext = request.app.state.ctx
            return show_again(request, ctx, current_staff(request), values, errors)
        # Refused for something other than the form (e.g. a malformed body): Litestar's usual answer.
        return Response({"status_code": 400, "detail": exc.detail}, status_code=400)

    return {ValidationException: handler}
