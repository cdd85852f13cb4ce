"""Escalation rules of clinical reference section 4, each threshold below, at and above its boundary."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from server.clinical.advice import CareTeamContact, tier_advice
from server.clinical.grading import ClinicalValidationError
from server.clinical.regimens import Plan, PlanStatus
from server.clinical.rules import (
    FAMILIES,
    RULES,
    Action,
    DoseEntry,
    Finding,
    LabEntry,
    PatientState,
    SymptomEntry,
    Tier,
    WeightEntry,
    evaluate,
    worst_tier,
)
from server.clinical.schedule import ScheduleSetup, dose_on_local_date
from server.i18n import render_advice


def told(finding, contact=CareTeamContact(clinic_phone="+15555550100")):
    """What the patient reads for one finding (clinic open): the tier words, then the rule's advice, in English."""
    holds = finding.action in (Action.INTERRUPT, Action.DISCONTINUE)
    return " ".join(render_advice(tier_advice(finding.tier.value, holds, contact) + finding.advice, "en"))


UTC = UTC
NY = "America/New_York"
START = date(2026, 3, 2)  # Monday; doses Monday and Wednesday 08:00 New York
NOW = datetime(2026, 3, 12, 16, 0, tzinfo=UTC)  # Thursday 12:00 local; next dose Monday 16 March, > 12 h away
RECENT = NOW - timedelta(hours=1)


def setup_for(regimen="Xd", level=0, status=PlanStatus.ACTIVE, start=START):
    return ScheduleSetup(Plan(regimen, level, status), start, 0, 2, time(8, 0), NY)


def state_for(entries=(), regimen="Xd", level=0, status=PlanStatus.ACTIVE, **kwargs):
    kwargs.setdefault("last_delivered_at", NOW - timedelta(hours=2))
    kwargs.setdefault("baseline_weight_kg", 100.0)
    return PatientState(setup=setup_for(regimen, level, status), entries=tuple(entries), **kwargs)


def run(entries=(), now=NOW, **kwargs) -> dict[str, Finding]:
    findings = evaluate(state_for(entries, **kwargs), now)
    by_rule = {}
    for f in findings:
        by_rule.setdefault(f.rule, f)
    return by_rule


def only(by_rule, *rule_ids):
    return {r: f for r, f in by_rule.items() if r in rule_ids}


def symptoms(at=RECENT, **kw):
    return SymptomEntry(at=at, **kw)


# ---------------------------------------------------------------- nausea and vomiting

NV = ("R-NV-12", "R-NV-3")


@pytest.mark.parametrize(
    "nausea,vomiting,rule,tier",
    [
        (0, 0, None, None),
        (1, 0, "R-NV-12", Tier.SELF_CARE),
        (1, None, "R-NV-12", Tier.SELF_CARE),
        (1, 1, "R-NV-12", Tier.ROUTINE),
        (2, 0, "R-NV-12", Tier.ROUTINE),
        (3, 0, "R-NV-3", Tier.URGENT),
        (0, 1, "R-NV-12", Tier.ROUTINE),
        (0, 5, "R-NV-12", Tier.ROUTINE),
        (0, 6, "R-NV-3", Tier.URGENT),
        (2, 6, "R-NV-3", Tier.URGENT),
    ],
)
def test_nausea_and_vomiting_grade_by_the_label_counts(nausea, vomiting, rule, tier):
    found = only(run([symptoms(nausea=nausea, vomiting_episodes=vomiting)]), *NV)
    assert list(found) == ([rule] if rule else [])
    if rule:
        assert found[rule].tier is tier
        assert found[rule].family == "gi"


def test_severe_vomiting_interrupts_and_resumes_one_level_lower():
    f = run([symptoms(vomiting_episodes=6)])["R-NV-3"]
    assert f.action is Action.INTERRUPT
    assert (f.resume_level, f.resume_dose) == (1, "100 mg once weekly")


def test_mild_nausea_continues_with_supportive_care():
    f = run([symptoms(nausea=2)])["R-NV-12"]
    assert f.action is Action.CONTINUE_SUPPORTIVE
    assert f.resume_level is None and f.resume_dose is None
    assert "anti-nausea" in told(f)


# ---------------------------------------------------------------- diarrhea

DIA = ("R-DIA-2", "R-DIA-2R", "R-DIA-3")


@pytest.mark.parametrize("usual", [1, 3])
@pytest.mark.parametrize("above,rule", [(3, None), (4, "R-DIA-2"), (6, "R-DIA-2"), (7, "R-DIA-3")])
def test_diarrhea_counts_stools_above_the_patients_usual(usual, above, rule):
    found = only(run([symptoms(loose_stools=usual + above)], usual_stools_per_day=usual), *DIA)
    assert list(found) == ([rule] if rule else [])


def test_diarrhea_grade_3_is_urgent_interrupt():
    f = run([symptoms(loose_stools=8)])["R-DIA-3"]
    assert (f.tier, f.action, f.family) == (Tier.URGENT, Action.INTERRUPT, "gi")


def test_diarrhea_again_after_a_resolved_episode_reduces():
    entries = [
        symptoms(at=NOW - timedelta(days=6), loose_stools=6),
        symptoms(at=NOW - timedelta(days=4), loose_stools=2),
        symptoms(loose_stools=5),
    ]
    f = only(run(entries), *DIA)["R-DIA-2R"]
    assert (f.tier, f.action) == (Tier.SAME_DAY, Action.REDUCE)
    assert (f.resume_level, f.resume_dose) == (1, "100 mg once weekly")


def test_a_continuing_episode_is_not_a_recurrence():
    entries = [
        symptoms(at=NOW - timedelta(days=2), loose_stools=6),
        symptoms(at=NOW - timedelta(days=1), loose_stools=8),
        symptoms(loose_stools=5),
    ]
    assert list(only(run(entries), *DIA)) == ["R-DIA-2"]


