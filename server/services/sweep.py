"""Rules that time alone can trigger: the worker re-evaluates every active patient periodically.

Entries trigger most rules in flow 1. But a patient who goes quiet sends no entry: two missed doses (R-MISS-2),
no weight for a week (R-NO-WT), no message delivered (R-NO-DELIVERY), and a hold whose resume criterion is now
met (R-RESUME) must still reach a person; and an open interrupt alert must become urgent once the next dose is
less than 12 hours away (clinical-reference §3), even if nothing new was entered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from ..clinical.rules import evaluate
from ..context import AppContext
from ..db import session_scope
from ..models import Alert, Patient
from .alerts import most_severe_per_family, open_alert_for_family, publish_alert_changes, upsert_alert
from .patient_state import build_state, current_plan

# clinical-reference §4c: the rules no entry can trigger.
TIME_TRIGGERED_RULES = frozenset({"R-MISS-2", "R-NO-WT", "R-NO-DELIVERY", "R-RESUME", "R-PLAN-UNSEEN"})
# After staff resolve an alert, the sweep waits this long before opening another of the same family for a
# time-triggered rule (§4d: an alert closes only when staff resolve it; the sweep must not reopen it at once).
# Entries still open new alerts at any time.
REOPEN_AFTER = timedelta(days=7)


def sweep_patient_rules(ctx: AppContext, now: datetime) -> int:
    """Evaluate every patient on treatment; open time-triggered alerts and update open ones. Returns changes."""
    with session_scope(ctx.engine) as session:
        patient_ids = session.exec(select(Patient.id)).all()
    changes = []
    for patient_id in patient_ids:
        with session_scope(ctx.engine) as session:
            patient = session.get(Patient, patient_id)
            if current_plan(session, patient_id).status == "discontinued":
                continue
            eligible = [
                f for f in evaluate(build_state(session, patient, now), now)
                if open_alert_for_family(session, patient_id, f.family) is not None
                or (f.rule in TIME_TRIGGERED_RULES and not _recently_resolved(session, patient_id, f.family, now))
            ]
            for finding in most_severe_per_family(eligible):
                change = upsert_alert(session, patient, finding, now, ctx.settings.escalation_after)
                if change is not None:
                    changes.append(change)
    publish_alert_changes(ctx, changes)
    return len(changes)


def _recently_resolved(session, patient_id: int, family: str, now: datetime) -> bool:
    return session.exec(
        select(Alert.id).where(Alert.patient_id == patient_id, Alert.family == family, Alert.status == "resolved",
                               Alert.resolved_at >= now - REOPEN_AFTER)
    ).first() is not None
