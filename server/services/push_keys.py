"""Web Push keys (VAPID): the installation's key pair, generated once and kept in AppSecret.

The patient app subscribes with the public key; the worker's push channel signs with the private one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ..db import session_scope
from ..models import AppSecret

VAPID_SECRET = "vapid"  # one row holding both halves, so two processes can never pair mismatched keys


@dataclass(frozen=True)
class VapidKeys:
    private_key: str  # base64url DER (PKCS8), what pywebpush/py_vapid accept as a string
    public_key: str  # base64url uncompressed P-256 point: the browser's applicationServerKey


def vapid_keys(engine: Engine, now: datetime) -> VapidKeys:
    """The installation's VAPID key pair, generated on first use (the patient app subscribes with the public key)."""
    with Session(engine) as session:
        row = session.get(AppSecret, VAPID_SECRET)
    if row is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        value = json.dumps({"private": _b64url(der), "public": _b64url(point)})
        try:
            with session_scope(engine) as session:
                session.add(AppSecret(name=VAPID_SECRET, value=value, created_at=now))
        except sa.exc.IntegrityError:
            pass  # another process generated them first: use theirs
        with Session(engine) as session:
            row = session.get(AppSecret, VAPID_SECRET)
    keys = json.loads(row.value)
    return VapidKeys(keys["private"], keys["public"])


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
