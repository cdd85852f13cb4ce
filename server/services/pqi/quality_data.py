"""What the quality report reads, loaded for a whole clinic in a fixed number of statements (issue 14 item 3).

Each loader is one set-based query over the clinic's patients (a sub-select on `patient.clinic_id`, never a list of
ids or a query per patient), returning plain tuples grouped by patient; aggregates that need no row-level detail
(weight crossings, the first plan action of each alert, reminder outcomes) are computed by the database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from ...clinical.rules import WEIGHT_LOSS_EVALUATE_PCT, WEIGHT_LOSS_INTERRUPT_PCT, WEIGHT_LOSS_URGENT_PCT
from ...models import Alert, AlertEvent, LabResult, OutboundMessage, Patient, TreatmentPlan, WeightEntry
from ..alerts import TIER_RAISED
from ..labs import CBC_FIELDS
from ..outbox.vocabulary import PLANNED_KINDS, MessageStatus
from .periods import Bucket, Period
from .side_by_side import SideBySide

# clinical-reference: R-WT-5, R-WT-10, R-WT-20 (loss below the enrollment baseline): the rules' own thresholds
WEIGHT_LINES = tuple(int(pct) for pct in (WEIGHT_LOSS_EVALUATE_PCT, WEIGHT_LOSS_INTERRUPT_PCT, WEIGHT_LOSS_URGENT_PCT))
# Reminders that were due to go out: a cancelled one was not needed (e.g. the dose was already logged), and pending
# or in-flight ones have no outcome yet.
DUE_STATUSES = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN, MessageStatus.EXPIRED)


@dataclass
class PatientFacts:
    """One patient of the clinic, with what the report reads about them."""

    patient: Any  # the stored row: every column of `patient` (as on the model), read-only
    plans: list[Any] = field(default_factory=list)  # rows of `treatment_plan`, oldest version first
    # Clinic-zone dates, in no particular order (a date may repeat): read as sets of monitoring windows.
    weight_days: list[date] = field(default_factory=list)
    # CBC field -> the dates it was recorded; a CBC with differential is all three in the same week or month
    cbc_field_days: dict[str, list[date]] = field(default_factory=lambda: {name: [] for name in CBC_FIELDS})
    cmp_days: list[date] = field(default_factory=list)
    crossed_at: dict[int, datetime] = field(default_factory=dict)  # weight line (5, 10, 20) -> first crossing

    @cached_property
    def therapy_start(self) -> date | None:
        """The start date of the first plan version (None: no plan); read once the plans are loaded."""
        return self.plans[0].start_date if self.plans else None


@dataclass(frozen=True, slots=True)  # slots: a year of a clinic is thousands (fewer objects for the GC)
class AlertFacts:
    id: int
    patient_id: int
    tier: str  # its tier now (alerts.upsert_alert only ever raises it)
    opened_at: datetime
    tier_since: datetime  # when it reached that tier: the last "tier raised" event, else its opening
    acknowledged_at: datetime | None  # None when the only acknowledgement came before it reached its tier
    first_action_at: datetime | None  # the first plan action taken from it since it reached its tier
    page_level: int


@dataclass
class ClinicData:
    patients: dict[int, PatientFacts]
    alerts: list[AlertFacts]
    # (patient, channel, month key) -> (due, delivered)
    reminders: dict[tuple[int, str, str], tuple[int, int]]


EPOCH = date(2000, 1, 1)


def day_number(column: sa.ColumnElement, dialect: str) -> sa.ColumnElement[int]:
    """Days from 1 Jan 2000 to a date column's date (a UTC timestamp: its UTC date), as an SQL integer."""
    if dialect == "postgresql":
        return sa.type_coerce(sa.cast(column, sa.Date) - sa.cast(sa.literal(EPOCH.isoformat()), sa.Date), sa.Integer)
    return sa.cast(sa.func.julianday(sa.func.date(column)) - sa.func.julianday(EPOCH.isoformat()), sa.Integer)


def month_of(day: sa.ColumnElement, period: Period) -> sa.ColumnElement[str]:
    """The month key ("2026-03") of a local date column within the period, in SQL."""
    return sa.case(*((day <= month.last, sa.literal(month.key)) for month in period.months), else_=sa.literal(""))


