"""Alert handling in the quality report: how long from the concerning entry (the alert opening) to acknowledgement
and to a plan action, against each tier's promise, and how many alerts reached the second person on call.

Promises (clinical-reference section 3): urgent, acknowledged before the next person is paged (ESCALATION_MINUTES,
15 by default); same_day,
by the close of the day it opened in clinic hours (an alert opened outside them: by the close of the next business
day, when it is paged); routine, reviewed within one business day (by the close of the next business day).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from ...clinical.schedule import resolve_local
from ..alerts_escalation import ClinicHours
from .figures import Count, Row, Share, Table, Times
from .periods import Period
from .quality_data import AlertFacts

TIERS = ("urgent", "same_day", "routine")
TIER_LABELS = {"urgent": "urgent", "same_day": "same day", "routine": "routine"}
SECOND_PERSON_PAGE = 2  # page_level 2: the page went past the first person on call


def promised_by(tier: str, opened_at: datetime, hours: ClinicHours, period: Period) -> datetime | None:
    """The instant by which a same-day or routine alert should be acknowledged (urgent: see _Deadlines)."""
    zone = period.zone
    if tier == "same_day" and hours.is_open(opened_at, zone):
        return _closing(opened_at, hours, period)
    if tier in ("same_day", "routine"):
        opening = hours.next_opening(opened_at, zone, after_today=tier == "routine" and hours.is_open(opened_at, zone))
        return _closing(opening, hours, period)
    return None


def _closing(instant: datetime, hours: ClinicHours, period: Period) -> datetime:
    return resolve_local(period.local_day(instant), hours.closes, period.zone)


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def alert_table(
    alerts: list[AlertFacts], period: Period, hours: ClinicHours, now: datetime, urgent_promise: timedelta
) -> Table:
    """Rows per month and tier (then the whole period by tier); an alert still inside its promise is not judged."""
    table = Table(
        "alerts",
        "Alert handling",
        "By the month the alert opened and the tier it has now. From the concerning entry that gave the alert its "
        "tier (its opening, or the entry that raised it to this tier) to acknowledgement and to the first plan "
        "action taken from the alert since, in minutes; an acknowledgement before the raise does not count. The "
        f"promise, from that moment: urgent {urgent_promise.total_seconds() / 60:.0f} min, same day within clinic "
        "hours, routine 1 business day. "
        "Escalated: paged past the first person on call.",
        [
            ("opened", "Alerts"),
            ("ack_median", "To acknowledgement (median)"),
            ("ack_p90", "To acknowledgement (90th)"),
            ("promise", "Acknowledged within the promise"),
            ("action_median", "To plan action (median)"),
            ("action_p90", "To plan action (90th)"),
            ("escalated", "Escalated to the second person"),
        ],
    )
    # Each alert judged once, then to its month's and the whole period's rows (a year of a clinic is thousands).
    deadlines = _Deadlines(hours, period, urgent_promise)
    grouped: dict[tuple[str, str], list[tuple[int, int, int | None, float | None, float | None]]] = defaultdict(list)
    for alert in alerts:
        since = alert.tier_since  # a raised alert is judged from when it reached its tier
        deadline = deadlines.of(alert.tier, since)
        ack = alert.acknowledged_at
        kept: int | None = None  # within the promise (1) or not (0); None: not judged yet
        if deadline is not None and (ack is not None or deadline <= now):
            kept = int(ack is not None and ack <= deadline)
        judged = (
            alert.patient_id,
            int(alert.page_level >= SECOND_PERSON_PAGE),
            kept,
            round(_minutes(since, ack), 1) if ack is not None else None,
            round(_minutes(since, alert.first_action_at), 1) if alert.first_action_at is not None else None,
        )
        for key in period.bucket_keys(period.local_day(alert.opened_at)):
            grouped[(key, alert.tier)].append(judged)
    for bucket in period.buckets:
        for tier in TIERS:
            # Per patient: alerts, escalated, judged and kept, and the durations (plain dicts and tuples, then each
            # figure built once: a year of a clinic is thousands of alerts).
            opened_n: dict[int, int] = {}
            escalated_n: dict[int, int] = {}
            judged_n: dict[int, tuple[int, int]] = {}
            to_acks: dict[int, tuple[float, ...]] = {}
            to_actions: dict[int, tuple[float, ...]] = {}
            for pid, was_escalated, kept, to_ack, to_action in grouped[(bucket.key, tier)]:
                opened_n[pid] = opened_n.get(pid, 0) + 1
                escalated_n[pid] = escalated_n.get(pid, 0) + was_escalated
                if kept is not None:
                    num, den = judged_n.get(pid, (0, 0))
                    judged_n[pid] = (num + kept, den + 1)
                if to_ack is not None:
                    to_acks[pid] = (*to_acks.get(pid, ()), to_ack)
                if to_action is not None:
                    to_actions[pid] = (*to_actions.get(pid, ()), to_action)
            escalated = Share("alerts", {pid: (n, opened_n[pid]) for pid, n in escalated_n.items()})
            # The 90th percentiles read the same durations as the medians.
            table.rows.append(
                Row(
                    f"{bucket.key}:{tier}",
                    f"{bucket.label} · {TIER_LABELS[tier]}",
                    {
                        "opened": Count("alerts", opened_n),
                        "ack_median": Times("min", to_acks),
                        "ack_p90": Times("min", to_acks, statistic="p90"),
                        "promise": Share("alerts", judged_n),
                        "action_median": Times("min", to_actions),
                        "action_p90": Times("min", to_actions, statistic="p90"),
                        "escalated": escalated,
                    },
                )
            )
    return table


class _Deadlines:
    """promised_by, worked out once per tier, local day and part of the day (before opening, open, after closing):
    every instant of one such part has the same deadline, except urgent's (the re-page interval from the instant
    itself: the next person is paged then)."""

    def __init__(self, hours: ClinicHours, period: Period, urgent_promise: timedelta) -> None:
        self.hours, self.period, self.urgent_promise = hours, period, urgent_promise
        self.known: dict[tuple[str, date, int], datetime | None] = {}

    def of(self, tier: str, since: datetime) -> datetime | None:
        """The instant by which an alert of `tier` reached at `since` should be acknowledged."""
        if tier == "urgent":
            return since + self.urgent_promise
        local = since.astimezone(self.period.zone)
        clock = local.time().replace(tzinfo=None)
        part = 0 if clock < self.hours.opens else 1 if clock < self.hours.closes else 2
        key = (tier, local.date(), part)
        if key not in self.known:
            self.known[key] = promised_by(tier, since, self.hours, self.period)
        return self.known[key]
