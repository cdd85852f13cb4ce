"""Rules that time alone can trigger: the worker re-evaluates every active patient periodically.

Entries trigger most rules in flow 1. But a patient who goes quiet sends no entry: two missed doses (R-MISS-2),
no weight for a week (R-NO-WT), no message delivered (R-NO-DELIVERY), and a hold whose resume criterion is now
met (R-RESUME) must still reach a person; and an open interrupt alert must become urgent once the next dose is
less than 12 hours away (clinical-reference §3), even if nothing new was entered. A start-of-therapy checklist still
incomplete 24 hours before the first dose (R-CHECKLIST, issue 14) is time-triggered too.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..clinical.rules import Finding, LabEntry, Tier, evaluate
from ..context import AppContext
from ..db import session_scope
from ..models import Alert, Patient, TreatmentPlan
from .alerts import (
    ALERT_TIERS,
    AlertChange,
    most_severe_per_family,
    open_alerts_of,
    open_alerts_together,
    publish_alert_changes,
    upsert_alert,
)
from .patient_state import build_states
from .pqi.checklist import LabSeen, checklist_findings

# clinical-reference §4c: the rules no entry can trigger.
TIME_TRIGGERED_RULES = frozenset({"R-MISS-2", "R-NO-WT", "R-NO-DELIVERY", "R-RESUME", "R-PLAN-UNSEEN", "R-CHECKLIST"})
# After staff resolve an alert, the sweep waits this long before opening another of the same family for a
# time-triggered rule (§4d: an alert closes only when staff resolve it; the sweep must not reopen it at once).
# Entries still open new alerts at any time.
REOPEN_AFTER = timedelta(days=7)


# Patients read per batch (six set-based queries each, outside any write lock), and patients with something to
# write per write transaction. On SQLite a write transaction holds the database's one write lock, so it stays a few
# milliseconds long (a handful of alerts) and entries from patients never wait behind a whole sweep. PostgreSQL locks
# only the rows written, so a transaction there takes more patients: a first sweep that opens thousands of alerts
# (after an outage, or at go-live) commits, and waits for the log to reach the disk, once per batch, not per two.
READ_BATCH = 500
WRITE_BATCH = {"sqlite": 2, "postgresql": 25}


def sweep_patient_rules(ctx: AppContext, now: datetime) -> int:
    """Evaluate every patient on treatment; open time-triggered alerts and update open ones. Returns changes.

    Reads are set-based, a batch of patients at a time, in a read-only session; only the patients with a finding
    that may change an alert get a (short) write transaction, which re-reads their open alerts.
    """
    with Session(ctx.engine) as session:
        patient_ids = list(session.exec(select(Patient.id).order_by(Patient.id)).all())
    changes = []
    write_batch = WRITE_BATCH.get(ctx.engine.dialect.name, 2)
    for first in range(0, len(patient_ids), READ_BATCH):
        to_write = _candidates(ctx, patient_ids[first : first + READ_BATCH], now)
        for start in range(0, len(to_write), write_batch):
            changes += _write(ctx, to_write[start : start + write_batch], now)
    publish_alert_changes(ctx, changes)
    return len(changes)


def _write(ctx: AppContext, batch: list[tuple[Any, list[Finding]]], now: datetime) -> list[AlertChange]:
    """One write transaction for a batch of patients' findings. Their open alerts are read again inside it (the
    candidates' read was outside), once for the batch; the alerts to open are inserted together, and if another
    request opened one of those families meanwhile, one by one instead (upsert_alert settles each race)."""
    repage_after = ctx.settings.escalation_after
    with session_scope(ctx.engine) as session:
        open_now = open_alerts_of(session, [patient.id for patient, _ in batch])
        new: list[tuple[Any, Finding]] = []  # families with no open alert: opened together
        known: list[tuple[Any, Finding]] = []  # the rest: updated (or found unchanged) one by one
        for patient, findings in batch:
            for finding in findings:
                opens = Tier(finding.tier).value in ALERT_TIERS and finding.family not in open_now[patient.id]
                (new if opens else known).append((patient, finding))
        try:
            with session.begin_nested():
                changes: list[AlertChange | None] = list(open_alerts_together(session, new, now, repage_after))
        except IntegrityError:
            changes = [upsert_alert(session, patient, finding, now, repage_after) for patient, finding in new]
        changes += [
            upsert_alert(session, patient, finding, now, repage_after, open_now[patient.id])
            for patient, finding in known
        ]
    return [change for change in changes if change is not None]


def _candidates(ctx: AppContext, patient_ids: list[int], now: datetime) -> list[tuple[Any, list[Finding]]]:
    """For a batch of patients, the findings that may open or change an alert (read in one short read session)."""
    # Plain rows (attribute access like the models), not ORM instances: building a SQLModel instance costs more
    # than evaluating the patient's rules, and nothing read here is written back (upsert_alert re-reads alerts).
    p, t, a = Patient.__table__, TreatmentPlan.__table__, Alert.__table__
    with Session(ctx.engine) as session:
        conn = session.connection()
        patients: list[Any] = list(conn.execute(sa.select(p).where(p.c.id.in_(patient_ids)).order_by(p.c.id)).all())
        plans: dict[int, list[Any]] = defaultdict(list)
        for plan in conn.execute(
            sa.select(t).where(t.c.patient_id.in_(patient_ids)).order_by(t.c.patient_id, t.c.version.desc())
        ).all():
            plans[plan.patient_id].append(plan)
        patients = [p for p in patients if plans[p.id] and plans[p.id][0].status != "discontinued"]
        states = build_states(session, patients, now, plans)
        open_alerts: dict[tuple[int, str], Any] = {}
        for alert in conn.execute(
            sa.select(a).where(a.c.patient_id.in_(patient_ids), a.c.status != "resolved").order_by(a.c.id)
        ).all():
            open_alerts.setdefault((alert.patient_id, alert.family), alert)
        # clinical-reference: R-CHECKLIST (the checklist's baseline labs come from the entries already read)
        checklist = checklist_findings(session, [(p, plans[p.id][0]) for p in patients], _labs_seen(states), now)
        recently_resolved = {
            tuple(row)
            for row in conn.execute(
                sa.select(a.c.patient_id, a.c.family).where(
                    a.c.patient_id.in_(patient_ids), a.c.status == "resolved", a.c.resolved_at >= now - REOPEN_AFTER
                )
            ).all()
        }
    candidates = []
    for patient in patients:
        found = evaluate(states[patient.id], now)
        if patient.id in checklist:
            found.append(checklist[patient.id])
        eligible = [
            f
            for f in found
            if (patient.id, f.family) in open_alerts
            or (f.rule in TIME_TRIGGERED_RULES and (patient.id, f.family) not in recently_resolved)
        ]
        findings = [
            f for f in most_severe_per_family(eligible) if not _unchanged(open_alerts.get((patient.id, f.family)), f)
        ]
        if findings:
            candidates.append((patient, findings))
    return candidates


def _labs_seen(states: dict[int, Any]) -> dict[int, list[LabSeen]]:
    """The lab results of the rules' inputs, as the checklist's baseline items read them."""
    fields = ("sodium_mmol_l", "platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl")
    return {
        pid: [
            LabSeen(e.at, None, frozenset(n for n in fields if getattr(e, n) is not None))
            for e in state.entries
            if isinstance(e, LabEntry)
        ]
        for pid, state in states.items()
    }


def _unchanged(alert: Any, finding: Finding) -> bool:
    """True when upsert_alert would surely change nothing (the same finding again, or a milder one already noted
    in the alert's facts); anything else goes to a write transaction, where upsert_alert decides for itself."""
    if alert is None:
        return Tier(finding.tier).value not in ALERT_TIERS
    new_rank, old_rank = Tier(finding.tier).rank, Tier(alert.tier).rank
    if new_rank < old_rank:
        return finding.facts in alert.facts
    return alert.rule == finding.rule and alert.facts == finding.facts and new_rank == old_rank
