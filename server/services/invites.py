"""Password-less sign-in for patients: single-use links sent by SMS, shown as a QR code, or printed.

A link is `{base_url}/i/{token}`; only the token's SHA-256 is stored, so a database leak yields no usable link.
Opening the link shows a confirm button and the POST redeems it (a GET never does: messaging apps fetch links to
build previews, which would use up a single-use link before the patient sees it). Redeeming binds a long-lived
cookie session to the patient's `session_version`; `revoke_patient_sessions` bumps that number, which ends every
session at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

import phonenumbers
import segno
import sqlalchemy as sa
from sqlmodel import Session, select

from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError, NotFound
from ..i18n import N_, translate
from ..models import Clinic, OutboundMessage, Patient, PushSubscription, SignInToken
from .audit import audit

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(hours=72)
PURPOSES = ("invite", "sign_in")
# A patient asking for links again and again gets at most this many per hour; further requests are dropped silently
# (the answer must not differ, or it would tell a stranger the number is enrolled).
MAX_REQUESTED_LINKS_PER_HOUR = 3
DEFAULT_PHONE_REGION = "US"


class InvalidSignInLink(FieldError):
    """The link is unknown, already used, or expired; `reason` says which (the page explains it in plain words)."""

    MESSAGES = {
        "unknown": N_("This sign-in link is not valid. Ask for a new one below."),
        "used": N_("This sign-in link was already used. Each link works once. Ask for a new one below."),
        "expired": N_("This sign-in link has expired (links work for 72 hours). Ask for a new one below."),
    }

    def __init__(self, reason: str):
        super().__init__("token", self.MESSAGES[reason])
        self.reason = reason


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(
    session: Session, patient: Patient, *, now: datetime, staff_id: int | None, purpose: str
) -> tuple[str, str]:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    if patient.id is None:
        session.flush()
    token = secrets.token_urlsafe(24)  # 192 bits: unguessable, and short enough for one SMS
    token_hash = hash_token(token)
    session.add(
        SignInToken(
            patient_id=patient.id,
            token_hash=token_hash,
            purpose=purpose,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
            created_by_staff_id=staff_id,
        )
    )
    return token, token_hash


def create_sign_in_link(
    session: Session,
    patient: Patient,
    *,
    now: datetime,
    staff_id: int | None = None,
    purpose: str = "invite",
    base_url: str,
) -> str:
    """Create a single-use sign-in link (72 h) inside the caller's transaction and return its full URL."""
    token, _ = _new_token(session, patient, now=now, staff_id=staff_id, purpose=purpose)
    return f"{base_url.rstrip('/')}/i/{token}"


def send_sign_in_link(
    session: Session,
    patient: Patient,
    *,
    now: datetime,
    base_url: str,
    staff_id: int | None = None,
    purpose: str = "invite",
) -> str:
    """Create a sign-in link and leave an SMS with it in the outbox for the worker; returns the URL."""
    if not patient.phone_e164:
        raise FieldError("phone_e164", "This patient has no mobile number: show the QR code or print the sheet.")
    if patient.sms_opted_out:
        raise FieldError(
            "phone_e164", "This patient has opted out of text messages: show the QR code or print the sheet."
        )
    token, token_hash = _new_token(session, patient, now=now, staff_id=staff_id, purpose=purpose)
    url = f"{base_url.rstrip('/')}/i/{token}"
    session.add(
        OutboundMessage(
            dedupe_key=f"{purpose}:{token_hash[:16]}",
            patient_id=patient.id,
            staff_id=staff_id,
            kind="invite" if purpose == "invite" else "sign_in",
            channel="sms",
            to_address=patient.phone_e164,
            body=sign_in_sms_body(session, patient, url),
            scheduled_for=now,
            send_at=now,
            next_attempt_at=now,
            expires_at=now + LINK_LIFETIME,
            status="pending",
            created_at=now,
            updated_at=now,
        )
    )
    return url


def sign_in_sms_body(session: Session, patient: Patient, url: str) -> str:
    """The SMS text: clinic name and link, in the patient's language; never the drug name or a diagnosis."""
    clinic = session.get(Clinic, patient.clinic_id)
    clinic_name = clinic.name if clinic else ""
    return translate(
        patient.language,
        "%(clinic)s: your sign-in link for your care app: %(url)s (it works once, for 72 hours).",
        clinic=clinic_name,
        url=url,
    )


def _usable_token(session: Session, token: str, now: datetime) -> SignInToken:
    row = session.exec(select(SignInToken).where(SignInToken.token_hash == hash_token(token or ""))).first()
    if row is None:
        raise InvalidSignInLink("unknown")
    if row.used_at is not None:
        raise InvalidSignInLink("used")
    if row.expires_at <= now:
        raise InvalidSignInLink("expired")
    return row


