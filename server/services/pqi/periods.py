"""The quality report's periods: the chosen dates, split into calendar months, in the clinic's own time zone.

Every boundary is a local midnight of the clinic's zone turned into a UTC instant (`resolve_local`), so a month that
contains a daylight-saving change still starts and ends at midnight: no entry moves to the day next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ...clinical.schedule import resolve_local
from ...errors import FieldError, FieldErrors

MAX_PERIOD_DAYS = 731  # two years: the report is read month by month; longer asks too much of one page
DEFAULT_MONTHS = 6
PERIOD_KEY = "period"
# Dates a report can be about; beyond them the date arithmetic (a month either side, local midnights) overflows.
FIRST_YEAR, LAST_YEAR = 2000, 2099


@dataclass(frozen=True)
class Bucket:
    """One column of the report: a calendar month (clipped to the period) or the whole period."""

    key: str  # "2026-03" or "period"
    label: str  # "Mar 2026" or "1 Jan – 30 Jun 2026"
    first: date  # local dates, inclusive
    last: date
    start_utc: datetime  # local midnight at the start of `first`
    end_utc: datetime  # local midnight after `last`

    def holds_day(self, day: date) -> bool:
        """Whether a local date falls in this bucket."""
        return self.first <= day <= self.last

    def holds(self, instant: datetime) -> bool:
        """Whether an instant falls in this bucket."""
        return self.start_utc <= instant < self.end_utc


@dataclass(frozen=True)
class Period:
    """The chosen dates (inclusive) in the clinic's zone, its months, and the whole period last."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def months(self) -> list[Bucket]:
        """The calendar months the period touches, each clipped to the period."""
        buckets = []
        month_start = self.first.replace(day=1)
        while month_start <= self.last:
            next_month = (month_start + timedelta(days=32)).replace(day=1)
            first, last = max(month_start, self.first), min(next_month - timedelta(days=1), self.last)
            buckets.append(self._bucket(month_start.strftime("%Y-%m"), month_start.strftime("%b %Y"), first, last))
            month_start = next_month
        return buckets

    @property
    def whole(self) -> Bucket:
        """The whole period as one bucket."""
        return self._bucket(PERIOD_KEY, f"{self.first:%d %b %Y} – {self.last:%d %b %Y}", self.first, self.last)

    @property
    def buckets(self) -> list[Bucket]:
        """Every month, then the whole period."""
        return [*self.months, self.whole]

    def bucket_keys(self, day: date) -> tuple[str, ...]:
        """The keys of the buckets holding a local date, its month's and the whole period's (none outside it): one
        lookup per item instead of a test against every bucket."""
        if not self.first <= day <= self.last:
            return ()
        return (f"{day.year:04d}-{day.month:02d}", PERIOD_KEY)

    def local_day(self, instant: datetime) -> date:
        """The clinic-zone date of an instant."""
        return instant.astimezone(self.zone).date()

    def _bucket(self, key: str, label: str, first: date, last: date) -> Bucket:
        return Bucket(
            key, label, first, last, midnight(first, self.zone), midnight(last + timedelta(days=1), self.zone)
        )


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of local midnight at the start of `day`."""
    return resolve_local(day, time(0, 0), zone).astimezone(UTC)


def parse_period(raw_from: str | None, raw_to: str | None, zone: ZoneInfo, now: datetime) -> Period:
    """The period asked for in the query string; blank: the last six months to today. FieldErrors name the field."""
    today = now.astimezone(zone).date()
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name, raw in (("from", raw_from), ("to", raw_to)):
        dates[name] = None
        if raw is None or not raw.strip():
            continue
        try:
            parsed = date.fromisoformat(raw.strip())
        except ValueError:
            errors[name] = f"“{raw[:40]}” is not a date: write it as YYYY-MM-DD, e.g. {today:%Y-%m-%d}."
            continue
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            errors[name] = f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}, e.g. {today:%Y-%m-%d}."
        dates[name] = parsed
    if errors:
        raise FieldErrors(errors)
    last = dates["to"] or today
    first = dates["from"] or (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    if dates["from"] is None:
        for _ in range(DEFAULT_MONTHS - 2):
            first = (first - timedelta(days=1)).replace(day=1)
    if first > last:
        raise FieldError("from", "The start date must be on or before the end date.")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise FieldError("to", f"Choose a period of at most {MAX_PERIOD_DAYS} days (two years).")
    return Period(first, last, zone)
