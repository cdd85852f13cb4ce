"""The care team's pages, collected for server.app: sign-in and account, the live inbox, patients, administration.

Every page needs a signed-in staff member (`requires_staff`), administration an admin (`requires_admin`);
the sign-in pages are public. Handlers are thin: they parse a typed form, call a service, render or redirect.
"""

from litestar import Router

from . import staff_account, staff_admin, staff_inbox, staff_patients

# One Router, not loose handlers: Litestar 2.25 registers a path's earlier handlers again when a later handler
# joins the same path (GET and POST on /staff/patients), which wraps a sync_to_thread handler twice and makes it
# return a coroutine. Registering the router registers every handler exactly once.
ROUTES: list = [Router(path="/", route_handlers=[*staff_account.ROUTES, *staff_inbox.ROUTES, *staff_patients.ROUTES,
                                                 *staff_admin.ROUTES])]