def redeem_sign_in_link(ctx: AppContext, token: str) -> Patient:
    """Use a sign-in link once; returns its patient. Unknown, used or expired links raise InvalidSignInLink."""
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        row = _usable_token(session, token, now)
        # Compare-and-set: of two simultaneous redemptions only one updates the row, so a link is never used twice.
        updated = session.execute(
            sa.update(SignInToken).where(SignInToken.id == row.id, SignInToken.used_at.is_(None)).values(used_at=now)
        ).rowcount
        if updated != 1:
            raise InvalidSignInLink("used")
        return session.get(Patient, row.patient_id)


def check_sign_in_link(ctx: AppContext, token: str) -> Patient:
    """The patient a link belongs to, without using it (to greet them in their language); InvalidSignInLink if unusable."""
    with Session(ctx.engine, expire_on_commit=False) as session:
        row = _usable_token(session, token, ctx.clock.now())
        return session.get(Patient, row.patient_id)


def void_unused_links(session: Session, patient_id: int, now: datetime) -> int:
    """Make the patient's unused links stop working (caller's transaction); returns how many."""
    return session.execute(
        sa.update(SignInToken)
        .where(SignInToken.patient_id == patient_id, SignInToken.used_at.is_(None), SignInToken.expires_at > now)
        .values(expires_at=now)
    ).rowcount


def revoke_patient_sessions(ctx: AppContext, patient_id: int, staff_id: int | None) -> int:
    """Sign the patient out on every device: bump session_version, void unused links, forget push subscriptions.

    Returns the new session version. Used when a phone is lost or shared; the patient signs in again with a new link.
    """
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise NotFound("No such patient.")
        patient.session_version += 1
        session.add(patient)
        # Links sent before the revocation must not open a new session on the lost phone.
        void_unused_links(session, patient_id, now)
        # Reminders must not keep arriving on a phone that is no longer the patient's.
        session.execute(sa.delete(PushSubscription).where(PushSubscription.patient_id == patient_id))
        audit(
            session,
            staff_id=staff_id,
            action="patient.sessions_revoked",
            patient_id=patient_id,
            now=now,
            detail=f"session version {patient.session_version - 1} -> {patient.session_version}",
        )
        return patient.session_version


def end_patient_sessions_at_sign_out(ctx: AppContext, patient_id: int, session_version: int, ip: str | None) -> None:
    """The patient signed out: bump session_version so the signed-out cookie (and any copy of it) stops working.

    A patient cookie names only the patient and their session_version (no per-device row: that would be one more
    look-up on every patient request), so this also signs out the patient's other devices. Only a cookie that is
    still valid bumps it (a stale copy signing out again changes nothing).
    """
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        bumped = session.execute(
            sa.update(Patient)
            .where(Patient.id == patient_id, Patient.session_version == session_version)
            .values(session_version=Patient.session_version + 1)
        ).rowcount
        if bumped:
            audit(session, staff_id=None, action="patient.signed_out", patient_id=patient_id, now=now, ip=ip)


def parse_phone(text: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """A phone number as typed ('(555) 555-0123', '+1 555…') in E.164, or FieldError('phone')."""
    try:
        number = phonenumbers.parse((text or "").strip(), region)
    except phonenumbers.NumberParseException:
        number = None
    # "Possible", not "valid": valid-number metadata lags new number ranges, and a wrong guess only means no SMS.
    if number is None or not phonenumbers.is_possible_number(number):
        raise FieldError("phone", N_("Enter your mobile phone number, for example (555) 555-0123."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(phone_e164: str) -> str:
    """The region whose numbering plan a clinic phone uses (so patients may type national numbers)."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return DEFAULT_PHONE_REGION
    return phonenumbers.region_code_for_country_code(number.country_code) or DEFAULT_PHONE_REGION


def request_sign_in_link(ctx: AppContext, phone_e164: str) -> int:
    """A patient asked for a new link for this number: text one to each enrolled patient with it (rate-limited).

    Returns how many were queued, for logs and tests only: callers must answer the same whatever the number.
    """
    now = ctx.clock.now()
    queued = 0
    with session_scope(ctx.engine) as session:
        patients = session.exec(
            select(Patient).where(Patient.phone_e164 == phone_e164, Patient.sms_opted_out.is_(False))
        ).all()
        for patient in patients:
            recent = session.exec(
                select(sa.func.count())
                .select_from(SignInToken)
                .where(
                    SignInToken.patient_id == patient.id,
                    SignInToken.purpose == "sign_in",
                    SignInToken.created_at > now - timedelta(hours=1),
                )
            ).one()
            if recent >= MAX_REQUESTED_LINKS_PER_HOUR:
                log.info("sign-in link request for patient %s dropped: %s already this hour", patient.id, recent)
                continue
            send_sign_in_link(session, patient, now=now, base_url=ctx.settings.public_base_url, purpose="sign_in")
            queued += 1
    return queued


def sign_in_qr_svg(url: str, title: str = "QR code of the sign-in link") -> str:
    """An inline SVG QR code of a link (scales with CSS: no fixed size), for the screen and the printed sheet."""
    return segno.make(url, error="m").svg_inline(
        scale=1, border=2, omitsize=True, title=title, dark="#000", light="#fff"
    )
