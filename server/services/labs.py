"""Lab results entered by staff: parsed from the form, stored through flow 1 (entries.record_lab) so they feed
the rules like any entry, and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session

from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError
from ..models import Staff
from .audit import audit
from .entries import EntryResult, LabValues, record_lab
from .inbox import patient_for_staff, setup_zone

# Older results belong to the chart history, not to today's decisions (and the rules read the latest value).
MAX_LAB_AGE = timedelta(days=90)
LAB_FIELDS = {
    "sodium_mmol_l": "Sodium (mmol/L)",
    "platelets_10e9_l": "Platelets (×10⁹/L)",
    "anc_10e9_l": "ANC (×10⁹/L)",
    "hemoglobin_g_dl": "Hemoglobin (g/dL)",
}


@dataclass(frozen=True)
class LabForm:
    collected_on: str = ""
    sodium_mmol_l: str = ""
    platelets_10e9_l: str = ""
    anc_10e9_l: str = ""
    hemoglobin_g_dl: str = ""
    key: str = ""  # generated when the form is shown: a double submit stores one result


def _number(field: str, text: str) -> float | None:
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise FieldError(field, f"{LAB_FIELDS[field]} must be a number.") from None


def enter_labs(ctx: AppContext, staff: Staff, patient_id: int, form: LabForm, *, ip: str | None) -> EntryResult:
    """Store one set of results with its collection date (at local noon, or now if that is still ahead)."""
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
    zone = setup_zone(patient.timezone)
    try:
        day = date.fromisoformat(form.collected_on.strip())
    except ValueError:
        raise FieldError("collected_on", "Collection date must be a date like 2026-03-02.") from None
    today = now.astimezone(zone).date()
    if day > today:
        raise FieldError("collected_on", "The collection date is in the future.")
    if day < today - MAX_LAB_AGE:
        raise FieldError("collected_on", f"The collection date is more than {MAX_LAB_AGE.days} days ago.")
    collected_at = min(datetime.combine(day, time(12, 0), zone), now)
    values = LabValues(**{name: _number(name, getattr(form, name)) for name in LAB_FIELDS})
    key = (form.key or "").strip()
    result = record_lab(ctx, patient.id, key=key, collected_at=collected_at, values=values, staff_id=staff.id)
    if not result.replayed:
        # record_lab owns its transaction; the audit row follows it at once.
        with session_scope(ctx.engine) as session:
            summary = ", ".join(f"{name}={getattr(values, name):g}" for name in LAB_FIELDS
                                if getattr(values, name) is not None)
            audit(session, staff_id=staff.id, action="lab.create", patient_id=patient.id, now=now, ip=ip,
                  detail=f"collected {day.isoformat()}: {summary}")
    return result
