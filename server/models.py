# Over 400 lines on purpose: the whole schema in one file, read top to bottom beside the migrations.
"""Database tables for the whole domain (see server/ARCHITECTURE.md).

Conventions:
- every instant is stored in UTC (`UTCDateTime` hands back aware datetimes on every engine);
- every entry a patient makes carries a client-supplied, unique `idempotency_key`;
- corrections never overwrite: a correction is a new row pointing at the one it corrects (`corrects_id`),
  and the corrected row gets `superseded_at`;
- treatment plans are versions, never updated in place.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class StaffRole(str, enum.Enum):
    NURSE = "nurse"
    PRACTITIONER = "practitioner"  # a nurse practitioner (the column holds 16 characters)
    PHARMACIST = "pharmacist"
    PHYSICIAN = "physician"
    ADMIN = "admin"


class Channel(str, enum.Enum):
    SMS = "sms"
    PUSH = "push"
    CONSOLE = "console"


class EntrySource(str, enum.Enum):
    APP = "app"
    SMS = "sms"
    STAFF = "staff"
    IMPORT = "import"


# --------------------------------------------------------------------------- clinic and people


class Clinic(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    phone: str = Field(max_length=32)
    timezone: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)  # StaffRole
    password_hash: str = Field(max_length=255)
    totp_secret: str | None = Field(default=None, max_length=64)
    phone_e164: str | None = Field(default=None, max_length=20)  # pager number for on-call SMS
    on_call_order: int | None = Field(default=None)  # 1 = first paged, 2 = next, ...
    active: bool = Field(default=True)
    session_version: int = Field(default=1)  # bumping it signs the person out everywhere
    # TOTP replay guard: the last 30-second step accepted, advanced by compare-and-set (shared by every process).
    totp_last_step: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class StaffSession(SQLModel, table=True):
    """One signed-in staff browser: the cookie names it, sign-out revokes it, idle time ends it."""

    __tablename__ = "staff_session"
    id: str = Field(primary_key=True, max_length=64)  # sha256 of the random id in the (encrypted) cookie
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = Field(sa_column=utc_column())
    last_seen_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class RateCounter(SQLModel, table=True):
    """A counter in a time window, shared by every process: request rate limits and sign-in throttling."""

    __tablename__ = "rate_counter"
    key: str = Field(primary_key=True, max_length=200)
    count: int = Field(default=0)
    window_start: datetime = Field(sa_column=utc_column())
    blocked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Patient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    date_of_birth: date
    mrn: str = Field(max_length=64)
    phone_e164: str | None = Field(default=None, max_length=20, index=True)
    language: str = Field(default="en", max_length=8)
    timezone: str = Field(max_length=64)
    baseline_weight_kg: float
    weight_unit: str = Field(default="kg", max_length=2)  # kg | lb, how the patient enters and sees weight
    usual_stools_per_day: int = Field(default=1)
    tablet_strength_mg: int = Field(default=20)
    channel_preference: str = Field(default="sms", max_length=8)  # Channel
    quiet_start: time = Field(default=time(21, 0))
    quiet_end: time = Field(default=time(7, 0))
    sms_consent: bool = Field(default=False)
    sms_consent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sms_opted_out: bool = Field(default=False)
    sms_opted_out_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    drug_names_in_messages: bool = Field(default=False)  # opt-in: otherwise messages never name the drug
    session_version: int = Field(default=1)
    enrolled_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (sa.UniqueConstraint("clinic_id", "mrn", name="uq_patient_clinic_mrn"),)


class TreatmentPlan(SQLModel, table=True):
    """One version of a patient's selinexor plan; the highest version is the current one."""

    __tablename__ = "treatment_plan"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    version: int
    regimen: str = Field(max_length=8)  # Xd | XVd | DLBCL (server.clinical.regimens)
    dose_level: int
    status: str = Field(max_length=16)  # active | held | discontinued
    start_date: date
    day1_weekday: int  # Monday = 0
    day3_weekday: int
    dose_time: time
    antiemetic_name: str = Field(default="ondansetron", max_length=100)
    antiemetic_offset_min: int = Field(default=30)
    dexamethasone_instruction: str = Field(default="", max_length=300)
    hold_rule: str | None = Field(default=None, max_length=16)  # the rule id that led to a hold
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs"): while held,
    # continue | hold (server.clinical.regimens.DexamethasoneOnHold); rows made before the choice existed: continue.
    dexamethasone_on_hold: str = Field(
        default="continue", max_length=8, sa_column_kwargs={"server_default": "continue"}
    )
    reason: str = Field(default="", max_length=500)
    changed_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (sa.UniqueConstraint("patient_id", "version", name="uq_plan_patient_version"),)


