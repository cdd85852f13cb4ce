"""The one error the clinical core raises for bad input."""

from __future__ import annotations


class ClinicalValidationError(ValueError):
    """A value the clinical core refuses, with the field it belongs to and one sentence saying why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message
