"""Administration of the FHIR API's machine clients (admins only, under the admin router's `requires_admin` guard):
register a client (its secret is shown once, on the answer to the form), list them, revoke one.
`companion fhir-client add` does the same from the command line."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import Field

from ...context import AppContext, Ctx
from ...errors import FieldError, FieldErrors
from ...forms import FormModel, Text
from ...models import Staff
from ...services.fhir.clients import RESOURCE_TYPES, list_clients, register_client, revoke_client
from .common import FORM, SignedInStaff, client_ip, render, see_other, set_flash, when_refused

SUGGESTED_SCOPES = ("system/Observation.write", "system/Patient.read", "system/*.read")


class NewFhirClient(FormModel):
    """The registration form: a name and its scopes (space-separated SMART system scopes)."""

    messages: ClassVar[dict[str, str]] = {
        "name": "Give the client a name (up to 200 characters).",
        "scopes": "Give at least one scope, e.g. system/Observation.write.",
    }

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    scopes: Annotated[Text, Field(min_length=1, max_length=500)]


def _page(
    request: Request,
    ctx: AppContext,
    admin: Staff,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return render(
        request,
        "staff/admin_fhir_clients.html",
        nav="fhir",
        status_code=status_code,
        clients=list_clients(ctx.engine, admin.clinic_id),
        form=form or {"scopes": "system/Observation.write system/Patient.read"},
        errors=errors or {},
        created=created,
        suggested=SUGGESTED_SCOPES,
        resource_types=RESOURCE_TYPES,
    )


@get("/fhir-clients", sync_to_thread=True)
def fhir_clients(request: Request, ctx: Ctx, staff: SignedInStaff) -> Template:
    """The clinic's FHIR clients and the registration form."""
    return _page(request, ctx, staff)


def _refused(
    request: Request, ctx: AppContext, staff: Staff | None, values: dict[str, str], errors: FieldErrors
) -> Template:
    assert staff is not None  # the router's guard
    return _page(request, ctx, staff, form=values, errors=errors.errors, status_code=422)


@post("/fhir-clients", sync_to_thread=True, exception_handlers=when_refused(NewFhirClient, _refused))
def fhir_client_create(
    request: Request, ctx: Ctx, staff: SignedInStaff, data: Annotated[NewFhirClient, FORM]
) -> Template:
    """Register a client; the answer shows its id and secret once (only a hash of the secret is kept)."""
    try:
        client, secret = register_client(
            ctx.engine,
            name=data.name,
            clinic_id=staff.clinic_id,
            scopes=data.scopes.split(),
            now=ctx.clock.now(),
            staff_id=staff.id,
            ip=client_ip(request),
        )
    except FieldError as exc:
        field = "scopes" if exc.field == "scope" else exc.field
        return _page(request, ctx, staff, form=data.model_dump(), errors={field: exc.message}, status_code=422)
    return _page(request, ctx, staff, created={"name": client.name, "client_id": client.client_id, "secret": secret})


@post("/fhir-clients/{client_pk:int}/revoke", sync_to_thread=True)
def fhir_client_revoke(request: Request, ctx: Ctx, staff: SignedInStaff, client_pk: FromPath[int]) -> Redirect:
    """Revoke a client: its tokens stop working at once."""
    client = revoke_client(
        ctx.engine, client_pk, clinic_id=staff.clinic_id, now=ctx.clock.now(), staff_id=staff.id, ip=client_ip(request)
    )
    set_flash(request, notice=f"{client.name} is revoked: its tokens no longer work.")
    return see_other("/staff/admin/fhir-clients")


ROUTES: list[Any] = [fhir_clients, fhir_client_create, fhir_client_revoke]