class PlanChangeNotice(SQLModel, table=True):
    """A plan change told to the patient (architecture flow 5): Today shows it until the patient confirms it (a tap
    in the app or an SMS reply); an unconfirmed notice near the next affected dose feeds R-PLAN-UNSEEN.

    `before` and `after` are JSON snapshots of what the patient takes (server/services/plan_notices.py
    `plan_snapshot`: status, dose_mg, tablets, twice_weekly, weekdays, dose time, dexamethasone); a newer notice
    supersedes an unconfirmed older one (the patient confirms the plan as it is now).
    """

    __tablename__ = "plan_change_notice"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    plan_id: int = Field(foreign_key="treatment_plan.id")  # the new version
    previous_plan_id: int = Field(foreign_key="treatment_plan.id")
    operation: str = Field(max_length=24)  # hold | resume | reduce | discontinue | change_schedule
    before: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False))
    after: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_via: str | None = Field(default=None, max_length=8)  # app | sms
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


# --------------------------------------------------------------------------- patient entries


class DoseEvent(SQLModel, table=True):
    __tablename__ = "dose_event"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    scheduled_for: date | None = None  # the local dose day this entry answers
    at: datetime = Field(sa_column=utc_column())  # when taken / vomited / noticed missing
    status: str = Field(max_length=16)  # taken | missed | vomited
    antiemetic_taken: bool | None = None
    source: str = Field(default="app", max_length=8)
    corrects_id: int | None = Field(default=None, foreign_key="dose_event.id")
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recorded_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (sa.Index("ix_dose_event_patient_scheduled_for", "patient_id", "scheduled_for"),)


class AntiemeticEvent(SQLModel, table=True):
    __tablename__ = "antiemetic_event"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    at: datetime = Field(sa_column=utc_column())
    source: str = Field(default="app", max_length=8)
    corrects_id: int | None = Field(default=None, foreign_key="antiemetic_event.id")
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recorded_at: datetime = Field(sa_column=utc_column())


class SymptomReport(SQLModel, table=True):
    __tablename__ = "symptom_report"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    at: datetime = Field(sa_column=utc_column())
    nausea: int | None = None  # 0-3 (clinical-reference §5)
    vomiting_episodes: int | None = None
    loose_stools: int | None = None
    appetite: int | None = None
    fatigue: int | None = None
    temperature_c: float | None = None
    chills: bool | None = None
    bleeding: str | None = Field(default=None, max_length=8)  # none | minor | major
    neuro: str | None = Field(default=None, max_length=8)  # none | dizzy | major
    vision_change: bool | None = None
    note: str | None = Field(default=None, max_length=500)  # the patient's own words for the team (optional)
    source: str = Field(default="app", max_length=8)
    corrects_id: int | None = Field(default=None, foreign_key="symptom_report.id")
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recorded_at: datetime = Field(sa_column=utc_column())


class WeightEntry(SQLModel, table=True):
    __tablename__ = "weight_entry"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    at: datetime = Field(sa_column=utc_column())
    kg: float
    entered_value: float
    entered_unit: str = Field(max_length=2)  # kg | lb
    source: str = Field(default="app", max_length=8)
    corrects_id: int | None = Field(default=None, foreign_key="weight_entry.id")
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recorded_at: datetime = Field(sa_column=utc_column())

    # The latest weight of each patient (roster) comes from this index, not a scan of every weight (issue 16).
    __table_args__ = (sa.Index("ix_weight_entry_patient_at", "patient_id", "at"),)


class LabResult(SQLModel, table=True):
    __tablename__ = "lab_result"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    collected_at: datetime = Field(sa_column=utc_column())
    sodium_mmol_l: float | None = None
    platelets_10e9_l: float | None = None
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None
    source: str = Field(default="staff", max_length=8)
    entered_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    recorded_at: datetime = Field(sa_column=utc_column())
    # An amended result from the lab system replaces this one (server/services/fhir/labs_in.py); the rules skip it.
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


# --------------------------------------------------------------------------- alerts


