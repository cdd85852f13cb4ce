"""Recipients: what the dispatcher needs to know about the patients of a batch of claims, in a few queries.

A `RecipientBook` also says which reminders are no longer needed (the day's dose or weight already logged) or
must not go as planned (an open care-team alert told the patient to wait before the next dose: the dose reminder then
says "wait for your care team", the others are held back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from ...db import in_list
from ...models import Alert, Clinic, DoseEvent, Patient, PushSubscription, TreatmentPlan, UTCDateTime
from ...models import WeightEntry as WeightRow
from ..report_status import awaiting_team_clause
from .claims import ClaimedMessage
from .sql import Bind, transaction
from .vocabulary import DOSE_DAY_KINDS, MessageKind


@dataclass(frozen=True)
class PushTarget:
    """One of the patient's Web Push subscriptions (a browser or phone that turned notifications on)."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Recipient:
    """What the dispatcher needs to know about a patient to pick a channel and render a message."""

    patient_id: int
    language: str
    phone: str | None
    sms_consent: bool
    sms_opted_out: bool
    channel_preference: str
    drug_names: bool
    weight_unit: str
    push_targets: tuple[PushTarget, ...]
    clinic_name: str
    clinic_phone: str
    awaiting_team: bool = False  # told to wait for the care team before the next dose (services/report_status.py)

    def sms_refusal(self) -> str | None:
        """Why no SMS may go to this patient now (None: it may); replies to the patient's own texts included."""
        if self.sms_opted_out:
            return "the patient opted out of SMS (STOP)"
        if not self.phone:
            return "the patient has no mobile number"
        if not self.sms_consent:
            return "the patient has not consented to SMS"
        return None


@dataclass(frozen=True)
class RecipientBook:
    recipients: dict[int, Recipient]
    logged_dose_days: frozenset[tuple[int, str]]  # (patient_id, ISO local date) with a dose logged
    logged_weight_days: frozenset[tuple[int, str]] = frozenset()  # (patient_id, ISO local date) with a weight
    # Patients with an open interrupt/discontinue alert of tier same_day or urgent that no plan version has answered:
    # they were told "do not take your next selinexor dose until your care team contacts you" (clinical-reference
    # §3), so no reminder may say otherwise until staff resolve the alert or change the plan. The dose reminder
    # itself goes, saying "wait for your care team" (notifications/messages.py); the anti-nausea reminder and the
    # nudge are held back.
    awaiting_team: frozenset[int] = frozenset()
    # Alerts of the batch's pages that a person has acknowledged (or resolved) since the page was claimed: a page
    # that has not reached the provider yet is no longer needed (issue 12 item 6).
    settled_alerts: frozenset[int] = frozenset()

    def already_done(self, claim: ClaimedMessage) -> str | None:
        """Why this reminder is no longer needed or must not go (already logged; told to wait for the team), if so."""
        if claim.kind in DOSE_DAY_KINDS - {MessageKind.DOSE} and claim.patient_id in self.awaiting_team:
            return "not sent: an open care-team alert told the patient not to take the next dose until contacted"
        if claim.kind == MessageKind.TEACH_BACK and claim.patient_id in self.awaiting_team:
            # The question's right answers restate the schedule the advice has stopped (clinical-reference section 3).
            return "not sent: the schedule question waits out an open care-team alert (wait for the care team)"
        key = (claim.patient_id, claim.payload.get("day"))
        if claim.kind in DOSE_DAY_KINDS and key in self.logged_dose_days:
            return "not needed: the day's dose is already logged"
        if claim.kind == MessageKind.WEIGHT and key in self.logged_weight_days:
            return "not needed: a weight was already logged that day"
        return None


