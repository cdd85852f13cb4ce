"""The care team's pages, collected for server.app: sign-in and account, the live inbox, patients, administration.

Guards are set once, on the routers: the sign-in pages are public, every other page needs a signed-in staff member
(`requires_staff`), administration an admin (`requires_admin`). Handlers receive the signed-in person as
`staff: SignedInStaff` (the `provide_staff` dependency of the guarded router) and the app context as `ctx: Ctx`.
Handlers are thin: Litestar parses a typed form, the handler calls a service, renders or redirects.
"""

from litestar import Router
from litestar.di import Provide

from ...auth import requires_admin, requires_staff, requires_staff_mfa
from . import account, admin, checklist, fhir_clients, inbox, patients, quality
from .common import provide_staff

# Routers, not loose handlers: Litestar 2.25 registers a path's earlier handlers again when a later handler joins
# the same path (GET and POST on /staff/patients), which wraps a sync_to_thread handler twice and makes it return a
# coroutine. Registering a router registers every handler exactly once.
SIGN_IN = Router(path="/staff", route_handlers=account.SIGN_IN, include_in_schema=False)
ADMIN = Router(path="/admin", route_handlers=[*admin.ROUTES, *fhir_clients.ROUTES], guards=[requires_admin])
SIGNED_IN = Router(
    path="/staff",
    route_handlers=[*account.ACCOUNT, *inbox.ROUTES, *patients.ROUTES, *checklist.ROUTES, *quality.ROUTES, ADMIN],
    guards=[requires_staff, requires_staff_mfa],
    dependencies={"staff": Provide(provide_staff, sync_to_thread=False)},
    include_in_schema=False,
)

ROUTES: list[Router] = [SIGN_IN, SIGNED_IN]
