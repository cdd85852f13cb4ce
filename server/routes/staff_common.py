"""What every staff page handler shares: the signed-in person, the client address, rendering, flash messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from ..auth import current_staff
from ..context import AppContext
from ..models import Staff
from ..services.inbox import ACTION_WORDS, TIER_WORDS, ladder

# Typed form bodies: `data: Annotated[SomeForm, FORM]`.
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
FLASH_KEY = "flash"


def me(request: Request) -> Staff:
    """The signed-in staff member (the `requires_staff` guard has already loaded them)."""
    staff = current_staff(request)
    assert staff is not None, "route is missing the requires_staff guard"
    return staff


def client_ip(request: Request) -> str | None:
    """Where the request came from, for the audit log (the direct peer; a proxy must be trusted explicitly)."""
    return request.client.host if request.client else None


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
    session = dict(request.session or {})
    session[FLASH_KEY] = values
    request.set_session(session)


def pop_flash(request: Request) -> dict[str, Any]:
    session = dict(request.session or {})
    flash = session.pop(FLASH_KEY, None)
    if flash is not None:
        request.set_session(session)
    return flash or {}


def render(request: Request, template: str, *, status_code: int = 200, nav: str = "", **context: Any) -> Template:
    ctx: AppContext = request.app.state.ctx
    base = {
        "me": current_staff(request),
        "nav": nav,
        "clinic_name": ctx.settings.clinic_name,
        "clinic_phone": ctx.settings.clinic_phone,
        "local": local,
        "tier_words": TIER_WORDS,
        "action_words": ACTION_WORDS,
        "ladder": ladder,
        "flash": context.pop("flash", None) or pop_flash(request),
    }
    return Template(template_name=template, context={**base, **context}, status_code=status_code)


def see_other(path: str) -> Redirect:
    """After a POST: 303 so the browser GETs the next page (no re-submit on reload)."""
    return Redirect(path=path, status_code=303)
