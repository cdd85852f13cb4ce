"""A patient's recent days, one row per local day: doses, weights, the worst symptoms of the day, labs
(clinical-reference §6: "the patient's last 14 days" on every alert card and the patient's page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ...clinical.regimens import PlanStatus
from ...clinical.schedule import is_dose_day
from ...models import AntiemeticEvent, DoseEvent, LabResult, Patient, SymptomReport, TreatmentPlan, WeightEntry
from ..patient_state import schedule_setup
from .plan_history import day_bounds, scheduled_dose_on
from .wording import lab_words

RECENT_DAYS = 14  # clinical-reference §6: "the patient's last 14 days"
DOSE_LOG_ORDER = ("missed", "taken", "vomited")


@dataclass
class DayRow:
    """One local day of the patient's table (the worst of each symptom that day)."""

    day: date
    scheduled_mg: int | None = None  # a selinexor dose was scheduled that day
    plan_status: str = "active"
    held_dose: bool = False  # a dose day of the pattern while selinexor was on hold
    dose: str | None = None  # taken | missed | vomited, as logged
    antiemetic: bool = False
    weight_kg: float | None = None
    weight_pct: float | None = None  # change from baseline, negative = loss
    nausea: int | None = None
    vomiting: int | None = None
    stools_above: int | None = None
    appetite: int | None = None
    fatigue: int | None = None
    temp_c: float | None = None
    bleeding: str | None = None
    neuro: str | None = None
    vision: bool = False
    labs: list[str] = field(default_factory=list)
    is_today: bool = False
    is_past: bool = False

    @property
    def dose_mark(self) -> str:
        """The dose column's mark: ✓ taken, ✗ missed, V vomited, ? not logged, · ahead, H held."""
        if self.dose:
            return {"taken": "✓", "missed": "✗", "vomited": "V"}.get(self.dose, self.dose)
        if self.scheduled_mg:
            return "?" if self.is_past else "·"
        if self.held_dose:
            return "H"
        return ""


def worse(current: Any, new: Any, order: tuple[str, ...] | None = None) -> Any:
    """The worse of two values of a day (the larger; or the later in `order`); None means not reported."""
    if new is None:
        return current
    if current is None:
        return new
    if order:
        return new if order.index(new) > order.index(current) else current
    return max(current, new)


def recent_days(
    session: Session, patient: Patient, now: datetime, days: int = RECENT_DAYS, end_day: date | None = None
) -> list[DayRow]:
    """One row per local day, oldest first, ending today: doses, weights, symptoms (worst of the day), labs."""
    return recent_days_for(session, [patient], now, days, end_day)[patient.id]


