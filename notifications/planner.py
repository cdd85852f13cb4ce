"""The planner job (architecture flow 2): every few minutes, replan every patient's next 14 days of reminders.

Plan changes made by staff replan at once, inside their own transaction (server.services.plans calls
`replan_patient`); this job catches everything else: time passing (the 14-day window moves), a new time zone or
quiet hours, and patients enrolled by other code.
"""

from __future__ import annotations

import logging

from server.context import AppContext
from server.services.outbox.planning import PlanningOptions, plan_all_patients

log = logging.getLogger(__name__)


def run_planner(ctx: AppContext) -> int:
    """Plan every patient who may need reminders, as of the context's clock; returns how many were planned."""
    planned = plan_all_patients(ctx, ctx.clock.now(), PlanningOptions.from_settings(ctx.settings))
    log.debug("planner: %d patients planned", planned)
    return planned