def test_an_earlier_episode_that_never_resolved_is_not_a_recurrence():
    entries = [symptoms(at=NOW - timedelta(days=2), loose_stools=5), symptoms(loose_stools=5)]
    assert list(only(run(entries), *DIA)) == ["R-DIA-2"]


# ---------------------------------------------------------------- weight

WT = ("R-WT-5", "R-WT-10", "R-WT-20")


@pytest.mark.parametrize(
    "kg,rule",
    [
        (95.1, None),
        (95.0, "R-WT-5"),
        (94.9, "R-WT-5"),
        (90.1, "R-WT-5"),
        (90.0, "R-WT-10"),
        (89.9, "R-WT-10"),
        (80.1, "R-WT-10"),
        (80.0, "R-WT-20"),
        (79.9, "R-WT-20"),
    ],
)
def test_weight_loss_thresholds_against_baseline(kg, rule):
    found = only(run([WeightEntry(RECENT, kg)]), *WT)
    assert list(found) == ([rule] if rule else [])


@pytest.mark.parametrize(
    "kg,rule", [(63.01, "R-WT-5"), (63.0, "R-WT-10"), (56.0, "R-WT-20"), (66.5, "R-WT-5"), (66.51, None)]
)
def test_weight_thresholds_are_exact_for_awkward_baselines(kg, rule):
    found = only(run([WeightEntry(RECENT, kg)], baseline_weight_kg=70.0), *WT)
    assert list(found) == ([rule] if rule else [])


@pytest.mark.parametrize(
    "rule,tier,action",
    [
        ("R-WT-5", Tier.ROUTINE, Action.EVALUATE),
        ("R-WT-10", Tier.SAME_DAY, Action.INTERRUPT),
        ("R-WT-20", Tier.URGENT, Action.INTERRUPT),
    ],
)
def test_weight_rules_tier_and_action(rule, tier, action):
    kg = {"R-WT-5": 93, "R-WT-10": 85, "R-WT-20": 75}[rule]
    f = run([WeightEntry(RECENT, kg)])[rule]
    assert (f.tier, f.action, f.family) == (tier, action, "weight")


def test_weight_facts_state_value_percent_and_baseline():
    f = run([WeightEntry(RECENT, 62.1)], baseline_weight_kg=70.0)["R-WT-10"]
    assert "62.1 kg is 11.3% below the baseline of 70.0 kg" in f.facts


def test_weight_facts_never_round_onto_a_threshold_not_reached():
    f = run([WeightEntry(RECENT, 90.04)])["R-WT-5"]
    assert "9.96%" in f.facts


def test_weight_loss_uses_the_most_recent_weight():
    entries = [WeightEntry(NOW - timedelta(days=3), 85.0), WeightEntry(RECENT, 97.0)]
    assert not only(run(entries), *WT)


# ---------------------------------------------------------------- appetite and fatigue


@pytest.mark.parametrize("appetite,fires", [(2, False), (3, True)])
def test_appetite_grade_3_interrupts(appetite, fires):
    found = run([symptoms(appetite=appetite)])
    assert ("R-ANX-3" in found) is fires
    if fires:
        assert (found["R-ANX-3"].tier, found["R-ANX-3"].action) == (Tier.SAME_DAY, Action.INTERRUPT)


@pytest.mark.parametrize("grade,fires", [(2, False), (3, True)])
def test_fatigue_grade_3_interrupts(grade, fires):
    found = run([symptoms(fatigue=grade)])
    assert ("R-FAT-3" in found) is fires


@pytest.mark.parametrize(
    "span,fires",
    [
        (timedelta(days=6, hours=23), False),
        (timedelta(days=7), False),
        (timedelta(days=7, hours=1), True),
    ],
)
def test_fatigue_grade_2_must_span_more_than_7_days(span, fires):
    entries = [symptoms(at=RECENT - span, fatigue=2), symptoms(at=RECENT - span / 2, fatigue=3), symptoms(fatigue=2)]
    found = run(entries)
    assert ("R-FAT-2" in found) is fires
    if fires:
        assert (found["R-FAT-2"].tier, found["R-FAT-2"].action, found["R-FAT-2"].family) == (
            Tier.SAME_DAY,
            Action.INTERRUPT,
            "fatigue",
        )


def test_fatigue_grade_2_span_restarts_after_a_better_day():
    entries = [
        symptoms(at=RECENT - timedelta(days=10), fatigue=2),
        symptoms(at=RECENT - timedelta(days=5), fatigue=1),
        symptoms(fatigue=2),
    ]
    assert "R-FAT-2" not in run(entries)


# ---------------------------------------------------------------- fever, bleeding, neuro, eye


@pytest.mark.parametrize("temp,fires", [(37.9, False), (38.0, True), (38.1, True)])
def test_fever_at_38_is_urgent(temp, fires):
    found = run([symptoms(temperature_c=temp)])
    assert ("R-FEVER" in found) is fires
    if fires:
        assert (found["R-FEVER"].tier, found["R-FEVER"].action, found["R-FEVER"].family) == (
            Tier.URGENT,
            Action.EVALUATE,
            "fever",
        )


def test_chills_alone_are_urgent():
    assert run([symptoms(chills=True, temperature_c=37.0)])["R-FEVER"].tier is Tier.URGENT


@pytest.mark.parametrize("answer,tier", [("none", None), ("minor", Tier.SAME_DAY), ("major", Tier.URGENT)])
def test_bleeding(answer, tier):
    found = run([symptoms(bleeding=answer)])
    assert (found["R-BLEED"].tier if "R-BLEED" in found else None) is tier


