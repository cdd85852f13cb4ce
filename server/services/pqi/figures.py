"""The quality report's figures: a percentage or a time, built from each patient's share, so that every figure can
list the patients behind it with their own numbers. An empty figure is "no data", never 0%."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

NO_DATA = "no data"


@dataclass
class Share:
    """A percentage: per patient (numerator, denominator), summed."""

    unit: str = "doses"  # what is counted: doses, weeks, months, patients, alerts, reminders
    # patient -> (numerator, denominator). Tuples of numbers, not lists: a year of a clinic is hundreds of thousands
    # of them, and the garbage collector stops tracking tuples of numbers but would walk every list again and again.
    per_patient: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(self, patient_id: int, num: int, den: int = 1) -> None:
        """Count `num` of `den` for a patient."""
        old_num, old_den = self.per_patient.get(patient_id, (0, 0))
        self.per_patient[patient_id] = (old_num + num, old_den + den)

    @property
    def num(self) -> int:
        return sum(n for n, _ in self.per_patient.values())

    @property
    def den(self) -> int:
        return sum(d for _, d in self.per_patient.values())

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

    def add(self, patient_id: int, value: float) -> None:
        """One more duration for a patient."""
        self.per_patient[patient_id] = (*self.per_patient.get(patient_id, ()), value)

    @property
    def values(self) -> list[float]:
        return sorted(v for values in self.per_patient.values() for v in values)

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

    def add(self, patient_id: int, n: int = 1) -> None:
        self.per_patient[patient_id] = self.per_patient.get(patient_id, 0) + n

    @property
    def value(self) -> float | None:
        return float(sum(self.per_patient.values()))

    @property
    def text(self) -> str:
        return str(sum(self.per_patient.values()))

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
