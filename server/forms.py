"""Typed form inputs: the base every form model shares, and the one path from a validation error to the
plain-language, field-naming messages people read.

A form model is a pydantic model that Litestar parses from the request body. Its fields carry the types, bounds,
choices and blank-to-None; a value it refuses is reported with words written for people, never with the
validator's own text ("Input should be a valid number"): either the model's `messages` entry for the field, or the
message of a `plain()` error raised by one of its validators. Cross-checks that need the clock or the database
stay in the services, and clinical ones in `server.clinical`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, time
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from .errors import FieldErrors
from .input_safety import NUL_MESSAGE, has_nul

T = TypeVar("T")

PLAIN = "plain"  # the error type of our own messages (shown as written)
FALLBACK_MESSAGE = "Check this value."


def blank_to_none(value: Any) -> Any:
    """An empty or all-space box means "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


# An optional field where an empty box is None: `level: BlankToNone[int] = None`.
BlankToNone = Annotated[T | None, BeforeValidator(blank_to_none)]


def checkbox(value: Any) -> bool:
    """A ticked box sends "on" (or true/1/yes); an unticked one sends nothing."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"on", "true", "1", "yes"}


Checkbox = Annotated[bool, BeforeValidator(checkbox)]

# Text with the surrounding spaces removed (passwords stay plain `str`: spaces may be part of them).
Text = Annotated[str, StringConstraints(strip_whitespace=True)]


def _iso_date(value: Any) -> Any:
    return date.fromisoformat(value.strip()) if isinstance(value, str) else value


def _local_time(value: Any) -> Any:
    """'08:00' (seconds dropped); a time with a UTC offset is refused: the patient's zone is applied later."""
    if isinstance(value, str):
        parsed = time.fromisoformat(value.strip())
        if parsed.tzinfo is not None:
            raise ValueError("a local time has no offset")
        return parsed.replace(second=0, microsecond=0)
    return value


def _number(value: Any) -> Any:
    """A decimal number as people type it: '4.5' or '4,5'."""
    if isinstance(value, str):
        number = float(value.strip().replace(",", "."))
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]  # 2026-03-02, nothing else
LocalTime = Annotated[time, BeforeValidator(_local_time)]
Number = Annotated[float, BeforeValidator(_number)]


def plain(message: str, field: str | None = None) -> PydanticCustomError:
    """An error whose message is shown as written; `field` names it when raised by a model (cross-field) validator."""
    return PydanticCustomError(PLAIN, "{message}", {"message": message, "field": field})


class FormModel(BaseModel):
    """Base of every form body: frozen; unknown fields (e.g. the CSRF token) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # The message for a value a field's type or bounds refuse (the validator's own text is never shown).
    messages: ClassVar[dict[str, str]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):  # PostgreSQL text cannot hold it: the form again with the field named, never a 500
            raise plain(NUL_MESSAGE)
        return value


FormT = TypeVar("FormT", bound=FormModel)


def messages_of(model: type[FormModel], exc: ValidationError) -> dict[str, str]:
    """Each refused field with its plain-language message, in the order the form lists them."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        context = error.get("ctx") or {}
        if error["type"] == PLAIN:
            field = context.get("field") or (str(error["loc"][0]) if error["loc"] else "form")
            message = str(context.get("message", FALLBACK_MESSAGE))
        else:
            field = str(error["loc"][0]) if error["loc"] else "form"
            message = model.messages.get(field, FALLBACK_MESSAGE)
        errors.setdefault(field, message)
    order = list(model.model_fields)
    return dict(sorted(errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


def parse_form(model: type[FormT], values: Mapping[str, Any]) -> FormT:
    """The typed form, or FieldErrors naming every refused field."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise FieldErrors(messages_of(model, exc)) from None
