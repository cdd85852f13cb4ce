"""Typed form inputs (server.forms): blank boxes, checkboxes, and plain-language messages for refused values."""

from __future__ import annotations

from typing import Annotated, ClassVar

import pytest
from pydantic import AfterValidator, Field

from server.errors import FieldErrors
from server.forms import (
    FALLBACK_MESSAGE,
    BlankToNone,
    Checkbox,
    FormModel,
    IsoDate,
    LocalTime,
    Number,
    parse_form,
    plain,
)


def _even(value: int) -> int:
    if value % 2:
        raise plain("Choose an even number.")
    return value


class Sample(FormModel):
    messages: ClassVar[dict[str, str]] = {"count": "Count must be a whole number."}

    count: Annotated[int, AfterValidator(_even)]
    weight: BlankToNone[Number] = None
    day: BlankToNone[IsoDate] = None
    at: BlankToNone[LocalTime] = None
    agreed: Checkbox = False
    name: Annotated[str, Field(max_length=3)] = ""  # no entry in `messages`


def test_blank_boxes_are_none_and_values_are_typed():
    form = parse_form(
        Sample, {"count": "2", "weight": " 4,5 ", "day": "", "at": "08:15:30", "agreed": "on", "csrf_token": "ignored"}
    )
    assert (form.count, form.weight, form.day, form.agreed) == (2, 4.5, None, True)
    assert form.at is not None and form.at.isoformat() == "08:15:00"
    assert parse_form(Sample, {"count": "4"}).agreed is False


@pytest.mark.parametrize(
    "values, field, message",
    [
        ({"count": "two"}, "count", "Count must be a whole number."),
        ({"count": "3"}, "count", "Choose an even number."),
        ({"count": "2", "name": "Maria"}, "name", FALLBACK_MESSAGE),
    ],
)
def test_refused_values_get_plain_words_never_the_validators_text(values, field, message):
    with pytest.raises(FieldErrors) as refused:
        parse_form(Sample, values)
    assert refused.value.errors == {field: message}
    assert "Input should" not in str(refused.value) and "String should" not in str(refused.value)


def test_every_refused_field_is_named_in_form_order():
    with pytest.raises(FieldErrors) as refused:
        parse_form(Sample, {"weight": "heavy", "day": "tuesday", "at": "08:00+02:00"})
    assert list(refused.value.errors) == ["count", "weight", "day", "at"]
    assert refused.value.field == "count"
