"""Who is asking, for the patient routers' handlers: `patient: SignedInPatient` on the guarded routers,
`viewer: MaybePatient` on the public ones. Registered once per Router (see __init__.py); never fetched by hand."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException

from ...auth import current_patient
from ...models import Patient

SignedInPatient = NamedDependency[Patient]
MaybePatient = NamedDependency[Patient | None]


def provide_patient(request: Request) -> Patient:
    """The signed-in patient (the router's `requires_patient` guard has already looked them up)."""
    patient = current_patient(request)
    if patient is None:  # the guard refuses first; this keeps a missing guard from reaching data
        raise NotAuthorizedException("Please sign in with the link your care team sent you.")
    return patient


def provide_viewer(request: Request) -> Patient | None:
    """Whoever is signed in on a public page, if anyone (its words follow their language)."""
    return current_patient(request)


PATIENT_DEPENDENCY = {"patient": Provide(provide_patient, sync_to_thread=False)}
VIEWER_DEPENDENCY = {"viewer": Provide(provide_viewer, sync_to_thread=False)}
