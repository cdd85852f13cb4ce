"""The quality report's figures: a percentage or a time, built from each patient's share, so that every figure can
list the patients behind it with their own numbers. An empty figure is "no data", never 0%."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from operator import itemgetter

NO_DATA = "no data"


@dataclass
class Share:
    """A percentage: per patient (numerator, denominator), summed."""

    unit: str = "doses"  # what is counted: doses, weeks, months, patients, alerts, reminders
    # patient -> (numerator, denominator). Tuples of numbers, not lists: a year of a clinic is hundreds of thousands
    # of them, and the garbage collector stops tracking tuples of numbers but would walk every list again and again.
    per_patient: dict[int, tuple[int, int]] = field(default_factory=dict)
    # The sums, worked out once when first read (a page reads each figure several times; a figure is thousands of
    # patients): every change goes through add() or set(), which forget them.
    _sums: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    def add(self, patient_id: int, num: int, den: int = 1) -> None:
        """Count `num` of `den` for a patient."""
        old_num, old_den = self.per_patient.get(patient_id, (0, 0))
        self.per_patient[patient_id] = (old_num + num, old_den + den)
        self._sums = None

    def set(self, patient_id: int, num: int, den: int) -> None:
        """A patient's share, `num` of `den` (each patient once per figure)."""
        self.per_patient[patient_id] = (num, den)
        self._sums = None

    @property
    def num(self) -> int:
        return self._totals()[0]

    @property
    def den(self) -> int:
        return self._totals()[1]

    def _totals(self) -> tuple[int, int]:
        if self._sums is None:
            shares = self.per_patient.values()
            self._sums = (sum(map(itemgetter(0), shares)), sum(map(itemgetter(1), shares)))
        return self._sums

    @property
    def value(self) -> float | None:
        """The percentage rounded to one decimal, None when nothing was counted."""
        return round(100 * self.num / self.den, 1) if self.den else None

    @property
    def text(self) -> str:
        return f"{self.value:.1f}% ({self.num}/{self.den})" if self.value is not None else NO_DATA

    def patient_text(self, patient_id: int) -> str:
        num, den = self.per_patient[patient_id]
        return f"{num}/{den} {self.unit}"


@dataclass
class Times:
    """Durations (minutes or days), per patient: the median and the 90th percentile of all of them."""

    unit: str = "min"  # min | days
    per_patient: dict[int, tuple[float, ...]] = field(default_factory=dict)  # tuples: see Share.per_patient
    statistic: str = "median"  # median | p90
    _sorted: list[float] | None = field(default=None, repr=False, compare=False)  # see Share._sums

    def add(self, patient_id: int, value: float) -> None:
        """One more duration for a patient."""
        self.per_patient[patient_id] = (*self.per_patient.get(patient_id, ()), value)
        self._sorted = None

    def set(self, patient_id: int, *values: float) -> None:
        """A patient's durations (each patient once per figure)."""
        self.per_patient[patient_id] = values
        self._sorted = None

    @property
    def values(self) -> list[float]:
        if self._sorted is None:
            self._sorted = sorted(v for values in self.per_patient.values() for v in values)
        return self._sorted

    @property
    def value(self) -> float | None:
        """The statistic (nearest-rank 90th percentile), rounded to one decimal; None when there is nothing."""
        values = self.values
        if not values:
            return None
        if self.statistic == "p90":
            return round(values[math.ceil(0.9 * len(values)) - 1], 1)
        return round(statistics.median(values), 1)

    @property
    def text(self) -> str:
        return f"{self.value:g} {self.unit}" if self.value is not None else NO_DATA

    def patient_text(self, patient_id: int) -> str:
        return ", ".join(f"{v:g} {self.unit}" for v in self.per_patient[patient_id])


@dataclass
class Count:
    """A plain count (alerts opened, new starts), per patient."""

    unit: str = "alerts"
    per_patient: dict[int, int] = field(default_factory=dict)

    _sum: int | None = field(default=None, repr=False, compare=False)  # see Share._sums

    def add(self, patient_id: int, n: int = 1) -> None:
        self.per_patient[patient_id] = self.per_patient.get(patient_id, 0) + n
        self._sum = None

    @property
    def total(self) -> int:
        if self._sum is None:
            self._sum = sum(self.per_patient.values())
        return self._sum

    @property
    def value(self) -> float | None:
        return float(self.total)

    @property
    def text(self) -> str:
        return str(self.total)

    def patient_text(self, patient_id: int) -> str:
        return f"{self.per_patient[patient_id]} {self.unit}"


Figure = Share | Times | Count


@dataclass
class Row:
    key: str  # a bucket key ("2026-03", "period"), with a tier or channel when the table has them
    label: str
    cells: dict[str, Figure]


@dataclass
class Table:
    """One table of the report: rows (months then the whole period, or patients) by columns."""

    key: str
    title: str
    note: str
    columns: list[tuple[str, str]]  # (key, heading)
    rows: list[Row] = field(default_factory=list)
    reference: dict[str, float] = field(default_factory=dict)  # column -> a reference value shown beside it
    page_rows: list[Row] | None = None  # the rows the page shows when not all of them (the CSV has them all)
    page_note: str = ""  # which rows the page shows

    @property
    def shown_rows(self) -> list[Row]:
        """The rows the page shows."""
        return self.rows if self.page_rows is None else self.page_rows

    def figure(self, row_key: str, column: str) -> Figure | None:
        """The figure at a row and column, if any."""
        for row in self.rows:
            if row.key == row_key:
                return row.cells.get(column)
        return None