def local_date(column: sa.ColumnElement, zone: ZoneInfo, dialect: str) -> sa.ColumnElement:
    """A UTC timestamp column's date in the zone: in SQL on PostgreSQL, else the instant itself (_local_dates)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(zone.key, sa.func.timezone("UTC", column)), sa.Date)
    return column


def _local_dates(
    conn: Connection, query: sa.Select, zone: ZoneInfo, flags: tuple[str, ...] = ()
) -> dict[int, list[list[date]]]:
    """Per patient, the local dates of the query's rows (`patient_id`, `day` from local_date, then the flags): a list
    for each flag, or one list of every row's date when there are no flags. On PostgreSQL the database groups them
    into one row per patient with an array of dates per flag (no row per entry to build here); SQLite's SQL has no
    time zones, so there the rows come one by one with their instants and are dated here."""
    found: dict[int, list[list[date]]] = {}
    if conn.dialect.name == "postgresql":
        sub = query.subquery()
        arrays: list[sa.ColumnElement] = [sa.func.array_agg(sub.c.day).filter(sub.c[f]) for f in flags]
        arrays = arrays or [sa.func.array_agg(sub.c.day)]
        for pid, *lists in conn.execute(sa.select(sub.c.patient_id, *arrays).group_by(sub.c.patient_id)).all():
            found[pid] = [days or [] for days in lists]  # an array of no rows is NULL
        return found
    for pid, at, *flagged in conn.execute(query).all():
        day = at.astimezone(zone).date()
        lists = found.get(pid) or found.setdefault(pid, [[] for _ in range(len(flags) or 1)])
        for days, has in zip(lists, flagged or (True,)):
            if has:
                days.append(day)
    return found


def clinic_patients(clinic_id: int) -> sa.Select:
    """The clinic's patient ids, as a sub-select."""
    return sa.select(Patient.id).where(Patient.clinic_id == clinic_id)


def load_clinic_data(
    session: Session, reads: SideBySide, clinic_id: int, period: Period, monitoring_from: date
) -> ClinicData:
    """What the report reads row by row for the clinic's patients over the period (eight statements; the doses are
    counted in SQL by dose_counts.py): the reads run side by side (side_by_side.py) while the patients and their
    plans load here."""
    zone = period.zone
    whole = period.whole
    mine = clinic_patients(clinic_id)
    monitoring_start = period._bucket("monitoring", "", monitoring_from, whole.last).start_utc
    weights = reads.start(lambda conn: _weight_days(conn, mine, zone, monitoring_start, whole.end_utc))
    labs = reads.start(lambda conn: _lab_days(conn, mine, zone, monitoring_start, whole.end_utc))
    crossings = reads.start(lambda conn: _weight_crossings(conn, clinic_id, whole))
    alerts = reads.start(lambda conn: _load_alerts(conn, mine, whole))
    reminders = reads.start(lambda conn: _load_reminders(conn, mine, period))

    # Plain rows, not ORM objects: the report only reads them, and thousands of mapped objects (each with its state,
    # weak reference and sets) cost far more to build and make the garbage collector walk them again and again.
    conn = session.connection()
    patient, plan = Patient.__table__, TreatmentPlan.__table__
    patients = {
        row.id: PatientFacts(row)
        for row in conn.execute(sa.select(patient).where(patient.c.clinic_id == clinic_id).order_by(patient.c.id)).all()
    }
    # Patients enrolled while the report is read may have rows in these reads: they wait for the next reading.
    for row in conn.execute(
        sa.select(plan).where(plan.c.patient_id.in_(mine)).order_by(plan.c.patient_id, plan.c.version)
    ).all():
        if row.patient_id in patients:
            patients[row.patient_id].plans.append(row)
    for pid, days in weights().items():
        if pid in patients:
            patients[pid].weight_days = days
    for pid, (cbc_field_days, cmp_days) in labs().items():
        if pid in patients:
            patients[pid].cbc_field_days, patients[pid].cmp_days = cbc_field_days, cmp_days
    for pid, crossed_at in crossings().items():
        if pid in patients:
            patients[pid].crossed_at = crossed_at
    return ClinicData(
        patients,
        [alert for alert in alerts() if alert.patient_id in patients],
        {key: counts for key, counts in reminders().items() if key[0] in patients},
    )


def _weight_days(
    conn: Connection, mine: sa.Select, zone: ZoneInfo, start_utc: datetime, end_utc: datetime
) -> dict[int, list[date]]:
    """Each patient's local dates with a weight in [start_utc, end_utc)."""
    weight = WeightEntry.__table__.c
    weights = sa.select(weight.patient_id, local_date(weight.at, zone, conn.dialect.name).label("day")).where(
        weight.patient_id.in_(mine),
        weight.superseded_at.is_(None),
        weight.at >= start_utc,
        weight.at < end_utc,
    )
    return {pid: days for pid, (days,) in _local_dates(conn, weights, zone).items()}


def _lab_days(
    conn: Connection, mine: sa.Select, zone: ZoneInfo, start_utc: datetime, end_utc: datetime
) -> dict[int, tuple[dict[str, list[date]], list[date]]]:
    """Each patient's local dates with each CBC field recorded, and with a chemistry (CMP) result."""
    lab = LabResult.__table__.c
    labs = sa.select(
        lab.patient_id,
        local_date(lab.collected_at, zone, conn.dialect.name).label("day"),
        *(lab[name].is_not(None).label(name) for name in CBC_FIELDS),
        lab.sodium_mmol_l.is_not(None).label("cmp"),
    ).where(
        lab.patient_id.in_(mine),
        lab.superseded_at.is_(None),
        lab.collected_at >= start_utc,
        lab.collected_at < end_utc,
    )
    return {
        pid: (dict(zip(CBC_FIELDS, days)), days[-1])
        for pid, days in _local_dates(conn, labs, zone, (*CBC_FIELDS, "cmp")).items()
    }


