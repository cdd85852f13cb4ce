"""Lab results entered by staff: the lab form as a typed model, stored through flow 1 (entries.record_lab) so they
feed the rules like any entry, and audited."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..clinical.rules import Finding
from ..context import AppContext
from ..db import session_scope
from ..errors import FieldError
from ..forms import BlankToNone, FormModel, IsoDate, LocalTime, Number, Text
from ..models import Clinic, LabResult, Staff
from .audit import audit
from .clinic_scope import patient_for_staff
from .entries import EntryResult, LabValues, record_lab

# Older results belong to the chart history, not to today's decisions (and the rules read the latest value).
MAX_LAB_AGE = timedelta(days=90)
# clinical-reference: P-MONITOR ("CBC with differential"): the columns that make one, for the start checklist's
# baseline CBC and the quality report's monitoring alike.
CBC_FIELDS = ("platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl")

LAB_FIELDS = {
    "sodium_mmol_l": "Sodium (mmol/L)",
    "platelets_10e9_l": "Platelets (×10⁹/L)",
    "anc_10e9_l": "ANC (×10⁹/L)",
    "hemoglobin_g_dl": "Hemoglobin (g/dL)",
}


class LabEntry(FormModel):
    """One set of results as sent by the lab form (blank boxes: not measured)."""

    messages: ClassVar[dict[str, str]] = {
        "collected_on": "Collection date must be a date like 2026-03-02.",
        "collected_time": "Collection time must be a time like 08:30.",
        **{name: f"{label} must be a number." for name, label in LAB_FIELDS.items()},
    }

    collected_on: IsoDate
    collected_time: BlankToNone[LocalTime] = None  # local time in the clinic's zone; blank: noon (or now if ahead)
    sodium_mmol_l: BlankToNone[Number] = None
    platelets_10e9_l: BlankToNone[Number] = None
    anc_10e9_l: BlankToNone[Number] = None
    hemoglobin_g_dl: BlankToNone[Number] = None
    key: Text = ""  # generated when the form is shown: a double submit stores one result


def enter_labs(ctx: AppContext, staff: Staff, patient_id: int, entry: LabEntry, *, ip: str | None) -> EntryResult:
    """Store one set of results with its collection date (at local noon, or now if that is still ahead)."""
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        patient = patient_for_staff(session, patient_id, staff.clinic_id)
        zone = ZoneInfo(clinic_zone(session, patient.clinic_id, ctx.settings.default_timezone))
    day = entry.collected_on
    today = now.astimezone(zone).date()
    if day > today:
        raise FieldError("collected_on", "The collection date is in the future.")
    if day < today - MAX_LAB_AGE:
        raise FieldError("collected_on", f"The collection date is more than {MAX_LAB_AGE.days} days ago.")
    if entry.collected_time is not None:
        collected_at = datetime.combine(day, entry.collected_time, zone).astimezone(UTC)
        if collected_at > now:
            raise FieldError("collected_time", "The collection time is in the future.")
    else:
        collected_at = min(datetime.combine(day, time(12, 0), zone), now)
    values = LabValues(**{name: getattr(entry, name) for name in LAB_FIELDS})
    result = record_lab(ctx, patient.id, key=entry.key, collected_at=collected_at, values=values, staff_id=staff.id)
    if not result.replayed:
        # record_lab owns its transaction; the audit row follows it at once.
        with session_scope(ctx.engine) as session:
            summary = ", ".join(
                f"{name}={getattr(values, name):g}" for name in LAB_FIELDS if getattr(values, name) is not None
            )
            audit(
                session,
                staff_id=staff.id,
                action="lab.create",
                patient_id=patient.id,
                now=now,
                ip=ip,
                detail=f"collected {day.isoformat()}: {summary}",
            )
    return result


def clinic_zone(session: Session, clinic_id: int, default: str) -> str:
    """The clinic's time zone (lab times are entered in it)."""
    clinic = session.get(Clinic, clinic_id)
    return clinic.timezone if clinic and clinic.timezone else default


# The lab each lab rule reads, with its unit, for saying a finding in words.
# clinical-reference: R-NA, R-PLT-75, R-PLT-75B, R-PLT-25, R-ANC-1, R-ANC-05, R-HGB-8
RULE_LAB = {
    "R-NA": ("sodium_mmol_l", "Sodium", "mmol/L"),
    "R-PLT-75": ("platelets_10e9_l", "Platelets", "×10⁹/L"),
    "R-PLT-75B": ("platelets_10e9_l", "Platelets", "×10⁹/L"),
    "R-PLT-25": ("platelets_10e9_l", "Platelets", "×10⁹/L"),
    "R-ANC-1": ("anc_10e9_l", "ANC", "×10⁹/L"),
    "R-ANC-05": ("anc_10e9_l", "ANC", "×10⁹/L"),
    "R-HGB-8": ("hemoglobin_g_dl", "Hemoglobin", "g/dL"),
}
ACTION_SHORT = {
    "interrupt": "interrupt",
    "reduce": "reduce",
    "discontinue": "discontinue",
    "continue_supportive": "continue with supportive care",
    "evaluate": "review",
}


def finding_words(entry: LabEntry, finding: Finding) -> str:
    """A lab finding in words, e.g. 'Sodium 129 mmol/L: interrupt (R-NA)'."""
    action = ACTION_SHORT.get(finding.action.value, finding.action.value)
    lab = RULE_LAB.get(finding.rule)
    if lab is None or getattr(entry, lab[0]) is None:
        return f"{finding.facts}: {action} ({finding.rule})"
    name, label, unit = lab
    return f"{label} {getattr(entry, name):g} {unit}: {action} ({finding.rule})"


def lab_history(session: Session, patient_id: int, since: datetime) -> list[LabResult]:
    """The patient's current lab results since `since`, oldest first (replaced ones left out)."""
    return list(
        session.exec(
            select(LabResult)
            .where(
                LabResult.patient_id == patient_id, LabResult.superseded_at.is_(None), LabResult.collected_at >= since
            )
            .order_by(LabResult.collected_at)
        ).all()
    )
