"""The roster: every patient of the clinic with the numbers a pharmacist scans for (days on therapy, adherence,
weight change, open alerts), filtered, sorted and paged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from ...clinical.rules import Tier
from ...models import Alert, DoseEvent, Patient, Staff, TreatmentPlan, WeightEntry
from ..clinic_scope import OPEN_STATUSES
from ..pqi.checklist import Checklist, checklists_for
from .plan_history import scheduled_dose_on
from .wording import dose_words

ADHERENCE_DAYS = 14


@dataclass
class RosterRow:
    """One patient's line on the roster."""

    patient: Any  # a patient row: Patient's columns as attributes
    plan: Any  # the current plan version's row: TreatmentPlan's columns as attributes
    dose: str
    days_on_therapy: int | None  # None: not started yet
    adherence_taken: int
    adherence_scheduled: int
    weight_kg: float | None
    weight_pct: float | None
    weight_at: datetime | None
    alerts: dict[str, int]
    checklist: Checklist | None = None  # the start-of-therapy checklist (issue 14), read for the page's rows only

    @property
    def adherence_pct(self) -> float | None:
        """Doses taken of doses scheduled over the last completed days, in percent (None: none scheduled)."""
        if not self.adherence_scheduled:
            return None
        return round(100 * self.adherence_taken / self.adherence_scheduled)

    @property
    def name(self) -> str:
        """'Last, First', as the roster lists people."""
        return f"{self.patient.last_name}, {self.patient.first_name}"


# The sorts that read a number from the history: every match's row is built before sorting (LIGHT_SORTS: the rest).
HISTORY_SORTS: dict[str, Callable[[RosterRow], Any]] = {
    "days": lambda r: (r.days_on_therapy is None, r.days_on_therapy or 0),
    "adherence": lambda r: (r.adherence_pct is None, r.adherence_pct or 0),
    "weight": lambda r: (r.weight_pct is None, r.weight_pct or 0),
}


@dataclass
class RosterFilter:
    """The roster's search, filters and sort order."""

    q: str = ""
    status: str = ""  # active | held | discontinued
    regimen: str = ""
    alerts: str = ""  # any | urgent | none
    sort: str = "alerts"
    desc: bool = False


ROSTER_PAGE_SIZE = 50
TIER_RANKS = {tier.value: tier.rank for tier in Tier}


def _worst_rank(alerts: dict[str, int]) -> int:
    return max((TIER_RANKS[t] for t, n in alerts.items() if n), default=0)


# The sorts that need no dose or weight: the same orders as ROSTER_SORTS, read from a match (_matching: id, names,
# MRN, plan status) and its open alert counts, so only the page's rows are ever built.
LIGHT_SORTS: dict[str, Callable[[Any, dict[str, int]], Any]] = {
    "name": lambda m, _: (m.last_name.lower(), m.first_name.lower()),
    "mrn": lambda m, _: m.mrn,
    "status": lambda m, _: (m.status, m.last_name.lower()),
    "alerts": lambda m, alerts: (-_worst_rank(alerts), -sum(alerts.values()), m.last_name.lower()),
}
ROSTER_SORTS = frozenset({*LIGHT_SORTS, *HISTORY_SORTS})  # every sort the roster offers


