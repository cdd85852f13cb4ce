"""What a patient may change about their own account: language, weight unit, and Web Push on this phone."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import select

from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError
from ..i18n import LANGUAGES
from ..models import Patient, PushSubscription
from .patient_state import get_patient

WEIGHT_UNITS = ("kg", "lb")


def set_language(ctx: AppContext, patient_id: int, language: str) -> Patient:
    """Show the app (and word future messages) in this language."""
    if language not in LANGUAGES:
        raise FieldError("language", f"Language must be one of: {', '.join(LANGUAGES)}.")
    with session_scope(ctx.engine) as session:
        patient = get_patient(session, patient_id)
        patient.language = language
        session.add(patient)
        return patient


def set_weight_unit(ctx: AppContext, patient_id: int, unit: str) -> Patient:
    """Enter and see weights in kg or lb (stored weights stay in kg)."""
    if unit not in WEIGHT_UNITS:
        raise FieldError("weight_unit", "Unit must be kg or lb.")
    with session_scope(ctx.engine) as session:
        patient = get_patient(session, patient_id)
        patient.weight_unit = unit
        session.add(patient)
        return patient


def is_known_push_service(endpoint: str, allowed_hosts: str) -> bool:
    """True when the endpoint is https on the default port of a host in PUSH_SERVICE_HOSTS (no user info, no IP)."""
    try:
        url = urlsplit(endpoint)
        port = url.port
    except ValueError:
        return False
    host = (url.hostname or "").lower().rstrip(".")
    if url.scheme != "https" or port not in (None, 443) or "@" in url.netloc or not host:
        return False
    for allowed in (h.strip().lower() for h in allowed_hosts.split(",") if h.strip()):
        if allowed.startswith("*.") and host.endswith(allowed[1:]) and host != allowed[2:]:
            return True
        if host == allowed:
            return True
    return False


def save_push_subscription(
    ctx: AppContext, patient_id: int, *, endpoint: str, p256dh: str, auth: str
) -> PushSubscription:
    """Store this browser's Web Push subscription for the worker (one row per endpoint)."""
    endpoint, p256dh, auth = (endpoint or "").strip(), (p256dh or "").strip(), (auth or "").strip()
    if not endpoint.startswith("https://") or len(endpoint) > 1000:
        raise FieldError("endpoint", "Must be the https:// endpoint of a push subscription.")
    if not is_known_push_service(endpoint, ctx.settings.push_service_hosts):
        raise FieldError("endpoint", "Must be the endpoint of a browser's push service.")
    if not p256dh or len(p256dh) > 200:
        raise FieldError("p256dh", "Missing or too long.")
    if not auth or len(auth) > 100:
        raise FieldError("auth", "Missing or too long.")
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        get_patient(session, patient_id)
        row = session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
        if row is None:
            row = PushSubscription(patient_id=patient_id, endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now)
        else:
            # The same browser, now signed in as this patient (a shared phone): the endpoint follows the sign-in.
            row.patient_id, row.p256dh, row.auth = patient_id, p256dh, auth
        session.add(row)
        return row


def delete_push_subscription(ctx: AppContext, patient_id: int, endpoint: str) -> bool:
    """Stop Web Push to this browser; True when a subscription of this patient was removed."""
    with session_scope(ctx.engine) as session:
        result = session.execute(
            sa.delete(PushSubscription).where(
                PushSubscription.patient_id == patient_id, PushSubscription.endpoint == endpoint
            )
        )
        return result.rowcount > 0
