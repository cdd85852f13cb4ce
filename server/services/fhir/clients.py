"""Machine clients of the FHIR API: registration by an admin (or the CLI), OAuth2 client-credentials tokens,
SMART system scopes, revocation, and the audit row every request leaves.

Secrets are argon2id hashes (like staff passwords) and are shown once; bearer tokens are random, short-lived
(FHIR_TOKEN_MINUTES) and stored as SHA-256. A revoked client's tokens stop working at once (checked per request).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...errors import FieldError, NotFound
from ...models import Clinic, FhirAccessToken, FhirClient
from ..audit import audit
from .outcomes import FhirError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-client-secret")  # unknown client ids take as long as wrong secrets

# The resource types the API serves or accepts, for scopes like system/Observation.read.
RESOURCE_TYPES = (
    "Patient",
    "Observation",
    "MedicationRequest",
    "MedicationAdministration",
    "Provenance",
    "QuestionnaireResponse",
    "Flag",
    "Bundle",
)
SCOPE_PATTERN = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")


class OAuthError(Exception):
    """An OAuth2 token error (RFC 6749 §5.2): `error` is its code, `status` the HTTP status."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def check_scopes(scopes: list[str]) -> list[str]:
    """Scopes as registered: SMART system scopes over the served resource types, at least one."""
    if not scopes:
        raise FieldError("scope", "Give at least one scope, e.g. system/Observation.write.")
    for scope in scopes:
        match = SCOPE_PATTERN.match(scope)
        if match is None or (match.group(1) != "*" and match.group(1) not in RESOURCE_TYPES):
            raise FieldError("scope", f"{scope!r} is not a scope like system/Observation.write or system/*.read.")
    return sorted(set(scopes))


def scope_allows(scopes: list[str] | tuple[str, ...], resource_type: str, mode: str) -> bool:
    """Whether any scope grants `mode` (read | write) on `resource_type`."""
    for scope in scopes:
        match = SCOPE_PATTERN.match(scope)
        if match and match.group(1) in ("*", resource_type) and match.group(2) in ("*", mode):
            return True
    return False


@dataclass(frozen=True)
class Caller:
    """The authenticated client of one FHIR request."""

    client_pk: int
    client_id: str
    name: str
    clinic_id: int
    scopes: tuple[str, ...]

    def can(self, resource_type: str, mode: str) -> bool:
        return scope_allows(self.scopes, resource_type, mode)

    def require(self, resource_type: str, mode: str) -> None:
        """403 unless the token's scopes grant `mode` on `resource_type`."""
        if not self.can(resource_type, mode):
            raise FhirError(
                403,
                "forbidden",
                f"The token's scopes do not allow {mode} of {resource_type} (needs system/{resource_type}.{mode}).",
            )


def register_client(
    engine,
    *,
    name: str,
    clinic_id: int,
    scopes: list[str],
    now: datetime,
    staff_id: int | None = None,
    ip: str | None = None,
) -> tuple[FhirClient, str]:
    """Register a client; returns it and its secret (shown once, only a hash is kept)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise FieldError("name", "Give the client a name (up to 200 characters).")
    scopes = check_scopes(scopes)
    secret = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        if session.get(Clinic, clinic_id) is None:
            raise FieldError("clinic", f"There is no clinic {clinic_id}.")
        client = FhirClient(
            client_id=secrets.token_urlsafe(16),
            name=name,
            clinic_id=clinic_id,
            secret_hash=_hasher.hash(secret),
            scopes=" ".join(scopes),
            created_by_staff_id=staff_id,
            created_at=now,
        )
        session.add(client)
        session.flush()
        audit(
            session,
            staff_id=staff_id,
            action="fhir_client.create",
            now=now,
            ip=ip,
            detail=f"{client.name} ({client.client_id}): {client.scopes}",
        )
    return client, secret


def list_clients(engine, clinic_id: int) -> list[FhirClient]:
    """The clinic's clients, newest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(FhirClient).where(FhirClient.clinic_id == clinic_id).order_by(FhirClient.id.desc())
            ).all()
        )


