"""One mapping from a parsed entry (form, page script, offline replay) to the entries service (flow 1)."""

from __future__ import annotations

from datetime import datetime

from ...context import AppContext
from ...errors import FieldError, NotFound
from ...models import Patient
from ...services.entries import (
    EntryResult,
    record_antiemetic,
    record_dose,
    record_symptoms,
    record_weight,
    time_of_stored_entry,
)
from .rendering import patient_zone
from .schemas import AntiemeticIn, DoseIn, EntryIn, SymptomsIn, WeightIn


class UnitQuestion(FieldError):
    """A temperature almost certainly in the other unit (clinical-reference §5): asked, not refused; nothing stored."""

    def __init__(self, value: float, meant_unit: str):
        super().__init__("temperature", f"Did you mean {value:g} °{meant_unit.upper()}?")
        self.value = value
        self.meant_unit = meant_unit


def record_entry(
    ctx: AppContext, patient: Patient, entry: EntryIn, at: datetime | None = None, *, from_form: bool = False
) -> EntryResult:
    """Store one entry of the signed-in patient (at `at`, else the entry's own time, else now) with its advice."""
    if at is None and entry.local_day is not None:
        at = entry.resolved_at(patient_zone(ctx, patient))  # the patient's zone, never the phone's
    key = entry.idempotency_key
    # No time given on the no-JavaScript form: a retry of a stored entry keeps that entry's time, so it answers
    # "already saved" instead of a conflict, and never stores a second dose. (The app's script and API clients send
    # the time they recorded, so the API path saves this look-up.)
    if at is None and entry.at is None and from_form:
        at = time_of_stored_entry(ctx.engine, patient.id, entry.KIND, key)
    at = at or entry.at or ctx.clock.now()
    if isinstance(entry, SymptomsIn) and (meant := entry.unit_question()) and entry.temperature is not None:
        raise UnitQuestion(float(entry.temperature), meant)
    if isinstance(entry, DoseIn):
        return record_dose(
            ctx,
            patient.id,
            key=key,
            status=entry.status,
            at=at,
            scheduled_for=entry.scheduled_for,
            antiemetic_taken=entry.antiemetic_taken,
            corrects_id=entry.corrects_id,
        )
    if isinstance(entry, AntiemeticIn):
        return record_antiemetic(ctx, patient.id, key=key, at=at)
    if isinstance(entry, SymptomsIn):
        return record_symptoms(ctx, patient.id, key=key, at=at, answers=entry.answers(), corrects_id=entry.corrects_id)
    if isinstance(entry, WeightIn):
        return record_weight(
            ctx,
            patient.id,
            key=key,
            at=at,
            value=entry.value,
            unit=entry.unit or patient.weight_unit,
            confirmed=entry.confirmed,
            corrects_id=entry.corrects_id,
        )
    raise NotFound("No such kind of entry.")
