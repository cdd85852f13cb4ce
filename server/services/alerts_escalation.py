"""Re-escalation of alerts nobody has acknowledged (clinical-reference §3), run by the worker every minute.

- urgent, still open, next_page_at reached: page the next person in the on-call chain (alerts.page_next), which
  also sets the next re-page 15 minutes later;
- same_day, still open, next_page_at reached: page only within clinic hours (CLINIC_HOURS on CLINIC_DAYS, in the
  clinic's time zone); outside them, move next_page_at to the next opening ("next business morning page");
  after a same-day page the next one is the next business morning too;
- acknowledged and resolved alerts are never paged again (only status "open" is selected); routine alerts never page.
Every page is recorded on the alert by page_next (an AlertEvent and an outbox row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from ..clinical.rules import Tier
from ..clinical.schedule import WEEKDAYS, resolve_local
from ..context import AppContext
from ..db import session_scope
from ..models import Alert, AlertEvent, Clinic, Patient
from .alerts import page_next


@dataclass(frozen=True)
class ClinicHours:
    """Opening hours on business days, in one time zone."""

    opens: time
    closes: time
    days: frozenset[int]  # date.weekday() numbers

    @classmethod
    def from_settings(cls, settings) -> ClinicHours:
        opens, closes = (time.fromisoformat(part) for part in settings.clinic_hours.split("-"))
        if closes <= opens:
            raise ValueError("CLINIC_HOURS must close after it opens, e.g. 08:00-17:00")
        names = [d.strip().lower()[:3] for d in settings.clinic_days.split(",") if d.strip()]
        if not names or any(n not in WEEKDAYS for n in names):
            raise ValueError("CLINIC_DAYS must list weekdays such as mon,tue,wed,thu,fri")
        return cls(opens, closes, frozenset(WEEKDAYS.index(n) for n in names))

    def is_open(self, now: datetime, zone: ZoneInfo) -> bool:
        local = now.astimezone(zone)
        return local.weekday() in self.days and self.opens <= local.time().replace(tzinfo=None) < self.closes

    def next_opening(self, now: datetime, zone: ZoneInfo, *, after_today: bool = False) -> datetime:
        """The next business-day opening strictly after `now` (or after today, for the next business morning)."""
        day = now.astimezone(zone).date() + timedelta(days=1 if after_today else 0)
        for _ in range(8):
            if day.weekday() in self.days:
                opening = resolve_local(day, self.opens, zone).astimezone(UTC)
                if opening > now:
                    return opening
            day += timedelta(days=1)
        raise ValueError("no business day in CLINIC_DAYS")


def escalate_due_alerts(ctx: AppContext, now: datetime) -> int:
    """Page for every open urgent or same-day alert whose next page is due; returns how many pages were written."""
    hours = ClinicHours.from_settings(ctx.settings)
    pages = 0
    paged: list[tuple[int, int, str]] = []  # (alert, patient, tier) of each page, told to the live inboxes
    with session_scope(ctx.engine) as session:
        # SKIP LOCKED: two workers never page the same alert twice over; SQLite has a single writer anyway.
        due = session.exec(
            select(Alert)
            .where(
                Alert.status == "open",
                Alert.next_page_at.is_not(None),
                Alert.next_page_at <= now,
                Alert.tier.in_((Tier.URGENT.value, Tier.SAME_DAY.value)),
            )
            .order_by(Alert.next_page_at)
            .with_for_update(skip_locked=True)
        ).all()
        for alert in due:
            patient = session.get(Patient, alert.patient_id)
            clinic = session.get(Clinic, patient.clinic_id)
            zone = ZoneInfo(clinic.timezone if clinic else ctx.settings.default_timezone)
            if alert.tier == Tier.URGENT.value:
                if page_next(session, patient, alert, now, ctx.settings.escalation_after) is not None:
                    pages += 1
                    paged.append((alert.id, patient.id, alert.tier))
            elif hours.is_open(now, zone):
                if page_next(session, patient, alert, now, ctx.settings.escalation_after) is not None:
                    pages += 1
                    paged.append((alert.id, patient.id, alert.tier))
                # clinical-reference §3: a same-day alert is paged again the next business morning, not every 15 min.
                alert.next_page_at = hours.next_opening(now, zone, after_today=True)
                session.add(alert)
            else:
                alert.next_page_at = hours.next_opening(now, zone)
                session.add(alert)
                session.add(
                    AlertEvent(
                        alert_id=alert.id,
                        kind="note",
                        at=now,
                        detail="outside clinic hours: page deferred to "
                        f"{alert.next_page_at.astimezone(zone):%a %d %b %H:%M}",
                    )
                )
    # After the commit, like every other change of an alert: open inboxes show "paged ×n" and the next page time.
    for alert_id, patient_id, tier in paged:
        ctx.publish("inbox", {"alert_id": alert_id, "patient_id": patient_id, "kind": "paged", "tier": tier})
    return pages
