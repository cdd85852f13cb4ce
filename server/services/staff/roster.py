"""The roster: every patient of the clinic with the numbers a pharmacist scans for (days on therapy, adherence,
weight change, open alerts), filtered and sorted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from ...clinical.rules import Tier
from ...models import Alert, DoseEvent, Patient, Staff, TreatmentPlan, WeightEntry
from .clinic_scope import OPEN_STATUSES
from .plan_history import scheduled_dose_on
from .wording import dose_words

ADHERENCE_DAYS = 14


@dataclass
class RosterRow:
    """One patient's line on the roster."""

    patient: Patient
    plan: TreatmentPlan
    dose: str
    days_on_therapy: int | None  # None: not started yet
    adherence_taken: int
    adherence_scheduled: int
    weight_kg: float | None
    weight_pct: float | None
    weight_at: datetime | None
    alerts: dict[str, int]

    @property
    def adherence_pct(self) -> float | None:
        """Doses taken of doses scheduled over the last completed days, in percent (None: none scheduled)."""
        if not self.adherence_scheduled:
            return None
        return round(100 * self.adherence_taken / self.adherence_scheduled)

    @property
    def worst_alert_rank(self) -> int:
        """The rank of the most severe open alert's tier (0: none)."""
        return max((Tier(t).rank for t, n in self.alerts.items() if n), default=0)

    @property
    def name(self) -> str:
        """'Last, First', as the roster lists people."""
        return f"{self.patient.last_name}, {self.patient.first_name}"


ROSTER_SORTS: dict[str, Callable[[RosterRow], Any]] = {
    "name": lambda r: (r.patient.last_name.lower(), r.patient.first_name.lower()),
    "mrn": lambda r: r.patient.mrn,
    "status": lambda r: (r.plan.status, r.patient.last_name.lower()),
    "days": lambda r: (r.days_on_therapy is None, r.days_on_therapy or 0),
    "adherence": lambda r: (r.adherence_pct is None, r.adherence_pct or 0),
    "weight": lambda r: (r.weight_pct is None, r.weight_pct or 0),
    "alerts": lambda r: (-r.worst_alert_rank, -sum(r.alerts.values()), r.patient.last_name.lower()),
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


def roster(session: Session, staff: Staff, now: datetime, flt: RosterFilter | None = None) -> list[RosterRow]:
    """Every patient of the clinic with the numbers a pharmacist scans for (a handful of queries, not N+1)."""
    flt = flt or RosterFilter()
    patients = {p.id: p for p in session.exec(select(Patient).where(Patient.clinic_id == staff.clinic_id)).all()}
    if not patients:
        return []
    ids = list(patients)
    versions: dict[int, list[TreatmentPlan]] = defaultdict(list)
    for plan in session.exec(select(TreatmentPlan).where(TreatmentPlan.patient_id.in_(ids))
                             .order_by(TreatmentPlan.patient_id, TreatmentPlan.version)).all():
        versions[plan.patient_id].append(plan)
    latest_weight: dict[int, WeightEntry] = {}
    for w in session.exec(select(WeightEntry).where(WeightEntry.patient_id.in_(ids), WeightEntry.superseded_at.is_(None))
                          .order_by(WeightEntry.patient_id, WeightEntry.at)).all():
        latest_weight[w.patient_id] = w
    window_start = now - timedelta(days=ADHERENCE_DAYS + 2)
    taken: dict[int, set[date]] = defaultdict(set)
    for d in session.exec(select(DoseEvent).where(DoseEvent.patient_id.in_(ids), DoseEvent.superseded_at.is_(None),
                                                  DoseEvent.at >= window_start,
                                                  DoseEvent.status.in_(("taken", "vomited")))).all():
        patient = patients[d.patient_id]
        taken[d.patient_id].add(d.scheduled_for or d.at.astimezone(ZoneInfo(patient.timezone)).date())
    alerts: dict[int, dict[str, int]] = defaultdict(lambda: {"urgent": 0, "same_day": 0, "routine": 0})
    for patient_id, tier, count in session.exec(
            select(Alert.patient_id, Alert.tier, sa.func.count()).where(Alert.patient_id.in_(ids),
                                                                       Alert.status.in_(OPEN_STATUSES))
            .group_by(Alert.patient_id, Alert.tier)).all():
        alerts[patient_id][tier] = count

    rows = []
    for pid, patient in patients.items():
        if not versions[pid]:
            continue
        plan = versions[pid][-1]
        today = now.astimezone(ZoneInfo(patient.timezone)).date()
        start = versions[pid][0].start_date
        days_on = (today - start).days + 1 if today >= start else None
        scheduled = done = 0
        # Completed local days only: today's dose may still be ahead.
        for i in range(1, ADHERENCE_DAYS + 1):
            day = today - timedelta(days=i)
            if day < start:
                break
            dose, _ = scheduled_dose_on(patient, versions[pid], day)
            if dose is not None:
                scheduled += 1
                done += day in taken[pid]
        weight = latest_weight.get(pid)
        pct = (round((weight.kg - patient.baseline_weight_kg) / patient.baseline_weight_kg * 100, 1)
               if weight else None)
        rows.append(RosterRow(patient=patient, plan=plan, dose=dose_words(patient, plan), days_on_therapy=days_on,
                              adherence_taken=done, adherence_scheduled=scheduled,
                              weight_kg=weight.kg if weight else None, weight_pct=pct,
                              weight_at=weight.at if weight else None, alerts=dict(alerts[pid])))

    q = flt.q.strip().lower()
    if q:
        rows = [r for r in rows if q in r.patient.mrn.lower() or q in f"{r.patient.first_name} {r.patient.last_name}".lower()
                or q in r.name.lower()]
    if flt.status:
        rows = [r for r in rows if r.plan.status == flt.status]
    if flt.regimen:
        rows = [r for r in rows if r.plan.regimen == flt.regimen]
    if flt.alerts == "any":
        rows = [r for r in rows if sum(r.alerts.values())]
    elif flt.alerts == "urgent":
        rows = [r for r in rows if r.alerts.get("urgent")]
    elif flt.alerts == "none":
        rows = [r for r in rows if not sum(r.alerts.values())]
    rows.sort(key=ROSTER_SORTS.get(flt.sort, ROSTER_SORTS["alerts"]), reverse=flt.desc)
    return rows
