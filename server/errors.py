"""Domain errors. Each carries a clear message; `server.app` maps them to HTTP once."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for errors a user can act on."""


class FieldError(DomainError):
    """Bad input for one field: 422 with the field named; nothing is stored."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FieldErrors(FieldError):
    """Several fields are wrong at once; `errors` maps each field to its message (the first is `field`)."""

    def __init__(self, errors: dict[str, str]):
        first = next(iter(errors))
        super().__init__(first, errors[first])
        self.errors = errors


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know it exists (404)."""


class Conflict(DomainError):
    """The request contradicts stored state, e.g. an idempotency key reused with other content (409)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message


class Forbidden(DomainError):
    """Signed in, but not allowed (403)."""