@pytest.mark.parametrize("answer,tier", [("none", None), ("dizzy", Tier.SAME_DAY), ("major", Tier.URGENT)])
def test_confusion_or_fainting_is_urgent_dizziness_same_day(answer, tier):
    found = run([symptoms(neuro=answer)])
    assert (found["R-NEURO"].tier if "R-NEURO" in found else None) is tier


@pytest.mark.parametrize("changed,fires", [(False, False), (True, True)])
def test_vision_change_is_routine_in_the_eye_family(changed, fires):
    found = run([symptoms(vision_change=changed)])
    assert ("R-EYE" in found) is fires
    if fires:
        assert (found["R-EYE"].tier, found["R-EYE"].family) == (Tier.ROUTINE, "eye")


def test_the_worst_signs_carry_emergency_advice():
    found = run([symptoms(bleeding="major", neuro="major")])
    assert "If you cannot reach them right away, call 911." in told(found["R-BLEED"])
    assert "If you cannot reach them right away, call 911." in told(found["R-NEURO"])


def test_every_urgent_result_carries_the_emergency_fallback_with_the_number_from_settings():
    # clinical-reference: section 3 "Say only what will happen" (not only bleeding)
    found = run([symptoms(temperature_c=39.0, nausea=3)])
    contact = CareTeamContact(clinic_phone="+15555550100", emergency_number="112")
    for rule in ("R-FEVER", "R-NV-3"):
        assert found[rule].tier is Tier.URGENT
        assert "If you cannot reach them right away, call 112." in told(found[rule], contact)


# ---------------------------------------------------------------- recency


def test_an_old_fever_with_a_normal_temperature_since_is_not_returned():
    entries = [
        symptoms(at=NOW - timedelta(days=10), temperature_c=39.0),
        symptoms(at=NOW - timedelta(days=2), temperature_c=36.8),
    ]
    assert "R-FEVER" not in run(entries)


def test_a_fever_followed_by_a_normal_temperature_the_same_day_is_still_a_fever():
    # clinical-reference v2: R-FEVER uses the highest temperature of the last 24 h (paracetamol brings it down).
    entries = [symptoms(at=NOW - timedelta(hours=6), temperature_c=38.5), symptoms(temperature_c=37.0)]
    f = run(entries)["R-FEVER"]
    assert f.tier is Tier.URGENT and "38.5 °C" in f.facts


@pytest.mark.parametrize("highest,fires", [(37.9, False), (38.0, True), (38.6, True)])
def test_fever_uses_the_highest_temperature_of_the_last_24_hours(highest, fires):
    entries = [
        symptoms(at=NOW - timedelta(hours=8), temperature_c=highest),
        symptoms(at=NOW - timedelta(hours=4), temperature_c=37.2),
    ]
    assert ("R-FEVER" in run(entries)) is fires


@pytest.mark.parametrize("age,fires", [(timedelta(hours=24), True), (timedelta(hours=24, minutes=1), False)])
def test_the_highest_temperature_window_is_24_hours(age, fires):
    entries = [symptoms(at=NOW - age, temperature_c=38.6), symptoms(at=NOW - timedelta(hours=1), temperature_c=37.0)]
    assert ("R-FEVER" in run(entries)) is fires


@pytest.mark.parametrize(
    "age,fires",
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24), True), (timedelta(hours=24, minutes=1), False)],
)
def test_symptom_answers_count_for_24_hours(age, fires):
    assert ("R-NV-3" in run([symptoms(at=NOW - age, vomiting_episodes=7)])) is fires


def test_entries_stamped_slightly_after_now_still_count():
    assert "R-FEVER" in run([symptoms(at=NOW + timedelta(minutes=5), temperature_c=39.0)])


def test_a_lab_value_counts_until_a_newer_one():
    entries = [
        LabEntry(NOW - timedelta(days=20), sodium_mmol_l=128),
        LabEntry(NOW - timedelta(days=30), sodium_mmol_l=140),
    ]
    assert "R-NA" in run(entries)
    assert "R-NA" not in run(entries + [LabEntry(NOW - timedelta(days=1), sodium_mmol_l=136)])


# ---------------------------------------------------------------- labs


@pytest.mark.parametrize("regimen", ["Xd", "XVd", "DLBCL"])
@pytest.mark.parametrize("sodium,fires", [(129, True), (130, True), (130.1, False), (131, False)])
def test_sodium_130_or_less_interrupts_in_every_regimen(regimen, sodium, fires):
    found = run([LabEntry(RECENT, sodium_mmol_l=sodium)], regimen=regimen)
    assert ("R-NA" in found) is fires
    if fires:
        assert (found["R-NA"].tier, found["R-NA"].action, found["R-NA"].family) == (
            Tier.SAME_DAY,
            Action.INTERRUPT,
            "labs",
        )


PLT = ("R-PLT-75", "R-PLT-75B", "R-PLT-25", "R-LAB-DLBCL")


@pytest.mark.parametrize("regimen", ["Xd", "XVd"])
@pytest.mark.parametrize(
    "platelets,bleeding,rule",
    [
        (75, None, None),
        (74.9, None, "R-PLT-75"),
        (25, None, "R-PLT-75"),
        (24.9, None, "R-PLT-25"),
        (74.9, "minor", "R-PLT-75B"),
        (25, "major", "R-PLT-75B"),
        (24.9, "major", "R-PLT-25"),
        (50, "none", "R-PLT-75"),
    ],
)
def test_platelets_in_multiple_myeloma(regimen, platelets, bleeding, rule):
    entries = [LabEntry(RECENT, platelets_10e9_l=platelets)] + ([symptoms(bleeding=bleeding)] if bleeding else [])
    found = only(run(entries, regimen=regimen), *PLT)
    assert list(found) == ([rule] if rule else [])