class Alert(SQLModel, table=True):
    """A finding that needs a person; one open alert per patient and rule family (reference §4d)."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    family: str = Field(max_length=16)
    rule: str = Field(max_length=16)
    tier: str = Field(max_length=16)  # urgent | same_day | routine
    action: str = Field(max_length=24)
    status: str = Field(default="open", max_length=16)  # open | acknowledged | resolved
    facts: str = Field(max_length=2000)
    patient_advice: str = Field(default="", max_length=2000)
    resume_level: int | None = None
    resume_dose: str | None = Field(default=None, max_length=100)
    opened_at: datetime = Field(sa_column=utc_column(index=True))
    updated_at: datetime = Field(sa_column=utc_column())
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    assigned_to_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    outcome: str | None = Field(default=None, max_length=500)
    page_level: int = Field(default=0)  # how far down the on-call chain it has been paged
    next_page_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))

    # One open (or acknowledged) alert per patient and family; resolved ones do not count.
    __table_args__ = (
        sa.Index(
            "uq_alert_open_family",
            "patient_id",
            "family",
            unique=True,
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        ),
    )


class AlertEvent(SQLModel, table=True):
    __tablename__ = "alert_event"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    kind: str = Field(max_length=16)  # created | updated | acknowledged | assigned | note | paged | resolved
    at: datetime = Field(sa_column=utc_column())
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    detail: str = Field(default="", max_length=2000)


# --------------------------------------------------------------------------- messaging


class OutboundMessage(SQLModel, table=True):
    """The outbox: every message the worker sends (reminders, pages, invites, replies).

    Life cycle: pending -> claimed -> sending -> sent | failed | unknown (or back to pending for a retry),
    or pending -> cancelled | expired. `sending` is committed before a request leaves, so a row that never reached
    it was provably never sent (see notifications/dispatcher.py).
    `dedupe_key` makes planning idempotent (patient, kind, scheduled instant; or alert and page level).
    Statuses and kinds: server/services/outbox/vocabulary.py. The table keeps its first name, `reminder`.
    """

    __tablename__ = "reminder"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    kind: str = Field(max_length=24)
    channel: str = Field(default="sms", max_length=8)
    to_address: str | None = Field(default=None, max_length=40)
    body: str | None = Field(default=None, max_length=1600)  # free-text messages; reminders render at send time
    scheduled_for: datetime = Field(sa_column=utc_column())  # the event's own time (e.g. the dose)
    send_at: datetime = Field(sa_column=utc_column())  # when it should go out (quiet hours may defer it)
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    status: str = Field(default="pending", max_length=16)
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = Field(default=0)
    claim_token: str | None = Field(default=None, max_length=40)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    delivery_status: str | None = Field(default=None, max_length=16)  # queued | sent | delivered | undelivered | failed
    delivery_updated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    cancel_reason: str | None = Field(default=None, max_length=200)
    payload: str | None = Field(default=None, max_length=2000)  # JSON: dose mg, tablets, link...
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())

    # The dispatcher's only query: due rows by (status, next_attempt_at). Keep it an index lookup.
    __table_args__ = (sa.Index("ix_reminder_due", "status", "next_attempt_at"),)


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"
    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64, unique=True)
    from_number: str = Field(max_length=40)
    to_number: str = Field(max_length=40)
    body: str = Field(max_length=1600)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    handled_as: str | None = Field(default=None, max_length=24)
    reply: str | None = Field(default=None, max_length=1600)
    received_at: datetime = Field(sa_column=utc_column())


class PushSubscription(SQLModel, table=True):
    __tablename__ = "push_subscription"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    endpoint: str = Field(max_length=1000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=utc_column())
    last_success_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class SignInToken(SQLModel, table=True):
    """Single-use patient sign-in links (enrollment invites and re-sent links); only a hash is stored."""

    __tablename__ = "sign_in_token"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    purpose: str = Field(default="invite", max_length=16)  # invite | sign_in
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")


# --------------------------------------------------------------------------- operations


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=utc_column(index=True))
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    action: str = Field(max_length=64)  # e.g. patient.view, plan.hold, lab.create
    detail: str = Field(default="", max_length=2000)
    ip: str | None = Field(default=None, max_length=64)
    fhir_client_id: int | None = Field(default=None, foreign_key="fhir_client.id", index=True)  # machine actor


class WorkerHeartbeat(SQLModel, table=True):
    __tablename__ = "worker_heartbeat"
    name: str = Field(primary_key=True, max_length=100)
    beat_at: datetime = Field(sa_column=utc_column())
    pid: int
    host: str = Field(max_length=200)


class AppSecret(SQLModel, table=True):
    """Generated-once keys the app needs across restarts (e.g. the VAPID key pair for Web Push)."""

    __tablename__ = "app_secret"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=4000)
    created_at: datetime = Field(sa_column=utc_column())


# --------------------------------------------------------------------------- FHIR interoperability (services/fhir)


class FhirClient(SQLModel, table=True):
    """A machine client (EHR, lab system) registered by an admin for one clinic; only a hash of its secret is kept."""

    __tablename__ = "fhir_client"
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    secret_hash: str = Field(max_length=255)  # argon2id, like staff passwords
    scopes: str = Field(max_length=1000)  # space-separated SMART system scopes, e.g. "system/Observation.write"
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(sa_column=utc_column())


class FhirAccessToken(SQLModel, table=True):
    """A short-lived bearer token issued to a client; only its SHA-256 is stored."""

    __tablename__ = "fhir_access_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    fhir_client_id: int = Field(foreign_key="fhir_client.id", index=True)
    scopes: str = Field(max_length=1000)
    issued_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column(index=True))


class FhirLabObservation(SQLModel, table=True):
    """A lab Observation received over FHIR: its identity (identifier, or subject/code/time/value), status and
    the lab_result it produced (None while preliminary). An amended one supersedes the earlier row."""

    __tablename__ = "fhir_lab_observation"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=64, unique=True)  # the same Observation twice is stored once
    patient_id: int = Field(foreign_key="patient.id", index=True)
    fhir_client_id: int = Field(foreign_key="fhir_client.id")
    identifier_system: str | None = Field(default=None, max_length=255)
    identifier_value: str | None = Field(default=None, max_length=200)
    loinc: str = Field(max_length=16)
    lab_field: str = Field(max_length=24)  # LabResult column, e.g. anc_10e9_l
    effective_at: datetime = Field(sa_column=utc_column())
    value: float  # in the unit of the rules
    received_value: float
    received_unit: str = Field(max_length=32)
    status: str = Field(max_length=16)  # preliminary | final | amended | corrected
    lab_result_id: int | None = Field(default=None, foreign_key="lab_result.id")
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    received_at: datetime = Field(sa_column=utc_column())

    __table_args__ = (
        sa.Index("ix_fhir_lab_observation_identifier", "patient_id", "identifier_system", "identifier_value"),
        sa.Index("ix_fhir_lab_observation_subject", "patient_id", "lab_field", "effective_at"),
    )


class FhirExportJob(SQLModel, table=True):
    """A bulk $export of one clinic, processed in the background; `job_key` names it in the status URL."""

    __tablename__ = "fhir_export_job"
    id: int | None = Field(default=None, primary_key=True)
    job_key: str = Field(max_length=40, unique=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    fhir_client_id: int = Field(foreign_key="fhir_client.id")
    types: str = Field(max_length=500)  # comma-separated resource types
    request_url: str = Field(max_length=1000)
    status: str = Field(default="accepted", max_length=16)  # accepted | in_progress | complete | error
    requested_at: datetime = Field(sa_column=utc_column())
    started_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    error: str | None = Field(default=None, max_length=1000)


class FhirExportFile(SQLModel, table=True):
    """One NDJSON output file of an export job (one per resource type)."""

    __tablename__ = "fhir_export_file"
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="fhir_export_job.id", index=True)
    resource_type: str = Field(max_length=64)
    count: int
    ndjson: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


# --------------------------------------------------------------------------- the PQI program (issue 14)


class StartChecklistItem(SQLModel, table=True):
    """One tick of an item of a patient's start-of-therapy checklist (server/services/pqi/checklist.py).

    History is kept: ticking again adds a row; un-ticking sets `undone_at` on the row it undoes.
    """

    __tablename__ = "start_checklist_item"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    item: str = Field(max_length=32)  # a key of server/services/pqi/checklist.py CHECKLIST_ITEMS
    done_at: datetime = Field(sa_column=utc_column())
    done_by_staff_id: int = Field(foreign_key="staff.id")
    note: str | None = Field(default=None, max_length=500)
    detail: str | None = Field(default=None, max_length=200)  # e.g. the 5-HT3 antagonist named, the indication
    undone_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    undone_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")


class TeachBackAttempt(SQLModel, table=True):
    """One answer of the patient to a schedule question about one plan version (services/pqi/teach_back.py).

    At most two attempts per question and plan version (the second wrong one opens R-TEACH-BACK); the unique
    constraint keeps a double-posted form from adding a third.
    """

    __tablename__ = "teach_back_attempt"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    plan_id: int = Field(foreign_key="treatment_plan.id")  # the plan version asked about
    question: str = Field(max_length=32)  # days | tablets | antiemetic
    answer: str = Field(max_length=64)  # the choice's code, e.g. "0-2" (Mondays and Wednesdays), "4", "before-30"
    correct: bool
    attempt: int  # 1 or 2
    channel: str = Field(max_length=8)  # app | sms
    at: datetime = Field(sa_column=utc_column())
    # "sms:<MessageSid>" for a texted answer: the same text handled twice (a retried webhook) is one answer
    source_key: str | None = Field(default=None, max_length=80, unique=True)

    __table_args__ = (
        sa.UniqueConstraint("patient_id", "plan_id", "question", "attempt", name="uq_teach_back_attempt"),
    )
