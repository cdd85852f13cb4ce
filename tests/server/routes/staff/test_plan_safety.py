"""Safe plan changes (issue 12 item 4): roles (PLAN_CHANGE_ROLES), the change per dose and per week shown before
saving with a confirmation when the dose goes up, the level is not the label's suggestion, or an urgent alert is
unacknowledged; "Hold" first when the label says interrupt; once-weekly plans as one weekday; levels with tablets."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import Session, select

from server.models import Alert, TreatmentPlan
from server.services.entries import SymptomAnswers, record_symptoms, record_weight
from tests.support.staff import ADMIN, NURSE, PHARMACIST, patient_by_mrn, post_form, seed, sign_in
from tests.support.staff import text_of as _text_of

MARIA, ROBERT = "DEMO-001", "DEMO-002"


def text_of(page: str) -> str:
    """The page's words, entities decoded."""
    return html.unescape(_text_of(page))


@pytest.fixture
def demo(engine, settings, clock):
    return seed(engine, settings, clock)


@pytest.fixture
def ctx(app, demo):
    return app.state.ctx


@pytest.fixture
def staff(client, demo):
    return client


def _plans(engine, patient_id) -> list[TreatmentPlan]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).order_by(TreatmentPlan.version)
            ).all()
        )


def _alert(engine, patient_id, family) -> Alert:
    with Session(engine) as session:
        return session.exec(
            select(Alert).where(Alert.patient_id == patient_id, Alert.family == family, Alert.status != "resolved")
        ).one()


def _robert_loses_weight(ctx, engine, clock) -> Alert:
    robert = patient_by_mrn(engine, ROBERT)
    record_weight(
        ctx,
        robert.id,
        key="safety-weight-1",
        at=clock.now(),
        value=round(robert.baseline_weight_kg * 0.88, 1),
        unit="kg",
        confirmed=True,
    )
    return _alert(engine, robert.id, "weight")


def test_a_dose_increase_shows_the_change_per_dose_and_week_and_is_confirmed_first(staff, ctx, engine):
    sign_in(staff, PHARMACIST)
    robert = patient_by_mrn(engine, ROBERT)  # Xd level 1: 100 mg once weekly on Tuesdays
    form = {"operation": "resume", "level": "0", "reason": "Tolerating well"}
    first = post_form(staff, f"/staff/patients/{robert.id}/plan", form)
    assert first.status_code == 200
    words = text_of(first.text)
    assert "Confirm this plan change" in words
    assert "5 tablets Tuesday only → 4 tablets Tue & Thu; weekly 100 → 160 mg" in words
    assert "The dose goes up: 100 → 160 mg a week." in words
    assert len(_plans(engine, robert.id)) == 1  # nothing saved yet
    confirmed = post_form(
        staff, f"/staff/patients/{robert.id}/plan", {**form, "confirmed": "true"}, follow_redirects=False
    )
    assert confirmed.status_code == 303
    assert [(p.version, p.dose_level) for p in _plans(engine, robert.id)] == [(1, 1), (2, 0)]