@pytest.mark.parametrize(
    "rule,tier,action",
    [
        ("R-PLT-75", Tier.SAME_DAY, Action.REDUCE),
        ("R-PLT-75B", Tier.URGENT, Action.INTERRUPT),
        ("R-PLT-25", Tier.URGENT, Action.INTERRUPT),
    ],
)
def test_platelet_rules_tier_and_action(rule, tier, action):
    value, bleeding = {"R-PLT-75": (60, None), "R-PLT-75B": (60, "minor"), "R-PLT-25": (10, None)}[rule]
    entries = [LabEntry(RECENT, platelets_10e9_l=value)] + ([symptoms(bleeding=bleeding)] if bleeding else [])
    f = run(entries)[rule]
    assert (f.tier, f.action, f.family) == (tier, action, "labs")
    assert (f.resume_level, f.resume_dose) == (1, "100 mg once weekly")


ANC = ("R-ANC-1", "R-ANC-05")


@pytest.mark.parametrize(
    "anc,temp,rule",
    [
        (1.01, None, None),
        (1.0, None, "R-ANC-1"),
        (0.5, None, "R-ANC-1"),
        (0.49, None, "R-ANC-05"),
        (0.9, 38.0, "R-ANC-05"),
        (0.9, 37.9, "R-ANC-1"),
        (1.0, 38.0, "R-ANC-05"),
        (1.01, 38.5, None),
    ],
)
def test_anc_in_multiple_myeloma(anc, temp, rule):
    entries = [LabEntry(RECENT, anc_10e9_l=anc)] + ([symptoms(temperature_c=temp)] if temp else [])
    found = only(run(entries, regimen="XVd"), *ANC)
    assert list(found) == ([rule] if rule else [])


def test_issue_10_fever_brought_down_then_low_anc_is_febrile_neutropenia():
    # 38.6 °C, then 37.2 °C four hours later (after paracetamol), then an ANC of 0.8.
    t0 = NOW - timedelta(hours=10)
    entries = [
        symptoms(at=t0, temperature_c=38.6),
        symptoms(at=t0 + timedelta(hours=4), temperature_c=37.2),
        LabEntry(t0 + timedelta(hours=6), anc_10e9_l=0.8),
    ]
    found = only(run(entries, regimen="XVd"), *ANC)
    assert list(found) == ["R-ANC-05"]
    assert (found["R-ANC-05"].tier, found["R-ANC-05"].action) == (Tier.URGENT, Action.INTERRUPT)
    assert "38.6" in found["R-ANC-05"].facts and "no fever" not in found["R-ANC-05"].facts


@pytest.mark.parametrize(
    "offset,rule",
    [
        (-timedelta(hours=24, minutes=1), "R-ANC-1"),
        (-timedelta(hours=24), "R-ANC-05"),
        (-timedelta(hours=23), "R-ANC-05"),
        (timedelta(hours=23), "R-ANC-05"),
        (timedelta(hours=24), "R-ANC-05"),
        (timedelta(hours=24, minutes=1), "R-ANC-1"),
    ],
)
def test_anc_05_counts_a_fever_in_the_24_hours_before_or_after_the_sample(offset, rule):
    sample = NOW - timedelta(hours=30)
    entries = [LabEntry(sample, anc_10e9_l=1.0), symptoms(at=sample + offset, temperature_c=38.0)]
    # evaluated late, after both were entered: the window is around the sample, not around now
    found = only(run(entries, regimen="Xd", now=max(NOW, sample + offset + timedelta(minutes=1))), *ANC)
    assert list(found) == [rule]


@pytest.mark.parametrize("anc,rule", [(0.99, "R-ANC-05"), (1.0, "R-ANC-05"), (1.01, None)])
def test_anc_at_or_below_1_with_fever_is_febrile_neutropenia(anc, rule):
    entries = [
        symptoms(at=NOW - timedelta(hours=20), temperature_c=38.2),
        symptoms(at=NOW - timedelta(hours=2), temperature_c=36.9),
        LabEntry(RECENT, anc_10e9_l=anc),
    ]
    assert list(only(run(entries), *ANC)) == ([rule] if rule else [])


def test_anc_1_facts_never_say_no_fever_when_one_was_reported():
    # a fever 3 days before the sample: outside the window, so R-ANC-1; the facts name the window, not "no fever"
    entries = [
        symptoms(at=RECENT - timedelta(days=3), temperature_c=38.9),
        symptoms(at=RECENT - timedelta(hours=2), temperature_c=37.4),
        LabEntry(RECENT, anc_10e9_l=0.8),
    ]
    f = run(entries)["R-ANC-1"]
    assert "no fever reported" not in f.facts
    assert "24 h before or after the sample" in f.facts and "37.4" in f.facts


def test_anc_rules_tier_and_action():
    assert (
        run([LabEntry(RECENT, anc_10e9_l=0.8)])["R-ANC-1"].tier,
        run([LabEntry(RECENT, anc_10e9_l=0.8)])["R-ANC-1"].action,
    ) == (Tier.SAME_DAY, Action.REDUCE)
    f = run([LabEntry(RECENT, anc_10e9_l=0.3)])["R-ANC-05"]
    assert (f.tier, f.action) == (Tier.URGENT, Action.INTERRUPT)


@pytest.mark.parametrize("hgb,fires", [(7.9, True), (8.0, False), (8.1, False)])
def test_hemoglobin_below_8_reduces(hgb, fires):
    found = run([LabEntry(RECENT, hemoglobin_g_dl=hgb)])
    assert ("R-HGB-8" in found) is fires
    if fires:
        assert (found["R-HGB-8"].tier, found["R-HGB-8"].action) == (Tier.SAME_DAY, Action.REDUCE)