def recent_days_for(
    session: Session, patients: Sequence[Patient], now: datetime, days: int = RECENT_DAYS, end_day: date | None = None
) -> dict[int, list[DayRow]]:
    """recent_days for many patients at once, by patient id: one query per kind of entry whatever the number of
    patients (the inbox shows a page of patients; issue 16: no N+1)."""
    if not patients:
        return {}
    by_id = {p.id: p for p in patients}
    rows_of: dict[int, dict[date, DayRow]] = {}
    zones: dict[int, ZoneInfo] = {}
    window_start: datetime | None = None
    window_end: datetime | None = None
    versions_of: dict[int, list[TreatmentPlan]] = {pid: [] for pid in by_id}
    for version in session.exec(
        select(TreatmentPlan)
        .where(TreatmentPlan.patient_id.in_(by_id))
        .order_by(TreatmentPlan.patient_id, TreatmentPlan.version)
    ).all():
        versions_of[version.patient_id].append(version)
    for pid, patient in by_id.items():
        zone = zones[pid] = ZoneInfo(patient.timezone)
        today = now.astimezone(zone).date()
        last = end_day or today
        first = last - timedelta(days=days - 1)
        start, _ = day_bounds(first, patient.timezone)
        _, end = day_bounds(last, patient.timezone)
        window_start = start if window_start is None else min(window_start, start)
        window_end = end if window_end is None else max(window_end, end)
        rows = rows_of[pid] = {first + timedelta(days=i): DayRow(day=first + timedelta(days=i)) for i in range(days)}
        versions = versions_of[pid]
        for day, row in rows.items():
            row.is_today = day == today
            row.is_past = day < today
            if versions:
                dose, version = scheduled_dose_on(patient, versions, day)
                row.scheduled_mg = dose.dose_mg if dose else None
                row.plan_status = version.status
                row.held_dose = version.status == PlanStatus.HELD.value and is_dose_day(
                    schedule_setup(patient, version), day
                )
    assert window_start is not None and window_end is not None
    start, end = window_start, window_end
    pids = list(by_id)

    def row_at(pid: int, instant: datetime) -> DayRow | None:
        return rows_of[pid].get(instant.astimezone(zones[pid]).date())

    for d in session.exec(
        select(DoseEvent)
        .where(
            DoseEvent.patient_id.in_(pids),
            DoseEvent.superseded_at.is_(None),
            DoseEvent.at >= start - timedelta(days=1),
            DoseEvent.at < end,
        )
        .order_by(DoseEvent.at)
    ).all():
        row = rows_of[d.patient_id].get(d.scheduled_for) if d.scheduled_for else row_at(d.patient_id, d.at)
        if row is not None:
            # The most informative log of the day: a dose taken then vomited shows as vomited; missed is weakest.
            row.dose = worse(row.dose, d.status, DOSE_LOG_ORDER)
            row.antiemetic = row.antiemetic or bool(d.antiemetic_taken)
    for a in session.exec(
        select(AntiemeticEvent).where(
            AntiemeticEvent.patient_id.in_(pids),
            AntiemeticEvent.superseded_at.is_(None),
            AntiemeticEvent.at >= start,
            AntiemeticEvent.at < end,
        )
    ).all():
        row = row_at(a.patient_id, a.at)
        if row is not None:
            row.antiemetic = True
    for w in session.exec(
        select(WeightEntry)
        .where(
            WeightEntry.patient_id.in_(pids),
            WeightEntry.superseded_at.is_(None),
            WeightEntry.at >= start,
            WeightEntry.at < end,
        )
        .order_by(WeightEntry.at)
    ).all():
        row = row_at(w.patient_id, w.at)
        if row is not None:
            baseline = by_id[w.patient_id].baseline_weight_kg
            row.weight_kg = w.kg
            row.weight_pct = round((w.kg - baseline) / baseline * 100, 1)
    for s in session.exec(
        select(SymptomReport).where(
            SymptomReport.patient_id.in_(pids),
            SymptomReport.superseded_at.is_(None),
            SymptomReport.at >= start,
            SymptomReport.at < end,
        )
    ).all():
        row = row_at(s.patient_id, s.at)
        if row is None:
            continue
        row.nausea = worse(row.nausea, s.nausea)
        row.vomiting = worse(row.vomiting, s.vomiting_episodes)
        if s.loose_stools is not None:
            row.stools_above = worse(
                row.stools_above, max(0, s.loose_stools - by_id[s.patient_id].usual_stools_per_day)
            )
        row.appetite = worse(row.appetite, s.appetite)
        row.fatigue = worse(row.fatigue, s.fatigue)
        row.temp_c = worse(row.temp_c, s.temperature_c)
        row.bleeding = worse(row.bleeding, s.bleeding, ("none", "minor", "major"))
        row.neuro = worse(row.neuro, s.neuro, ("none", "dizzy", "major"))
        row.vision = row.vision or bool(s.vision_change)
    for lab in session.exec(
        select(LabResult).where(
            LabResult.patient_id.in_(pids),
            LabResult.collected_at >= start,
            LabResult.collected_at < end,
            LabResult.superseded_at.is_(None),
        )
    ).all():
        row = row_at(lab.patient_id, lab.collected_at)
        if row is not None:
            row.labs.append(lab_words(lab))
    return {pid: [rows_of[pid][d] for d in sorted(rows_of[pid])] for pid in by_id}
