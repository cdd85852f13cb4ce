"""A missed or vomited dose is never made up or repeated (P-MISSED, P-VOMITED), anywhere in the product's advice."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.clinical import advice as adv
from server.clinical import rules
from server.clinical.regimens import Plan, PlanStatus
from server.clinical.rules import DoseEntry, LabEntry, PatientState, SymptomEntry, WeightEntry, evaluate
from server.clinical.schedule import ScheduleSetup
from server.i18n import render_advice


def dose_advice(status, next_local=None, held=False):
    """The core's structured dose advice, rendered in English."""
    return " ".join(render_advice(adv.dose_advice(status, next_local, held), "en"))


def english(finding):
    return " ".join(render_advice(finding.advice, "en"))


FORBIDDEN = re.compile(
    r"take it now|extra dose|make up|make-up|makeup|take another|double|second dose|as soon as you remember"
    r"|take the missed|repeat the dose|take a dose now",
    re.IGNORECASE,
)
UTC = UTC
START = date(2026, 3, 2)
NOW = datetime(2026, 3, 12, 16, 0, tzinfo=UTC)


NEXT = datetime(2026, 3, 16, 8, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize("status", ["missed", "vomited", "taken"])
def test_dose_advice_never_suggests_an_extra_or_make_up_dose(status):
    advice = dose_advice(status, NEXT)
    assert not FORBIDDEN.search(advice)
    assert "next scheduled day and time" in advice
    assert "Monday, March 16 at 8:00" in advice  # the pages' date style and the US 12-hour clock


@pytest.mark.parametrize("status", ["missed", "vomited", "taken"])
def test_a_held_patient_is_told_not_to_take_selinexor(status):
    advice = dose_advice(status, None, held=True)
    assert not FORBIDDEN.search(advice)
    assert "Selinexor is on hold: do not take it until your care team tells you to." in advice
    assert "next scheduled" not in advice


def test_missed_dose_advice_says_skip_it():
    assert dose_advice("missed", NEXT).startswith("Skip the missed dose.")


def test_vomited_dose_advice_says_do_not_repeat():
    assert dose_advice("vomited", NEXT).startswith("Do not repeat a dose you vomited.")


def test_the_forbidden_phrases_are_caught():
    for phrase in ("Take it now", "take an extra dose", "make up the dose", "take another tablet"):
        assert FORBIDDEN.search(phrase)


def test_no_advice_id_of_the_core_contains_a_forbidden_phrase():
    texts = [v for k, v in vars(adv).items() if k.isupper() and isinstance(v, str)]
    texts += [item.id for items in rules.SELF_CARE_ADVICE.values() for item in items]
    assert len(texts) > 20
    assert not [t for t in texts if FORBIDDEN.search(t)]


def _setup(status):
    return ScheduleSetup(Plan("Xd", 0, status), START, 0, 2, time(8, 0), "America/New_York")


entry_times = st.integers(0, 14 * 24).map(lambda h: NOW - timedelta(hours=h))
dose_entries = st.builds(
    DoseEntry,
    at=entry_times,
    status=st.sampled_from(["taken", "missed", "vomited"]),
    antiemetic_taken=st.sampled_from([True, False, None]),
)
symptom_entries = st.builds(
    SymptomEntry,
    at=entry_times,
    nausea=st.integers(0, 3),
    vomiting_episodes=st.integers(0, 12),
    loose_stools=st.integers(0, 12),
    appetite=st.integers(0, 3),
    fatigue=st.integers(0, 3),
    temperature_c=st.sampled_from([36.5, 38.0, 39.5]),
    chills=st.booleans(),
    bleeding=st.sampled_from(["none", "minor", "major"]),
    neuro=st.sampled_from(["none", "dizzy", "major"]),
    vision_change=st.booleans(),
)
weights = st.builds(WeightEntry, at=entry_times, kg=st.floats(60, 110))
labs = st.builds(
    LabEntry,
    at=entry_times,
    sodium_mmol_l=st.floats(120, 145),
    platelets_10e9_l=st.floats(5, 300),
    anc_10e9_l=st.floats(0.1, 5),
    hemoglobin_g_dl=st.floats(6, 15),
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.one_of(dose_entries, symptom_entries, weights, labs), max_size=12),
    st.sampled_from(list(PlanStatus)),
    st.sampled_from([None, "R-WT-10", "R-NV-3", "R-NA"]),
)
def test_no_finding_ever_advises_an_extra_or_make_up_dose(entries, status, hold_rule):
    state = PatientState(setup=_setup(status), baseline_weight_kg=100.0, entries=tuple(entries), hold_rule=hold_rule)
    for finding in evaluate(state, NOW):
        assert not FORBIDDEN.search(english(finding)), finding
        assert finding.family in rules.FAMILIES


def test_missed_doses_finding_repeats_the_skip_advice():
    logs = [DoseEntry(datetime(2026, 3, 4, 13, tzinfo=UTC), "taken", True)]
    state = PatientState(
        setup=_setup(PlanStatus.ACTIVE), baseline_weight_kg=100.0, entries=tuple(logs), last_delivered_at=NOW
    )
    finding = next(f for f in evaluate(state, NOW) if f.rule == "R-MISS-2")
    assert "Skip the missed dose" in english(finding)


# ---------------------------------------------------------------- honest timing (section 3 "Say only what will happen")

OPEN = adv.CareTeamContact(True, None, "+15555550100", "+15555550199", "911")
CLOSED_TILL_MONDAY = adv.CareTeamContact(False, date(2026, 3, 9), "+15555550100", "+15555550199", "911")


def _tier_words(tier, holds, contact):
    return [(item.id, dict(item.params)) for item in adv.tier_advice(tier, holds, contact)]


def test_same_day_in_clinic_hours_says_today():
    assert _tier_words("same_day", True, OPEN) == [(adv.CONTACT_TODAY, {}), (adv.HOLD_UNTIL_CONTACT, {})]


def test_same_day_outside_clinic_hours_names_the_day_the_after_hours_line_and_the_emergency_number():
    assert _tier_words("same_day", False, CLOSED_TILL_MONDAY) == [
        (adv.CLINIC_CLOSED, {}),
        (adv.NURSE_WILL_CALL, {"day": date(2026, 3, 9)}),
        (adv.AFTER_HOURS, {"phone": "+15555550199"}),
        (adv.FEEL_WORSE, {"emergency_number": "911"}),
    ]
    text = " ".join(render_advice(adv.tier_advice("same_day", False, CLOSED_TILL_MONDAY), "en"))
    assert text.startswith("The clinic is closed now. A nurse will call you on Monday morning.") and "today" not in text


def test_every_urgent_tier_carries_the_emergency_fallback_open_or_closed():
    for contact in (OPEN, CLOSED_TILL_MONDAY):
        for holds in (False, True):
            ids = [item.id for item in adv.tier_advice("urgent", holds, contact)]
            assert ids[:2] == [adv.CALL_NOW, adv.EMERGENCY_FALLBACK]
            assert (adv.HOLD_UNTIL_TOLD in ids) is holds


def test_routine_and_self_care_promise_no_call():
    assert _tier_words("routine", False, OPEN) == [(adv.TEAM_WILL_REVIEW, {})]
    assert _tier_words("self_care", False, CLOSED_TILL_MONDAY) == []