def test_a_dose_decrease_without_open_urgent_work_is_saved_at_once(staff, ctx, engine):
    sign_in(staff, PHARMACIST)
    maria = patient_by_mrn(engine, MARIA)
    answer = post_form(
        staff,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "reduce", "reason": "Platelets 60"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and _plans(engine, maria.id)[-1].dose_level == 1


def test_an_unacknowledged_urgent_alert_asks_for_confirmation_except_when_acting_on_it(staff, ctx, engine, clock):
    sign_in(staff, PHARMACIST)
    maria = patient_by_mrn(engine, MARIA)
    record_symptoms(ctx, maria.id, key="safety-fever-1", at=clock.now(), answers=SymptomAnswers(temperature_c=38.7))
    fever = _alert(engine, maria.id, "fever")
    page = post_form(
        staff,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "dexamethasone_on_hold": "continue", "reason": "Fever"},
    )
    words = text_of(page.text)
    assert "An urgent alert for this patient is not acknowledged yet (R-FEVER)." in words
    assert "4 tablets Mon & Wed → no doses (on hold); weekly 160 → 0 mg" in words
    assert len(_plans(engine, maria.id)) == 1
    # Acting from the urgent alert itself: the person is looking at it (and acting acknowledges it).
    answer = post_form(
        staff,
        f"/staff/alerts/{fever.id}/plan",
        {"operation": "hold", "dexamethasone_on_hold": "continue", "reason": "Fever", "back": "/staff/inbox"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and _plans(engine, maria.id)[-1].status == "held"


def test_resuming_at_another_level_than_the_labels_is_confirmed(staff, ctx, engine, clock):
    alert = _robert_loses_weight(ctx, engine, clock)  # R-WT-10: interrupt, resume at level 2
    sign_in(staff, PHARMACIST)
    held = post_form(
        staff,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "hold", "dexamethasone_on_hold": "continue", "reason": "Weight down", "back": "/staff/inbox"},
        follow_redirects=False,
    )
    assert held.status_code == 303
    page = post_form(
        staff,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "resume", "level": "1", "reason": "Recovered", "back": "/staff/inbox"},
    )
    words = text_of(page.text)
    assert page.status_code == 200 and "Level 1 is not the label's suggestion (level 2)." in words
    assert _plans(engine, alert.patient_id)[-1].status == "held"
    same = post_form(
        staff,
        f"/staff/alerts/{alert.id}/plan",
        {"operation": "resume", "level": "2", "reason": "Recovered", "back": "/staff/inbox"},
        follow_redirects=False,
    )
    assert same.status_code == 303 and _plans(engine, alert.patient_id)[-1].dose_level == 2


def test_a_nurse_may_hold_but_not_reduce_and_an_admin_changes_nothing(staff, ctx, engine, clock):
    maria = patient_by_mrn(engine, MARIA)
    sign_in(staff, NURSE)
    page = staff.get(f"/staff/patients/{maria.id}").text
    assert 'value="hold"' in page and 'value="reduce"' not in page and 'value="discontinue"' not in page
    refused = post_form(staff, f"/staff/patients/{maria.id}/plan", {"operation": "reduce", "reason": "x"})
    assert refused.status_code == 403 and "A nurse may not reduce a treatment plan" in text_of(refused.text)
    held = post_form(
        staff,
        f"/staff/patients/{maria.id}/plan",
        {"operation": "hold", "dexamethasone_on_hold": "continue", "reason": "Per protocol"},
        follow_redirects=False,
    )
    assert held.status_code == 303
    sign_in(staff, ADMIN)
    page = staff.get(f"/staff/patients/{maria.id}").text
    assert 'name="operation" value=' not in page  # no plan button at all
    assert "Treatment plans are changed by a physician, pharmacist or nurse practitioner." in text_of(page)
    assert (
        post_form(
            staff, f"/staff/patients/{maria.id}/plan", {"operation": "resume", "level": "0", "reason": "x"}
        ).status_code
        == 403
    )
    assert len(_plans(engine, maria.id)) == 2


def test_hold_is_the_primary_action_when_the_label_says_interrupt(staff, ctx, engine, clock):
    alert = _robert_loses_weight(ctx, engine, clock)
    sign_in(staff, PHARMACIST)
    card = staff.get(f"/staff/inbox/alerts/{alert.id}").text
    assert re.search(
        r'<button type="submit" name="operation" value="hold" class="primary">Hold selinexor</button>', card
    )
    assert 'value="reduce" class="secondary"' in card
    assert "The label says: Interrupt: hold selinexor until recovery, then resume one level lower" in text_of(card)


def test_history_shows_once_weekly_plans_on_one_weekday_and_levels_in_tablets(staff, ctx, engine):
    sign_in(staff, PHARMACIST)
    robert = patient_by_mrn(engine, ROBERT)  # once weekly on Tuesdays (stored Day 3: Thursday)
    page = staff.get(f"/staff/patients/{robert.id}").text
    history = text_of(page.split('id="versions-title"')[1])
    assert "Tue 09:00" in history and "Tue/Thu" not in history and "Thu" not in history.split("Tue 09:00")[1][:20]
    assert "level 1: 100 mg once weekly: 5 × 20 mg tablets per dose (label's suggestion)" in text_of(
        page
    ) or "level 1: 100 mg once weekly: 5 × 20 mg tablets per dose" in text_of(page)
    assert "level 0: 80 mg on Days 1 and 3 (160 mg a week): 4 × 20 mg tablets per dose" in text_of(page)