@pytest.mark.parametrize(
    "lab,fires",
    [
        (dict(platelets_10e9_l=74.9), True),
        (dict(platelets_10e9_l=75), False),
        (dict(platelets_10e9_l=10), True),
        (dict(anc_10e9_l=1.0), True),
        (dict(anc_10e9_l=1.01), False),
        (dict(hemoglobin_g_dl=7.9), True),
        (dict(hemoglobin_g_dl=8.0), False),
    ],
)
def test_dlbcl_low_counts_go_to_staff_review_not_mm_rules(lab, fires):
    found = run([LabEntry(RECENT, **lab)], regimen="DLBCL")
    assert ("R-LAB-DLBCL" in found) is fires
    assert not {"R-PLT-75", "R-PLT-75B", "R-PLT-25", "R-ANC-1", "R-ANC-05", "R-HGB-8"} & set(found)
    if fires:
        f = found["R-LAB-DLBCL"]
        assert (f.tier, f.action, f.family) == (Tier.SAME_DAY, Action.EVALUATE, "labs")


# ---------------------------------------------------------------- tier rules of section 3


def _now_before_next_dose(delta):
    dose = dose_on_local_date(setup_for(), date(2026, 3, 16))
    return dose.utc - delta


@pytest.mark.parametrize(
    "before_dose,tier",
    [
        (timedelta(hours=11, minutes=59), Tier.URGENT),
        (timedelta(hours=12), Tier.SAME_DAY),
        (timedelta(hours=12, minutes=1), Tier.SAME_DAY),
    ],
)
def test_an_interrupt_becomes_urgent_when_the_next_dose_is_less_than_12_hours_away(before_dose, tier):
    now = _now_before_next_dose(before_dose)
    f = run([WeightEntry(now - timedelta(hours=1), 85.0)], now=now)["R-WT-10"]
    assert f.tier is tier
    if tier is Tier.URGENT:
        assert "Call your care team now" in told(f) and "Do not take your next selinexor dose" in told(f)


@pytest.mark.parametrize(
    "before_dose,tier",
    [
        (timedelta(hours=11, minutes=59), Tier.URGENT),
        (timedelta(hours=12), Tier.SAME_DAY),
        (timedelta(hours=12, minutes=1), Tier.SAME_DAY),
    ],
)
@pytest.mark.parametrize(
    "lab,rule",
    [
        (dict(hemoglobin_g_dl=7.5), "R-HGB-8"),
        (dict(platelets_10e9_l=60), "R-PLT-75"),
        (dict(anc_10e9_l=0.8), "R-ANC-1"),
    ],
)
def test_a_reduce_finding_becomes_urgent_when_the_next_dose_is_less_than_12_hours_away(before_dose, tier, lab, rule):
    # clinical-reference: section 3 v2 (the 12-hour rule covers every finding that changes the next dose)
    now = _now_before_next_dose(before_dose)
    f = run([LabEntry(now, **lab)], now=now)[rule]
    assert f.tier is tier
    assert ("less than 12 hours away" in f.facts) is (tier is Tier.URGENT)


@pytest.mark.parametrize(
    "before_dose,tier",
    [
        (timedelta(hours=11, minutes=59), Tier.URGENT),
        (timedelta(hours=12), Tier.SAME_DAY),
        (timedelta(hours=13), Tier.SAME_DAY),
    ],
)
def test_r_ladder_becomes_urgent_when_the_next_dose_is_less_than_12_hours_away(before_dose, tier):
    now = _now_before_next_dose(before_dose)
    f = run([LabEntry(now, hemoglobin_g_dl=7.5)], now=now, level=3)["R-LADDER"]
    assert (f.tier, f.action) == (tier, Action.DISCONTINUE)


def test_an_evaluate_finding_does_not_escalate_under_the_12_hour_rule():
    now = _now_before_next_dose(timedelta(hours=1))
    assert run([symptoms(at=now, vision_change=True)], now=now)["R-EYE"].tier is Tier.ROUTINE


@pytest.mark.parametrize("logged,tier", [(None, Tier.URGENT), ("taken", Tier.SAME_DAY), ("vomited", Tier.SAME_DAY)])
def test_a_dose_already_logged_today_is_not_the_next_dose(logged, tier):
    # Wednesday 11 March: the 08:00 dose was taken early at 07:00; at 07:30 a low sodium arrives. The next dose is
    # Monday 16 March, days away: same_day, not urgent (clinical-reference: section 3 v2).
    now = datetime(2026, 3, 11, 11, 30, tzinfo=UTC)  # 07:30 New York (EDT from 8 March)
    entries = [dose_log(date(2026, 3, 9))] + ([dose_log(date(2026, 3, 11), logged, hour=7)] if logged else [])
    f = run(entries + [LabEntry(now, sodium_mmol_l=128)], now=now)["R-NA"]
    assert f.tier is tier


def test_an_interrupt_on_a_held_plan_does_not_escalate():
    now = _now_before_next_dose(timedelta(hours=1))
    assert run([WeightEntry(now, 85.0)], now=now, status=PlanStatus.HELD)["R-WT-10"].tier is Tier.SAME_DAY


def test_same_day_interrupt_tells_the_patient_to_wait_for_the_team():
    advice = told(run([WeightEntry(RECENT, 85.0)])["R-WT-10"])
    assert advice.startswith(
        "Your care team will contact you today. Do not take your next selinexor dose until they do."
    )


def test_findings_are_sorted_most_severe_first_and_worst_tier():
    findings = evaluate(state_for([WeightEntry(RECENT, 93.0), symptoms(temperature_c=39.0, nausea=1)]), NOW)
    ranks = [f.tier.rank for f in findings]
    assert ranks == sorted(ranks, reverse=True)
    assert worst_tier(findings) is Tier.URGENT
    assert worst_tier([]) is None