@dataclass
class RosterPage:
    """One page of the roster: its rows, how many patients match, and where the page is."""

    rows: list[RosterRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def roster(
    session: Session,
    staff: Staff,
    now: datetime,
    flt: RosterFilter | None = None,
    page: int = 1,
    page_size: int = ROSTER_PAGE_SIZE,
) -> RosterPage:
    """One page of the clinic's patients with the numbers a pharmacist scans for.

    Seven queries whatever the clinic's size: the matching patients with their current plan (filters in SQL), their
    open alert counts, then for the page only (or every match when sorting by a number from the history) the plan
    versions, the latest weight (by the weight_entry(patient_id, at) index), the last 16 days of doses, and the
    start-of-therapy checklist's ticks and baseline labs.
    """
    flt = flt or RosterFilter()
    matches = _matching(session, staff, flt)
    alerts: dict[int, dict[str, int]] = defaultdict(lambda: {"urgent": 0, "same_day": 0, "routine": 0})
    if matches:
        for patient_id, tier, count in session.exec(
            select(Alert.patient_id, Alert.tier, sa.func.count())
            .join(Patient, Patient.id == Alert.patient_id)
            .where(Patient.clinic_id == staff.clinic_id, Alert.status.in_(OPEN_STATUSES))
            .group_by(Alert.patient_id, Alert.tier)
        ).all():
            alerts[patient_id][tier] = count
    if flt.alerts == "any":
        matches = [m for m in matches if sum(alerts[m.id].values())]
    elif flt.alerts == "urgent":
        matches = [m for m in matches if alerts[m.id]["urgent"]]
    elif flt.alerts == "none":
        matches = [m for m in matches if not sum(alerts[m.id].values())]
    page = max(1, page)
    first = (page - 1) * page_size
    if flt.sort not in HISTORY_SORTS:
        # Sorted on the matches' own few columns (thousands of them), then only the page's rows are built.
        light = LIGHT_SORTS.get(flt.sort, LIGHT_SORTS["alerts"])
        chosen = sorted(matches, key=lambda m: light(m, alerts[m.id]), reverse=flt.desc)[first : first + page_size]
        rows = _rows(session, [m.id for m in chosen], alerts, now)
    else:
        rows = _rows(session, [m.id for m in matches], alerts, now)
        rows.sort(key=HISTORY_SORTS[flt.sort], reverse=flt.desc)
        rows = rows[first : first + page_size]
    return RosterPage(rows=rows, total=len(matches), page=page, page_size=page_size)


def _matching(session: Session, staff: Staff, flt: RosterFilter) -> list[Any]:
    """The clinic's patients that pass the search and plan filters: for each, the few columns the light sorts read
    (id, names, MRN, current plan status), in one query, by id (ties keep that order).

    Plain rows, not ORM instances, and only those columns: a clinic is thousands of patients, and building whole
    rows for all of them would cost more than the page (the page's own rows are read in full by _rows).
    """
    p, t = Patient.__table__, TreatmentPlan.__table__
    newest = sa.select(t.c.patient_id, sa.func.max(t.c.version).label("version")).group_by(t.c.patient_id).subquery()
    where = [p.c.clinic_id == staff.clinic_id]
    q = flt.q.strip().lower()
    if q:
        where.append(
            sa.or_(
                sa.func.lower(p.c.mrn).contains(q, autoescape=True),
                sa.func.lower(p.c.first_name + " " + p.c.last_name).contains(q, autoescape=True),
                sa.func.lower(p.c.last_name + ", " + p.c.first_name).contains(q, autoescape=True),
            )
        )
    if flt.status:
        where.append(t.c.status == flt.status)
    if flt.regimen:
        where.append(t.c.regimen == flt.regimen)
    return list(
        session.connection().execute(
            sa.select(p.c.id, p.c.last_name, p.c.first_name, p.c.mrn, t.c.status)
            .select_from(p)
            .join(newest, newest.c.patient_id == p.c.id)
            .join(t, sa.and_(t.c.patient_id == p.c.id, t.c.version == newest.c.version))
            .where(*where)
            .order_by(p.c.id)
        )
    )


def _rows(session: Session, ids: list[int], alerts: dict[int, dict[str, int]], now: datetime) -> list[RosterRow]:
    """Roster rows with their history numbers, for the chosen patients in that order (set-based queries, plain
    rows): the patients, their plan versions (the newest is the current plan), latest weight, recent doses and
    start-of-therapy checklists."""
    if not ids:
        return []
    p, t, w, d = Patient.__table__, TreatmentPlan.__table__, WeightEntry.__table__, DoseEvent.__table__
    conn = session.connection()
    patients = {patient.id: patient for patient in conn.execute(sa.select(p).where(p.c.id.in_(ids)))}
    versions: dict[int, list[Any]] = defaultdict(list)
    for plan in conn.execute(sa.select(t).where(t.c.patient_id.in_(ids)).order_by(t.c.patient_id, t.c.version)):
        versions[plan.patient_id].append(plan)
    newest = (
        sa.select(w.c.patient_id, sa.func.max(w.c.at).label("at"))
        .where(w.c.patient_id.in_(ids), w.c.superseded_at.is_(None))
        .group_by(w.c.patient_id)
        .subquery()
    )
    latest_weight: dict[int, Any] = {}
    for weight in conn.execute(
        sa.select(w.c.patient_id, w.c.kg, w.c.at)
        .join(newest, sa.and_(newest.c.patient_id == w.c.patient_id, newest.c.at == w.c.at))
        # The page's patients again, so the join reads their rows by the index, not the whole table.
        .where(w.c.patient_id.in_(ids), w.c.superseded_at.is_(None))
        .order_by(w.c.id)
    ):
        latest_weight[weight.patient_id] = weight
    # Each chosen patient with their current plan (a patient read between the two queries without a plan is left out).
    chosen = [(patients[pid], versions[pid][-1]) for pid in ids if pid in patients and versions[pid]]
    window_start = now - timedelta(days=ADHERENCE_DAYS + 2)
    taken: dict[int, set[date]] = defaultdict(set)
    zones = {patient.id: ZoneInfo(patient.timezone) for patient, _ in chosen}
    for dose in conn.execute(
        sa.select(d.c.patient_id, d.c.scheduled_for, d.c.at).where(
            d.c.patient_id.in_(ids),
            d.c.superseded_at.is_(None),
            d.c.at >= window_start,
            d.c.status.in_(("taken", "vomited")),
        )
    ):
        taken[dose.patient_id].add(dose.scheduled_for or dose.at.astimezone(zones[dose.patient_id]).date())
    checklists = checklists_for(session, chosen)
    return [
        _row(
            patient,
            plan,
            versions[patient.id],
            latest_weight.get(patient.id),
            taken[patient.id],
            dict(alerts[patient.id]),
            now,
            checklists.get(patient.id),
        )
        for patient, plan in chosen
    ]


def _row(
    patient: Any,
    plan: Any,
    versions: list[Any],
    weight: Any,
    taken: set[date],
    alerts: dict[str, int],
    now: datetime,
    checklist: Checklist | None = None,
) -> RosterRow:
    """One roster line (without versions: only the fields the name, MRN, status and alerts sorts read)."""
    today = now.astimezone(ZoneInfo(patient.timezone)).date()
    days_on = None
    scheduled = done = 0
    if versions:
        start = versions[0].start_date
        days_on = (today - start).days + 1 if today >= start else None
        # Completed local days only: today's dose may still be ahead.
        for i in range(1, ADHERENCE_DAYS + 1):
            day = today - timedelta(days=i)
            if day < start:
                break
            dose, _ = scheduled_dose_on(patient, versions, day)
            if dose is not None:
                scheduled += 1
                done += day in taken
    pct = round((weight.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1) if weight else None
    return RosterRow(
        patient=patient,
        plan=plan,
        dose=dose_words(patient, plan) if versions else "",
        days_on_therapy=days_on,
        adherence_taken=done,
        adherence_scheduled=scheduled,
        weight_kg=weight.kg if weight else None,
        weight_pct=pct,
        weight_at=weight.at if weight else None,
        alerts=alerts,
        checklist=checklist,
    )