@lru_cache(maxsize=4)
def _recipient_statements(dialect: str) -> tuple[sa.Select, sa.Select, sa.Select, sa.Select, sa.Select]:
    patients = (
        select(
            Patient.id,
            Patient.language,
            Patient.phone_e164,
            Patient.sms_consent,
            Patient.sms_opted_out,
            Patient.channel_preference,
            Patient.drug_names_in_messages,
            Patient.weight_unit,
            Patient.timezone,
            Clinic.name.label("clinic_name"),
            Clinic.phone.label("clinic_phone"),
        )
        .outerjoin(Clinic, Clinic.id == Patient.clinic_id)
        .where(in_list(Patient.id, "ids", sa.Integer, dialect))
    )
    push = select(
        PushSubscription.id,
        PushSubscription.patient_id,
        PushSubscription.endpoint,
        PushSubscription.p256dh,
        PushSubscription.auth,
    ).where(in_list(PushSubscription.patient_id, "ids", sa.Integer, dialect))
    doses = select(DoseEvent.patient_id, DoseEvent.scheduled_for).where(
        in_list(DoseEvent.patient_id, "ids", sa.Integer, dialect),
        DoseEvent.superseded_at.is_(None),
        in_list(DoseEvent.scheduled_for, "days", sa.Date, dialect),
    )
    weights = select(WeightRow.patient_id, WeightRow.at).where(
        in_list(WeightRow.patient_id, "ids", sa.Integer, dialect),
        WeightRow.superseded_at.is_(None),
        WeightRow.at >= sa.bindparam("since", type_=UTCDateTime()),
    )
    alerts = Alert.__table__
    waiting = sa.select(alerts.c.patient_id).where(
        in_list(alerts.c.patient_id, "ids", sa.Integer, dialect), awaiting_team_clause(alerts, TreatmentPlan.__table__)
    )
    return patients, push, doses, weights, waiting


def load_recipients(bind: Bind, claims: Iterable[ClaimedMessage], default_clinic: tuple[str, str]) -> RecipientBook:
    """Everything about the patients of a batch of claims, in a few queries (not one per message)."""
    claims = list(claims)
    ids = sorted({c.patient_id for c in claims if c.to_patient})
    settled = _settled_alerts(bind, claims)
    if not ids:
        return RecipientBook({}, frozenset(), settled_alerts=settled)
    days = {c.payload.get("day") for c in claims if c.kind in DOSE_DAY_KINDS and c.payload.get("day")}
    weigh = {c.patient_id: c.payload["day"] for c in claims if c.kind == MessageKind.WEIGHT and c.payload.get("day")}
    with transaction(bind) as conn:
        patients_q, push_q, doses_q, weights_q, waiting_q = _recipient_statements(conn.dialect.name)
        patients = conn.execute(patients_q, {"ids": ids}).all()
        targets: dict[int, list[PushTarget]] = {}
        for s in conn.execute(push_q, {"ids": ids}).all():
            targets.setdefault(s.patient_id, []).append(PushTarget(s.id, s.endpoint, s.p256dh, s.auth))
        logged: set[tuple[int, str]] = set()
        if days:
            rows = conn.execute(doses_q, {"ids": ids, "days": sorted(date.fromisoformat(d) for d in days)}).all()
            logged = {(pid, day.isoformat()) for pid, day in rows}
        weighed: set[tuple[int, str]] = set()
        if weigh:
            zones = {p.id: ZoneInfo(p.timezone) for p in patients if p.id in weigh}
            since = min(datetime.combine(date.fromisoformat(d), time(0), UTC) for d in weigh.values())
            for pid, at in conn.execute(weights_q, {"ids": sorted(weigh), "since": since - timedelta(days=1)}).all():
                weighed.add((pid, at.astimezone(zones[pid]).date().isoformat()))
        waiting = set(conn.execute(waiting_q, {"ids": ids}).scalars().all())
    recipients = {
        p.id: Recipient(
            patient_id=p.id,
            language=p.language,
            phone=p.phone_e164,
            sms_consent=p.sms_consent,
            sms_opted_out=p.sms_opted_out,
            channel_preference=p.channel_preference,
            drug_names=p.drug_names_in_messages,
            weight_unit=p.weight_unit,
            push_targets=tuple(targets.get(p.id, ())),
            clinic_name=p.clinic_name or default_clinic[0],
            clinic_phone=p.clinic_phone or default_clinic[1],
            awaiting_team=p.id in waiting,
        )
        for p in patients
    }
    return RecipientBook(recipients, frozenset(logged), frozenset(weighed), frozenset(waiting), settled)


def _settled_alerts(bind: Bind, claims: list[ClaimedMessage]) -> frozenset[int]:
    """The alerts of the batch's pages that are no longer open (one query, only when the batch holds pages)."""
    alert_ids = sorted({c.alert_id for c in claims if c.kind == "page" and c.alert_id is not None})
    if not alert_ids:
        return frozenset()
    table = Alert.__table__.c
    with transaction(bind) as conn:
        return frozenset(
            conn.execute(sa.select(table.id).where(table.id.in_(alert_ids), table.status != "open")).scalars().all()
        )