def test_tier_ordering_helper():
    assert Tier.URGENT.rank > Tier.SAME_DAY.rank > Tier.ROUTINE.rank > Tier.SELF_CARE.rank
    assert Tier.highest([Tier.ROUTINE, Tier.SAME_DAY]) is Tier.SAME_DAY


def test_every_rule_has_a_known_family_and_the_enums_have_the_issue_values():
    assert {r.family for r in RULES.values()} <= set(FAMILIES)
    assert [a.value for a in Action] == ["continue_supportive", "reduce", "interrupt", "discontinue", "evaluate"]
    assert [t.value for t in Tier] == ["urgent", "same_day", "routine", "self_care"]


def test_rules_table_covers_section_4():
    assert set(RULES) == {
        "R-NV-12",
        "R-NV-3",
        "R-DIA-2",
        "R-DIA-2R",
        "R-DIA-3",
        "R-WT-5",
        "R-WT-10",
        "R-WT-20",
        "R-ANX-3",
        "R-FAT-2",
        "R-FAT-3",
        "R-FEVER",
        "R-BLEED",
        "R-NEURO",
        "R-EYE",
        "R-NA",
        "R-PLT-75",
        "R-PLT-75B",
        "R-PLT-25",
        "R-ANC-1",
        "R-ANC-05",
        "R-HGB-8",
        "R-LAB-DLBCL",
        "R-WRONG-DAY",
        "R-MISS-2",
        "R-NO-WT",
        "R-NO-AE",
        "R-NO-DELIVERY",
        "R-RESUME",
        "R-LADDER",
        "R-PLAN-UNSEEN",
        "R-CHECKLIST",
        "R-TEACH-BACK",
    }


# ---------------------------------------------------------------- R-PLAN-UNSEEN (section 4c, v2)


@pytest.mark.parametrize(
    "before_dose,fires",
    [
        (timedelta(hours=12, minutes=1), False),
        (timedelta(hours=12), True),
        (timedelta(hours=11, minutes=59), True),
        (timedelta(minutes=1), True),
        (timedelta(0), False),
    ],
)
def test_an_unacknowledged_plan_change_opens_a_same_day_alert_12_hours_before_the_next_affected_dose(
    before_dose, fires
):
    dose_at = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)  # Monday 08:00 New York
    now = dose_at - before_dose
    found = run(
        [],
        now=now,
        unacknowledged_plan_change_at=now - timedelta(days=2),
        next_affected_dose_at=dose_at,
        last_delivered_at=now - timedelta(hours=1),
    )
    assert ("R-PLAN-UNSEEN" in found) is fires
    if fires:
        f = found["R-PLAN-UNSEEN"]
        assert (f.tier, f.family, f.action) == (Tier.SAME_DAY, "adherence", Action.EVALUATE)


@pytest.mark.parametrize(
    "changed,dose", [(None, datetime(2026, 3, 12, 20, 0, tzinfo=UTC)), (datetime(2026, 3, 10, 12, 0, tzinfo=UTC), None)]
)
def test_no_plan_unseen_without_a_pending_notice_or_an_affected_dose(changed, dose):
    assert "R-PLAN-UNSEEN" not in run([], unacknowledged_plan_change_at=changed, next_affected_dose_at=dose)


def test_plan_unseen_inputs_must_be_aware():
    with pytest.raises(ClinicalValidationError):
        state_for(unacknowledged_plan_change_at=datetime(2026, 3, 10, 12, 0))


# ---------------------------------------------------------------- ladder


@pytest.mark.parametrize(
    "regimen,level,resume_level,resume_dose",
    [
        ("Xd", 0, 1, "100 mg once weekly"),
        ("Xd", 1, 2, "80 mg once weekly"),
        ("Xd", 2, 3, "60 mg once weekly"),
        ("Xd", 3, None, "discontinue"),
        ("XVd", 2, 3, "40 mg once weekly"),
        ("XVd", 3, None, "discontinue"),
        ("DLBCL", 0, 1, "40 mg on Days 1 and 3 (80 mg a week)"),
        ("DLBCL", 1, 2, "60 mg once weekly"),
        ("DLBCL", 3, None, "discontinue"),
    ],
)
def test_interrupt_names_the_level_to_resume_at(regimen, level, resume_level, resume_dose):
    f = run([WeightEntry(RECENT, 85.0)], regimen=regimen, level=level)["R-WT-10"]
    assert (f.resume_level, f.resume_dose) == (resume_level, resume_dose)


@pytest.mark.parametrize(
    "entries,due",
    [
        ([WeightEntry(RECENT, 85.0)], True),  # interrupt
        ([LabEntry(RECENT, hemoglobin_g_dl=7.0)], True),  # reduce
        ([WeightEntry(RECENT, 93.0)], False),  # evaluate
        ([symptoms(nausea=2)], False),  # continue_supportive
    ],
)
def test_a_reduction_due_at_the_last_level_raises_r_ladder(entries, due):
    found = run(entries, level=3)
    assert ("R-LADDER" in found) is due
    if due:
        f = found["R-LADDER"]
        assert (f.tier, f.action, f.resume_level, f.resume_dose) == (
            Tier.SAME_DAY,
            Action.DISCONTINUE,
            None,
            "discontinue",
        )


def test_no_ladder_finding_above_the_last_level():
    assert "R-LADDER" not in run([WeightEntry(RECENT, 85.0)], level=2)


# ---------------------------------------------------------------- resume

