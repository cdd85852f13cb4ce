"""Reminder words come from the catalog (notifications/messages.py): dexamethasone is named unambiguously when drug
names are opted out (issue 10 item 12), and the English clock is the US 12-hour clock."""

from __future__ import annotations

import pytest

from notifications.messages import render_reminder
from server.services.outbox.recipients import Recipient
from server.services.outbox.vocabulary import MessageKind

DEXAMETHASONE, DOSE = MessageKind.DEXAMETHASONE, MessageKind.DOSE

PAYLOAD = {
    "dose_local": "2026-03-02T14:00:00",
    "local": "2026-03-02T14:00:00",
    "dose_mg": 80,
    "tablets": 4,
    "strength_mg": 20,
    "dexamethasone_mg": 20,
}


def _recipient(language: str, drug_names: bool) -> Recipient:
    return Recipient(
        patient_id=1,
        language=language,
        phone="+15555550123",
        sms_consent=True,
        sms_opted_out=False,
        channel_preference="sms",
        drug_names=drug_names,
        weight_unit="kg",
        push_targets=(),
        clinic_name="Clinic",
        clinic_phone="+15555550100",
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Today take your steroid tablets (20 mg) at 2:00 PM."),
        ("es", "Hoy tome sus comprimidos de corticoide (20 mg) a las 2:00 p.m."),
    ],
)
def test_dexamethasone_is_named_as_steroid_tablets_without_drug_names(language, expected):
    text = render_reminder(DEXAMETHASONE, PAYLOAD, _recipient(language, False), "sms", "https://c.example").text
    assert text == expected
    dose = render_reminder(DOSE, PAYLOAD, _recipient(language, False), "sms", "https://c.example").text
    assert "(20 mg)" in dose and "other" not in dose and "otro medicamento" not in dose


def test_with_drug_names_dexamethasone_is_named():
    text = render_reminder(DEXAMETHASONE, PAYLOAD, _recipient("en", True), "sms", "https://c.example").text
    assert text == "Today take dexamethasone 20 mg at 2:00 PM."
