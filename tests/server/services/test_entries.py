"""Flow 1: an entry is stored once under its key, evaluated in the same transaction, and alerts follow §4d."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from server.context import AppContext
from server.demo import seed_demo
from server.errors import Conflict, FieldError
from server.models import Alert, AlertEvent, OutboundMessage, SymptomReport, WeightEntry
from server.services.entries import (
    ConfirmationRequired,
    LabValues,
    SymptomAnswers,
    record_dose,
    record_lab,
    record_symptoms,
    record_weight,
)


@pytest.fixture
def published():
    return []


@pytest.fixture
def ctx(settings, engine, clock, published):
    seed_demo(engine, settings, clock.now())
    return AppContext(settings=settings, engine=engine, clock=clock, publish=lambda c, d: published.append((c, d)))


MARIA = 1  # DEMO-001, baseline 68.0 kg, Xd level 0, Mon/Wed 08:00 New York


def _count(engine, model, **where):
    with Session(engine) as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return len(s.exec(q).all())


def test_replaying_a_key_returns_the_stored_entry_and_stores_nothing_new(ctx, clock):
    first = record_weight(ctx, MARIA, key="key-weight-1", at=clock.now(), value=67.5, unit="kg")
    again = record_weight(ctx, MARIA, key="key-weight-1", at=clock.now(), value=67.5, unit="kg")
    assert not first.replayed and again.replayed
    assert again.entry.id == first.entry.id
    assert _count(ctx.engine, WeightEntry, idempotency_key="key-weight-1") == 1


def test_a_key_reused_with_other_content_is_a_conflict(ctx, clock):
    record_weight(ctx, MARIA, key="key-weight-2", at=clock.now(), value=67.5, unit="kg")
    with pytest.raises(Conflict) as error:
        record_weight(ctx, MARIA, key="key-weight-2", at=clock.now(), value=66.0, unit="kg")
    assert error.value.field == "idempotency_key"


def test_a_key_of_another_patient_is_a_conflict_not_a_replay(ctx, clock):
    record_weight(ctx, MARIA, key="key-weight-3", at=clock.now(), value=67.5, unit="kg")
    with pytest.raises(Conflict):
        record_weight(ctx, 2, key="key-weight-3", at=clock.now(), value=67.5, unit="kg")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda ctx, now: record_weight(ctx, MARIA, key="bad-weight-1", at=now, value=400, unit="kg"), "weight"),
        (lambda ctx, now: record_weight(ctx, MARIA, key="bad-weight-2", at=now, value=60, unit="stone"), "unit"),
        (
            lambda ctx, now: record_weight(
                ctx, MARIA, key="bad-weight-3", at=now + timedelta(hours=1), value=60, unit="kg"
            ),
            "at",
        ),
        (
            lambda ctx, now: record_weight(
                ctx, MARIA, key="bad-weight-4", at=now - timedelta(days=8), value=60, unit="kg"
            ),
            "at",
        ),
        (
            lambda ctx, now: record_symptoms(
                ctx, MARIA, key="bad-sympt-1", at=now, answers=SymptomAnswers(temperature_c=45.0)
            ),
            "temperature_c",
        ),
        (
            lambda ctx, now: record_symptoms(
                ctx, MARIA, key="bad-sympt-2", at=now, answers=SymptomAnswers(vomiting_episodes=51)
            ),
            "vomiting_episodes",
        ),
        (lambda ctx, now: record_symptoms(ctx, MARIA, key="bad-sympt-3", at=now, answers=SymptomAnswers()), "nausea"),
        (lambda ctx, now: record_dose(ctx, MARIA, key="bad-dose-01", at=now, status="halfway"), "status"),
        (lambda ctx, now: record_dose(ctx, MARIA, key="short", at=now, status="taken"), "idempotency_key"),
        (
            lambda ctx, now: record_lab(
                ctx, MARIA, key="bad-lab-001", collected_at=now, staff_id=None, values=LabValues(sodium_mmol_l=99)
            ),
            "sodium_mmol_l",
        ),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(ctx, clock, call, field):
    before = {m: _count(ctx.engine, m) for m in (WeightEntry, SymptomReport, Alert)}
    with pytest.raises(FieldError) as error:
        call(ctx, clock.now())
    assert error.value.field == field
    assert {m: _count(ctx.engine, m) for m in before} == before


def test_a_weight_far_from_the_previous_one_needs_confirmation(ctx, clock):
    with pytest.raises(ConfirmationRequired):
        record_weight(ctx, MARIA, key="key-weight-4", at=clock.now(), value=55.0, unit="kg")
    assert _count(ctx.engine, WeightEntry, idempotency_key="key-weight-4") == 0
    stored = record_weight(ctx, MARIA, key="key-weight-4", at=clock.now(), value=55.0, unit="kg", confirmed=True)
    assert stored.entry.kg == 55.0


def test_weight_in_pounds_is_stored_in_kg_with_what_was_typed(ctx, clock):
    result = record_weight(ctx, MARIA, key="key-weight-5", at=clock.now(), value=148.0, unit="lb")
    assert result.entry.kg == pytest.approx(67.13, abs=0.01)
    assert (result.entry.entered_value, result.entry.entered_unit) == (148.0, "lb")


def test_weight_loss_of_twelve_percent_opens_one_same_day_alert_and_publishes_it(ctx, clock, published):
    result = record_weight(ctx, MARIA, key="key-weight-6", at=clock.now(), value=59.8, unit="kg", confirmed=True)
    assert result.advice.tier == "same_day" and not result.advice.call_now
    assert any("care team will contact you today" in m for m in result.advice.messages)
    with Session(ctx.engine) as s:
        alert = s.exec(select(Alert).where(Alert.patient_id == MARIA)).one()
    assert (alert.rule, alert.family, alert.tier, alert.action) == ("R-WT-10", "weight", "same_day", "interrupt")
    assert "12.1% below the baseline of 68.0 kg" in alert.facts
    assert alert.resume_dose == "100 mg once weekly"
    assert published == [("inbox", {"alert_id": alert.id, "patient_id": MARIA, "kind": "created", "tier": "same_day"})]


def test_a_worse_entry_updates_the_family_alert_and_raises_its_tier(ctx, clock):
    record_weight(ctx, MARIA, key="key-weight-7", at=clock.now(), value=59.8, unit="kg", confirmed=True)
    clock.advance(hours=1)
    record_weight(ctx, MARIA, key="key-weight-8", at=clock.now(), value=54.0, unit="kg", confirmed=True)
    with Session(ctx.engine) as s:
        alerts = s.exec(select(Alert).where(Alert.patient_id == MARIA)).all()
        events = s.exec(select(AlertEvent.kind).where(AlertEvent.alert_id == alerts[0].id)).all()
    assert len(alerts) == 1
    assert (alerts[0].rule, alerts[0].tier) == ("R-WT-20", "urgent")
    assert "created" in events and "updated" in events and "paged" in events


def test_an_urgent_finding_pages_the_first_on_call_person_through_the_outbox(ctx, clock):
    result = record_symptoms(ctx, MARIA, key="key-fever-1", at=clock.now(), answers=SymptomAnswers(temperature_c=38.4))
    assert result.advice.call_now
    with Session(ctx.engine) as s:
        pages = s.exec(select(OutboundMessage).where(OutboundMessage.kind == "page")).all()
        alert = s.exec(select(Alert).where(Alert.rule == "R-FEVER")).one()
    assert [(p.to_address, p.status) for p in pages] == [("+15555550111", "pending")]
    assert "38" not in pages[0].body and "Lopez" not in pages[0].body  # no health data in the SMS
    assert alert.next_page_at == clock.now() + timedelta(minutes=15)


def test_a_resolved_alert_is_not_reopened_by_an_unrelated_entry(ctx, clock):
    record_weight(ctx, MARIA, key="key-weight-9", at=clock.now(), value=59.8, unit="kg", confirmed=True)
    with Session(ctx.engine) as s:
        alert = s.exec(select(Alert).where(Alert.patient_id == MARIA)).one()
        alert.status = "resolved"
        s.add(alert)
        s.commit()
    clock.advance(hours=1)
    record_symptoms(ctx, MARIA, key="key-sympt-9", at=clock.now(), answers=SymptomAnswers(nausea=0))
    assert _count(ctx.engine, Alert, patient_id=MARIA, family="weight") == 1  # still just the resolved one
    clock.advance(hours=1)
    record_weight(ctx, MARIA, key="key-weight-10", at=clock.now(), value=59.7, unit="kg")
    assert _count(ctx.engine, Alert, patient_id=MARIA, family="weight") == 2  # the next matching entry opens one


def test_a_missed_dose_is_never_made_up(ctx, clock):
    result = record_dose(ctx, MARIA, key="key-dose-01", at=clock.now(), status="missed")
    text = " ".join(result.advice.messages).lower()
    assert "next scheduled day" in text
    for forbidden in ("take it now", "extra", "make up", "take another", "double"):
        assert forbidden not in text


def test_a_correction_keeps_the_original(ctx, clock):
    first = record_weight(ctx, MARIA, key="key-weight-11", at=clock.now(), value=67.0, unit="kg")
    fixed = record_weight(
        ctx, MARIA, key="key-weight-12", at=clock.now(), value=66.5, unit="kg", corrects_id=first.entry.id
    )
    with Session(ctx.engine) as s:
        original = s.get(WeightEntry, first.entry.id)
    assert original.superseded_at is not None and original.kg == 67.0
    assert fixed.entry.corrects_id == first.entry.id
    clock.advance(hours=25)
    with pytest.raises(FieldError, match="24 hours"):
        record_weight(
            ctx, MARIA, key="key-weight-13", at=clock.now(), value=66.0, unit="kg", corrects_id=fixed.entry.id
        )


def test_logging_todays_dose_before_its_time_names_the_next_dose_day_not_today(ctx, clock):
    # Maria: Mon/Wed 08:00 New York. At 07:40 on Monday she logs Monday's dose as taken.
    clock.set(clock.now().replace(hour=12, minute=40))  # 07:40 EST
    result = record_dose(ctx, MARIA, key="key-dose-early", at=clock.now(), status="taken")
    text = " ".join(result.advice.messages)
    assert "Wednesday, March 4 at 8:00\u202fAM" in text and "Monday" not in text
