"""FHIR errors: one exception carrying the HTTP status and the element at fault, and the OperationOutcome for it."""

from __future__ import annotations

from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError


class FhirError(Exception):
    """A request the FHIR API refuses: `status` (4xx), an issue `code` (FHIR IssueType), the message and the
    FHIRPath of the element at fault. Nothing was stored."""

    def __init__(self, status: int, code: str, message: str, expression: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.expression = expression

    def outcome(self) -> OperationOutcome:
        """This error as an OperationOutcome resource."""
        return outcome("error", self.code, self.message, self.expression)


def outcome(severity: str, code: str, message: str, expression: str | None = None) -> OperationOutcome:
    """An OperationOutcome with one issue."""
    issue: dict = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})


def from_validation_error(resource_type: str, exc: ValidationError, prefix: str | None = None) -> FhirError:
    """The first structural error found by the FHIR models, naming its element (e.g. Observation.valueQuantity.value)."""
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first.get("loc", ()) if not str(part).startswith("function-after"))
    if first.get("type") == "fhir-validation-wrong-resource-type":
        return FhirError(
            422,
            "invalid",
            f"Expected a {resource_type} resource, got {first.get('input')!r}.",
            f"{prefix or resource_type}.resourceType",
        )
    element = f"{prefix or resource_type}.{path}" if path else (prefix or resource_type)
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return FhirError(400, "structure", f"{element}: {message}", element)
