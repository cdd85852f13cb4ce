"""What the patient is told about their reports once they reach the care team (architecture flow 6).

Two read models, nothing written here:

* the wait state: while an open alert whose advice told the patient not to take the next dose (action interrupt or
  discontinue, R-LADDER included, at tier same_day or urgent: the "hold until they call" advice of
  services/entries.py) has not been acted on by a new plan version, Today, the week strip, /api/today and the dose
  reminders say "Wait for your care team before your next selinexor dose" instead of showing the next dose
  (clinical-reference section 3, "The patient's screens never contradict the advice");
* the status of each report on History: sent, seen by the team at <time>, acted on.

The alert an entry fed is found by its alert events: the entries service writes them in the entry's transaction,
a moment after the entry's `recorded_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from ..clinical.advice import Advice, CareTeamContact, wait_for_team_advice
from ..models import Alert, AlertEvent, TreatmentPlan

# clinical-reference: section 3 (the next dose waits for the care team when a finding at these tiers stops it)
HOLDING_ACTIONS = ("interrupt", "discontinue")
HOLDING_TIERS = ("same_day", "urgent")


def awaiting_team_clause(alert: sa.FromClause, plan: sa.FromClause) -> sa.ColumnElement[bool]:
    """SQL: the alert told the patient to wait for the team and no plan version was made since it opened."""
    acted = sa.exists().where(plan.c.patient_id == alert.c.patient_id, plan.c.created_at > alert.c.opened_at)
    return sa.and_(
        alert.c.status != "resolved", alert.c.action.in_(HOLDING_ACTIONS), alert.c.tier.in_(HOLDING_TIERS), ~acted
    )


def awaiting_team_alert(session: Session, patient_id: int) -> Alert | None:
    """The oldest alert that still tells this patient to wait for the care team before the next dose, if any."""
    alerts, plans = Alert.__table__, TreatmentPlan.__table__
    return session.exec(
        select(Alert)
        .where(Alert.patient_id == patient_id, awaiting_team_clause(alerts, plans))
        .order_by(Alert.opened_at)
    ).first()


@dataclass(frozen=True)
class WaitForTeam:
    """The wait state shown on Today (and its reasons, for /api/today)."""

    alert_id: int
    reported_at: datetime  # when the care team was told (the alert opened)
    seen_at: datetime | None  # when a staff member acknowledged it
    contact: CareTeamContact  # the clinic's number, and whether it is open now (what to do if nobody calls)

    @property
    def advice(self) -> tuple[Advice, ...]:
        """What to do if nobody calls, honest about clinic hours (render with server.i18n.render_advice)."""
        return wait_for_team_advice(self.contact)


def wait_for_team(session: Session, patient_id: int, contact: CareTeamContact) -> WaitForTeam | None:
    """The wait state of the patient now, or None."""
    alert = awaiting_team_alert(session, patient_id)
    if alert is None:
        return None
    return WaitForTeam(alert_id=alert.id, reported_at=alert.opened_at, seen_at=alert.acknowledged_at, contact=contact)


@dataclass(frozen=True)
class ReportStatus:
    """Where one report stands with the care team: sent | seen | acted (acted: a plan change or a resolution)."""

    state: str
    seen_at: datetime | None = None
    acted_at: datetime | None = None


SENT = ReportStatus("sent")
# The entries service stamps the row and the alert events of one entry within the same transaction, a moment apart.
EVALUATED_WITHIN = timedelta(seconds=2)


def report_statuses(session: Session, patient_id: int, recorded: list[datetime]) -> dict[datetime, ReportStatus]:
    """The status of the reports recorded at these instants (reports that opened no alert are `sent`)."""
    if not recorded:
        return {}
    rows = session.exec(
        select(AlertEvent.at, Alert)
        .join(Alert, Alert.id == AlertEvent.alert_id)
        .where(
            Alert.patient_id == patient_id,
            AlertEvent.kind.in_(("created", "updated")),
            AlertEvent.at >= min(recorded),
            AlertEvent.at <= max(recorded) + EVALUATED_WITHIN,
        )
        .order_by(AlertEvent.at)
    ).all()
    alert_of: dict[datetime, Alert] = {}
    for at in recorded:
        match = next((alert for event_at, alert in rows if at <= event_at <= at + EVALUATED_WITHIN), None)
        if match is not None:
            alert_of[at] = match
    first_plan_change: dict[int, datetime | None] = {}
    statuses: dict[datetime, ReportStatus] = {}
    for at in recorded:
        alert = alert_of.get(at)
        if alert is None:
            statuses[at] = SENT
            continue
        if alert.id not in first_plan_change:
            first_plan_change[alert.id] = session.exec(
                select(sa.func.min(TreatmentPlan.created_at)).where(
                    TreatmentPlan.patient_id == patient_id, TreatmentPlan.created_at > alert.opened_at
                )
            ).first()
        acted = first_plan_change[alert.id] or alert.resolved_at
        seen = alert.acknowledged_at or alert.resolved_at
        if acted is not None:
            statuses[at] = ReportStatus("acted", seen_at=seen, acted_at=acted)
        elif seen is not None:
            statuses[at] = ReportStatus("seen", seen_at=seen)
        else:
            statuses[at] = SENT
    return statuses