def revoke_client(
    engine, client_pk: int, *, clinic_id: int, now: datetime, staff_id: int | None = None, ip: str | None = None
) -> FhirClient:
    """Revoke a client: its tokens stop working and it gets no new ones."""
    with session_scope(engine) as session:
        client = session.get(FhirClient, client_pk)
        if client is None or client.clinic_id != clinic_id:
            raise NotFound("No such client.")
        if client.revoked_at is None:
            client.revoked_at = now
            session.add(client)
            audit(
                session,
                staff_id=staff_id,
                action="fhir_client.revoke",
                now=now,
                ip=ip,
                detail=f"{client.name} ({client.client_id})",
            )
    return client


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    ctx: AppContext, *, grant_type: str, client_id: str, client_secret: str, scope: str | None, ip: str | None
) -> dict:
    """OAuth2 client credentials: a bearer token for the requested scopes (all registered ones when none asked)."""
    now = ctx.clock.now()
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    with Session(ctx.engine) as session:
        client = session.exec(select(FhirClient).where(FhirClient.client_id == (client_id or ""))).first()
    try:
        valid = _hasher.verify(client.secret_hash if client else _DUMMY_HASH, client_secret or "")
    except (VerificationError, InvalidHashError):
        valid = False
    if client is None or not valid or client.revoked_at is not None:
        with session_scope(ctx.engine) as session:
            audit(
                session,
                staff_id=None,
                action="fhir.token.denied",
                now=now,
                ip=ip,
                fhir_client_id=client.id if client else None,
                detail="revoked client" if client is not None and valid else "unknown client or wrong secret",
            )
        raise OAuthError(401, "invalid_client", "Unknown client, wrong secret or revoked client.")
    registered = client.scopes.split()
    requested = (scope or "").split() or registered
    granted = [s for s in requested if s in registered]
    if not granted:
        raise OAuthError(400, "invalid_scope", "None of the requested scopes is granted to this client.")
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(minutes=ctx.settings.fhir_token_minutes)
    with session_scope(ctx.engine) as session:
        session.add(
            FhirAccessToken(
                token_hash=_token_hash(token),
                fhir_client_id=client.id,
                scopes=" ".join(granted),
                issued_at=now,
                expires_at=now + lifetime,
            )
        )
        audit(
            session,
            staff_id=None,
            action="fhir.token",
            now=now,
            ip=ip,
            fhir_client_id=client.id,
            detail=" ".join(granted),
        )
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": int(lifetime.total_seconds()),
        "scope": " ".join(granted),
    }


def authenticate(ctx: AppContext, authorization: str | None) -> Caller:
    """The client behind an `Authorization: Bearer` header; 401 when missing, unknown, expired or revoked."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError(401, "login", "A bearer token is required (POST /oauth/token).")
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        row = session.exec(
            select(FhirAccessToken).where(FhirAccessToken.token_hash == _token_hash(token.strip()))
        ).first()
        client = session.get(FhirClient, row.fhir_client_id) if row is not None else None
    if row is None or client is None or row.expires_at <= now:
        raise FhirError(401, "login", "The bearer token is unknown or expired.")
    if client.revoked_at is not None:
        raise FhirError(401, "login", "This client has been revoked.")
    return Caller(
        client_pk=client.id,
        client_id=client.client_id,
        name=client.name,
        clinic_id=client.clinic_id,
        scopes=tuple(row.scopes.split()),
    )


def audit_request(
    ctx: AppContext,
    caller: Caller | None,
    *,
    action: str,
    status: int,
    ip: str | None,
    patient_id: int | None = None,
    detail: str = "",
) -> None:
    """One audit row per FHIR request: who (the client), what, which patient, and how it ended."""
    with session_scope(ctx.engine) as session:
        audit(
            session,
            staff_id=None,
            action=action,
            now=ctx.clock.now(),
            patient_id=patient_id,
            ip=ip,
            fhir_client_id=caller.client_pk if caller else None,
            detail=f"HTTP {status} {detail}".strip(),
        )