RESUME_CASES = [
    # (hold_rule, evidence that meets the criterion, evidence that does not)
    ("R-NV-3", [symptoms(nausea=2, vomiting_episodes=5)], [symptoms(nausea=2, vomiting_episodes=6)]),
    ("R-NV-3", [symptoms(nausea=2, vomiting_episodes=0)], [symptoms(nausea=3, vomiting_episodes=0)]),
    ("R-NV-3", [symptoms(nausea=0, vomiting_episodes=0)], [symptoms(nausea=0)]),
    ("R-DIA-3", [symptoms(loose_stools=7)], [symptoms(loose_stools=8)]),  # usual 1: 6 above vs 7 above
    ("R-WT-10", [WeightEntry(RECENT, 90.1)], [WeightEntry(RECENT, 90.0)]),
    ("R-WT-20", [WeightEntry(RECENT, 91.0)], [WeightEntry(RECENT, 85.0)]),
    ("R-ANX-3", [WeightEntry(RECENT, 92.0), symptoms(appetite=2)], [WeightEntry(RECENT, 92.0), symptoms(appetite=3)]),
    ("R-FAT-2", [symptoms(fatigue=1)], [symptoms(fatigue=2)]),
    ("R-FAT-3", [symptoms(fatigue=0)], [symptoms(fatigue=2)]),
    ("R-NA", [LabEntry(RECENT, sodium_mmol_l=131)], [LabEntry(RECENT, sodium_mmol_l=130)]),
    ("R-PLT-75B", [symptoms(bleeding="none")], [symptoms(bleeding="minor")]),
    ("R-PLT-25", [LabEntry(RECENT, platelets_10e9_l=50)], [LabEntry(RECENT, platelets_10e9_l=49.9)]),
    ("R-ANC-05", [LabEntry(RECENT, anc_10e9_l=1.0)], [LabEntry(RECENT, anc_10e9_l=0.99)]),
]


@pytest.mark.parametrize("hold_rule,met,not_met", RESUME_CASES)
def test_resume_criterion_of_the_rule_that_caused_the_hold(hold_rule, met, not_met):
    found = run(met, status=PlanStatus.HELD, hold_rule=hold_rule)
    f = found["R-RESUME"]
    assert (f.tier, f.family) == (Tier.ROUTINE, RULES[hold_rule].family)
    assert (f.resume_level, f.resume_dose) == (1, "100 mg once weekly")
    assert "restart at level 1" in f.facts
    assert "R-RESUME" not in run(not_met, status=PlanStatus.HELD, hold_rule=hold_rule)


def test_no_resume_without_a_hold_or_when_active():
    assert "R-RESUME" not in run([WeightEntry(RECENT, 99.0)], status=PlanStatus.HELD)
    assert "R-RESUME" not in run([WeightEntry(RECENT, 99.0)], hold_rule="R-WT-10")


def test_resume_evidence_must_come_after_the_hold():
    entries = [WeightEntry(NOW - timedelta(days=3), 99.0)]
    assert "R-RESUME" in run(entries, status=PlanStatus.HELD, hold_rule="R-WT-10")
    assert "R-RESUME" not in run(entries, status=PlanStatus.HELD, hold_rule="R-WT-10", held_at=NOW - timedelta(days=2))


def test_resume_at_the_last_level_says_discontinue():
    found = run([LabEntry(RECENT, sodium_mmol_l=138)], status=PlanStatus.HELD, hold_rule="R-NA", level=3)
    assert found["R-RESUME"].resume_dose == "discontinue"
    assert "R-LADDER" in found


def test_unknown_hold_rule_is_refused():
    with pytest.raises(ClinicalValidationError):
        state_for(hold_rule="R-NOPE")


# ---------------------------------------------------------------- adherence and monitoring


def dose_log(day, status="taken", antiemetic=True, hour=8):
    at = datetime.combine(day, time(hour, 0)).replace(tzinfo=setup_for().zone)
    return DoseEntry(at=at, status=status, antiemetic_taken=antiemetic)


GOOD_LOGS = [dose_log(date(2026, 3, 9)), dose_log(date(2026, 3, 11))]


def test_a_dose_on_a_day_with_no_scheduled_dose_is_wrong_day():
    f = run(GOOD_LOGS + [dose_log(date(2026, 3, 12), hour=9)])["R-WRONG-DAY"]
    assert (f.tier, f.family) == (Tier.SAME_DAY, "adherence")
    assert told(f).startswith(
        "Your care team will contact you today. Selinexor is not taken every day; your next dose is Monday, March 16 at"
    )


def test_a_second_dose_on_one_day_is_wrong_day():
    assert "R-WRONG-DAY" in run(GOOD_LOGS + [dose_log(date(2026, 3, 11), hour=10)])


def test_taken_then_vomited_is_one_dose():
    assert "R-WRONG-DAY" not in run(GOOD_LOGS + [dose_log(date(2026, 3, 11), "vomited", hour=9)])


@pytest.mark.parametrize(
    "statuses,second_dose",
    [
        (("taken",), False),
        (("vomited",), False),
        (("taken", "vomited"), False),
        (("vomited", "taken"), True),
        (("taken", "vomited", "taken"), True),
        (("vomited", "vomited"), True),
        (("taken", "taken"), True),
    ],
)
def test_a_dose_swallowed_after_a_vomited_dose_the_same_day_is_a_second_dose(statuses, second_dose):
    # clinical-reference: P-VOMITED, R-WRONG-DAY (v2: vomited then taken on the same local day is a second dose)
    logs = [dose_log(date(2026, 3, 9))] + [
        dose_log(date(2026, 3, 11), status, hour=8 + i) for i, status in enumerate(statuses)
    ]
    found = run(logs)
    assert ("R-WRONG-DAY" in found) is second_dose
    if second_dose:
        assert (
            "2 doses logged on Wednesday 11 March" in found["R-WRONG-DAY"].facts
            or "3 doses" in found["R-WRONG-DAY"].facts
        )


def test_correct_days_are_not_wrong_day():
    assert "R-WRONG-DAY" not in run(GOOD_LOGS)


def test_a_wednesday_dose_after_the_switch_to_once_weekly_is_wrong_day():
    assert "R-WRONG-DAY" in run(GOOD_LOGS, level=1)