def _weight_crossings(conn: Connection, clinic_id: int, whole: Bucket) -> dict[int, dict[int, datetime]]:
    """The first weight at or past each loss line, from the start of therapy to the end of the period."""
    weight = WeightEntry.__table__.c
    patient_table = Patient.__table__
    patient = patient_table.c
    # ">= N% below baseline" (R-WT-5/10/20), as kg <= baseline x (1 - N/100) with a hair of tolerance for floats.
    firsts = [
        sa.func.min(sa.case((weight.kg <= patient.baseline_weight_kg * (1 - pct / 100) + 1e-9, weight.at))).label(
            f"at_{pct}"
        )
        for pct in WEIGHT_LINES
    ]
    rows = conn.execute(
        sa.select(weight.patient_id, *firsts)
        .join(patient_table, patient.id == weight.patient_id)
        .where(patient.clinic_id == clinic_id, weight.superseded_at.is_(None), weight.at < whole.end_utc)
        .group_by(weight.patient_id)
    ).all()
    found: dict[int, dict[int, datetime]] = {}
    for pid, *instants in rows:
        crossed = {}
        for pct, value in zip(WEIGHT_LINES, instants):
            at = _as_utc(weight.at.type, value)
            if at is not None:
                crossed[pct] = at
        found[pid] = crossed
    return found


def _load_alerts(conn: Connection, mine: sa.Select, whole: Bucket) -> list[AlertFacts]:
    """Alerts opened in the period, each with when it reached its tier and the first plan action taken from it since
    (two statements)."""
    alert = Alert.__table__.c
    event = AlertEvent.__table__.c
    opened = sa.and_(alert.patient_id.in_(mine), alert.opened_at >= whole.start_utc, alert.opened_at < whole.end_utc)
    in_period = event.alert_id.in_(sa.select(alert.id).where(opened))
    # alerts.upsert_alert raises a tier in place and records "tier raised to <tier>; ..." (tiers only go up, so the
    # last such event is the one that reached the current tier).
    raised_at: dict[int, datetime] = {}
    actions: dict[int, list[datetime]] = defaultdict(list)
    raise_event = sa.and_(event.kind == "updated", event.detail.like(f"{TIER_RAISED}%"))
    for alert_id, kind, at in conn.execute(
        sa.select(event.alert_id, event.kind, event.at)
        .where(sa.or_(event.kind == "action", raise_event), in_period)
        .order_by(event.at)
    ).all():
        if kind == "action":
            actions[alert_id].append(at)
        else:
            raised_at[alert_id] = at  # the last one (by time) wins
    found = []
    for row in conn.execute(
        sa.select(
            alert.id, alert.patient_id, alert.tier, alert.opened_at, alert.acknowledged_at, alert.page_level
        ).where(opened)
    ).all():
        since = raised_at.get(row.id) or row.opened_at
        ack = row.acknowledged_at
        found.append(
            AlertFacts(
                id=row.id,
                patient_id=row.patient_id,
                tier=row.tier,
                opened_at=row.opened_at,
                tier_since=since,
                acknowledged_at=ack if ack is not None and ack >= since else None,
                first_action_at=next((at for at in actions.get(row.id, ()) if at >= since), None),
                page_level=row.page_level,
            )
        )
    return found


def _as_utc(column_type: sa.types.TypeEngine, value: datetime | str | None) -> datetime | None:
    """An aggregate's instant, read as its UTC column would be (min() drops the column type on some engines)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        return value
    result: datetime = column_type.process_result_value(value, None)
    return result


def _load_reminders(conn: Connection, mine: sa.Select, period: Period) -> dict[tuple[int, str, str], tuple[int, int]]:
    """Planned reminders that were due in each month, and how many reached the patient, by patient and channel."""
    message = OutboundMessage.__table__.c
    months = period.months
    month_of = sa.case(
        *((message.scheduled_for < month.end_utc, sa.literal(month.key)) for month in months), else_=sa.literal("")
    )
    delivered = sa.or_(
        message.delivery_status == "delivered",
        sa.and_(message.channel == "push", message.status == MessageStatus.SENT.value),
    )
    rows = conn.execute(
        sa.select(
            message.patient_id,
            message.channel,
            month_of.label("month"),
            sa.func.count(),
            sa.func.sum(sa.case((delivered, 1), else_=0)),
        )
        .where(
            message.patient_id.in_(mine),
            message.kind.in_([k.value for k in PLANNED_KINDS]),
            message.status.in_([s.value for s in DUE_STATUSES]),
            message.scheduled_for >= period.whole.start_utc,
            message.scheduled_for < period.whole.end_utc,
        )
        .group_by(message.patient_id, message.channel, month_of)
    ).all()
    # Tuples, not lists: thousands of them, and the garbage collector stops tracking tuples of numbers.
    return {(pid, channel, month): (int(due), int(reached or 0)) for pid, channel, month, due, reached in rows}