def test_doses_before_the_current_plan_are_not_checked_against_its_pattern():
    since = datetime(2026, 3, 11, 20, 0, tzinfo=UTC)
    assert "R-WRONG-DAY" not in run(GOOD_LOGS, level=1, plan_since=since)


def test_a_dose_taken_while_held_is_wrong_day():
    assert "R-WRONG-DAY" in run([dose_log(date(2026, 3, 11))], status=PlanStatus.HELD)


def test_two_missed_doses_in_a_row():
    f = run([dose_log(date(2026, 3, 4))])["R-MISS-2"]
    assert (f.tier, f.family) == (Tier.ROUTINE, "adherence")
    assert "Monday 9 March and Wednesday 11 March" in f.facts


@pytest.mark.parametrize("logs", [GOOD_LOGS, [dose_log(date(2026, 3, 9))], [dose_log(date(2026, 3, 11), "vomited")]])
def test_one_missed_dose_or_a_vomited_dose_is_not_two_missed(logs):
    assert "R-MISS-2" not in run(logs)


def test_missed_logs_count_as_missed():
    logs = [dose_log(date(2026, 3, 9), "missed"), dose_log(date(2026, 3, 11), "missed")]
    assert "R-MISS-2" in run(logs)


def test_doses_on_hold_are_not_missed():
    assert "R-MISS-2" not in run([], status=PlanStatus.HELD)


def test_today_s_dose_is_not_missed_before_the_day_ends():
    now = datetime(2026, 3, 11, 23, 0, tzinfo=UTC)  # Wednesday 19:00 local
    assert "R-MISS-2" not in run([dose_log(date(2026, 3, 4))], now=now)


@pytest.mark.parametrize("age,fires", [(timedelta(days=6, hours=23), False), (timedelta(days=7), True)])
def test_no_weight_for_7_days_in_the_first_8_weeks(age, fires):
    found = run([WeightEntry(NOW - age, 99.0)])
    assert ("R-NO-WT" in found) is fires


@pytest.mark.parametrize("age,fires", [(timedelta(days=13, hours=23), False), (timedelta(days=14), True)])
def test_no_weight_for_14_days_after_week_8(age, fires):
    now = datetime(2026, 5, 20, 16, 0, tzinfo=UTC)
    found = run([WeightEntry(now - age, 99.0)], now=now, last_delivered_at=now)
    assert ("R-NO-WT" in found) is fires
    if fires:
        assert found["R-NO-WT"].tier is Tier.ROUTINE


def test_no_weight_since_enrollment_counts_from_enrollment():
    assert "R-NO-WT" not in run([], enrolled_at=NOW - timedelta(days=3))
    assert "R-NO-WT" in run([], enrolled_at=NOW - timedelta(days=8))


@pytest.mark.parametrize(
    "antiemetics,tier",
    [
        ((True, True), None),
        ((True, False), Tier.SELF_CARE),
        ((False, False), Tier.ROUTINE),
        ((True, None), Tier.SELF_CARE),
        ((False, True), None),
    ],
)
def test_dose_without_antiemetic(antiemetics, tier):
    logs = [
        dose_log(date(2026, 3, 9), antiemetic=antiemetics[0]),
        dose_log(date(2026, 3, 11), antiemetic=antiemetics[1]),
    ]
    found = run(logs)
    assert (found["R-NO-AE"].tier if "R-NO-AE" in found else None) is tier


@pytest.mark.parametrize("age,fires", [(timedelta(days=6, hours=23), False), (timedelta(days=7), True)])
def test_no_delivery_for_7_days(age, fires):
    assert ("R-NO-DELIVERY" in run([], last_delivered_at=NOW - age)) is fires


def test_sms_opt_out_is_flagged():
    f = run([], sms_opted_out=True)["R-NO-DELIVERY"]
    assert (f.tier, f.family) == (Tier.ROUTINE, "adherence")


def test_discontinued_patients_get_no_monitoring_reminders():
    found = run([], status=PlanStatus.DISCONTINUED, last_delivered_at=NOW - timedelta(days=30))
    assert not {"R-NO-WT", "R-NO-DELIVERY", "R-MISS-2", "R-NO-AE"} & set(found)


def test_a_clean_state_has_no_findings():
    entries = GOOD_LOGS + [
        WeightEntry(RECENT, 99.0),
        symptoms(
            nausea=0,
            vomiting_episodes=0,
            loose_stools=1,
            fatigue=1,
            temperature_c=36.8,
            chills=False,
            bleeding="none",
            neuro="none",
            vision_change=False,
            appetite=1,
        ),
    ]
    assert evaluate(state_for(entries), NOW) == []


# ---------------------------------------------------------------- entry validation


@pytest.mark.parametrize(
    "make,field",
    [
        (lambda: WeightEntry(RECENT, 400), "weight_kg"),
        (lambda: SymptomEntry(RECENT, temperature_c=50), "temperature_c"),
        (lambda: SymptomEntry(RECENT, nausea=4), "nausea"),
        (lambda: SymptomEntry(RECENT, bleeding="some"), "bleeding"),
        (lambda: SymptomEntry(RECENT, vomiting_episodes=51), "vomiting_episodes"),
        (lambda: LabEntry(RECENT, sodium_mmol_l=99), "sodium_mmol_l"),
        (lambda: DoseEntry(RECENT, "double"), "status"),
        (lambda: WeightEntry(datetime(2026, 3, 2, 8), 70), "at"),
    ],
)
def test_implausible_entries_are_refused(make, field):
    with pytest.raises(ClinicalValidationError) as err:
        make()
    assert err.value.field == field


def test_evaluate_needs_an_aware_now():
    with pytest.raises(ClinicalValidationError):
        evaluate(state_for(), datetime(2026, 3, 12, 12))
