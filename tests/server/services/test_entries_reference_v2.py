"""Clinical reference version 2 through the entry service (issue 10): every door re-evaluates the whole state."""

from datetime import UTC, timedelta

import pytest
from sqlmodel import Session, select

from server.context import AppContext
from server.demo import seed_demo
from server.models import Alert
from server.services.entries import LabValues, SymptomAnswers, record_lab, record_symptoms

MARIA = 1  # DEMO-001, baseline 68.0 kg, Xd level 0, Mon/Wed 08:00 New York


@pytest.fixture
def ctx(settings, engine, clock):
    seed_demo(engine, settings, clock.now())
    return AppContext(settings=settings, engine=engine, clock=clock, publish=lambda c, d: None)


def _labs_alert(engine) -> Alert | None:
    with Session(engine) as s:
        return s.exec(
            select(Alert).where(Alert.patient_id == MARIA, Alert.family == "labs", Alert.status != "resolved")
        ).first()


# ---------------------------------------------------------------- item 1: febrile neutropenia (R-FEVER, R-ANC-05)


def test_a_lab_entered_after_a_fever_brought_down_is_febrile_neutropenia(ctx, clock):
    t0 = clock.now()
    record_symptoms(ctx, MARIA, key="fn-temp-high", at=t0, answers=SymptomAnswers(temperature_c=38.6))
    clock.advance(hours=4)
    record_symptoms(ctx, MARIA, key="fn-temp-lowr", at=clock.now(), answers=SymptomAnswers(temperature_c=37.2))
    clock.advance(hours=2)
    result = record_lab(
        ctx, MARIA, key="fn-lab-0001", collected_at=clock.now(), staff_id=None, values=LabValues(anc_10e9_l=0.8)
    )
    assert [f.rule for f in result.advice.findings if f.family == "labs"] == ["R-ANC-05"]
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.tier, alert.action) == ("R-ANC-05", "urgent", "interrupt")
    assert "no fever" not in alert.facts and "38.6" in alert.facts


def test_a_lab_entered_a_day_later_still_sees_the_fever_before_the_sample(ctx, clock):
    fever_at = clock.now()
    record_symptoms(ctx, MARIA, key="fn-temp-late", at=fever_at, answers=SymptomAnswers(temperature_c=38.0))
    clock.advance(hours=30)  # the lab result arrives the next day; the sample was taken 20 h after the fever
    record_lab(
        ctx,
        MARIA,
        key="fn-lab-0002",
        collected_at=fever_at + timedelta(hours=20),
        staff_id=None,
        values=LabValues(anc_10e9_l=1.0),
    )
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.tier) == ("R-ANC-05", "urgent")


def test_a_fever_entered_after_the_lab_turns_the_anc_alert_into_febrile_neutropenia(ctx, clock):
    record_lab(ctx, MARIA, key="fn-lab-0003", collected_at=clock.now(), staff_id=None, values=LabValues(anc_10e9_l=1.0))
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.tier) == ("R-ANC-1", "same_day")
    assert "no fever reported" not in alert.facts
    clock.advance(hours=6)
    result = record_symptoms(
        ctx, MARIA, key="fn-temp-after", at=clock.now(), answers=SymptomAnswers(temperature_c=38.1)
    )
    assert "R-ANC-05" in [f.rule for f in result.advice.findings]
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.tier, alert.action) == ("R-ANC-05", "urgent", "interrupt")


@pytest.mark.parametrize("temp,rule", [(37.9, "R-ANC-1"), (38.0, "R-ANC-05")])
def test_the_fever_threshold_at_the_service(ctx, clock, temp, rule):
    record_symptoms(ctx, MARIA, key=f"fn-th-{temp}", at=clock.now(), answers=SymptomAnswers(temperature_c=temp))
    clock.advance(hours=1)
    record_lab(
        ctx, MARIA, key=f"fn-lb-{temp}", collected_at=clock.now(), staff_id=None, values=LabValues(anc_10e9_l=0.9)
    )
    assert _labs_alert(ctx.engine).rule == rule


# ---------------------------------------------------------------- item 2: vomited then taken (P-VOMITED, R-WRONG-DAY)

MARIA_PHONE = "+15555550201"


def _doses(engine, pid=MARIA):
    from server.models import DoseEvent

    with Session(engine) as s:
        return s.exec(
            select(DoseEvent)
            .where(DoseEvent.patient_id == pid, DoseEvent.superseded_at.is_(None))
            .order_by(DoseEvent.at)
        ).all()


def _wrong_day_alert(engine):
    with Session(engine) as s:
        return s.exec(select(Alert).where(Alert.patient_id == MARIA, Alert.rule == "R-WRONG-DAY")).first()


@pytest.mark.parametrize(
    "first,then,second_dose", [("vomited", "taken", True), ("taken", "vomited", False), ("vomited", "vomited", True)]
)
def test_app_vomited_then_taken_the_same_day_is_a_second_dose(ctx, clock, first, then, second_dose):
    from server.services.entries import record_dose

    record_dose(ctx, MARIA, key="vt-dose-001", status=first, at=clock.now() - timedelta(minutes=50))
    clock.advance(minutes=30)
    result = record_dose(ctx, MARIA, key="vt-dose-002", status=then, at=clock.now())
    rules = [f.rule for f in result.advice.findings]
    assert ("R-WRONG-DAY" in rules) is second_dose
    assert (_wrong_day_alert(ctx.engine) is not None) is second_dose
    if second_dose:
        assert result.advice.tier == "same_day"
        assert any("not taken every day" in m for m in result.advice.messages)


def test_an_offline_replay_of_a_taken_dose_after_a_vomited_one_is_a_second_dose(ctx, clock):
    from server.services.entries import record_dose

    record_dose(ctx, MARIA, key="vt-dose-003", status="vomited", at=clock.now() - timedelta(minutes=55))
    clock.advance(hours=5)  # the phone comes back online and replays the log made at 09:30
    result = record_dose(
        ctx, MARIA, key="vt-dose-004", status="taken", at=clock.now() - timedelta(hours=4, minutes=30), source="offline"
    )
    assert "R-WRONG-DAY" in [f.rule for f in result.advice.findings]


def test_sms_t_after_an_app_vomited_log_is_stored_and_is_a_second_dose(ctx, clock):
    from server.services.entries import record_dose
    from server.services.sms_inbound import handle_inbound_sms

    record_dose(ctx, MARIA, key="vt-dose-005", status="vomited", at=clock.now() - timedelta(minutes=50))
    clock.advance(minutes=40)
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "v" * 32, from_number=MARIA_PHONE, to_number="+15555550100", body="T"
    )
    assert result.handled_as == "dose_taken"
    assert [d.status for d in _doses(ctx.engine)][-2:] == ["vomited", "taken"]
    assert _wrong_day_alert(ctx.engine) is not None
    assert "todos los días" in result.reply  # Maria reads Spanish: "not taken every day"


def test_sms_t_after_an_app_taken_log_is_still_already_recorded(ctx, clock):
    from server.services.entries import record_dose
    from server.services.sms_inbound import handle_inbound_sms

    record_dose(ctx, MARIA, key="vt-dose-006", status="taken", at=clock.now() - timedelta(minutes=50))
    clock.advance(minutes=40)
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "w" * 32, from_number=MARIA_PHONE, to_number="+15555550100", body="T"
    )
    assert result.handled_as == "dose_already_logged"
    assert [d.status for d in _doses(ctx.engine)][-1:] == ["taken"] and len(
        [d for d in _doses(ctx.engine) if str(d.scheduled_for) == "2026-03-02"]
    ) == 1
    assert _wrong_day_alert(ctx.engine) is None


# ---------------------------------------------------------------- item 5: the 12-hour rule, version 2 (section 3)


@pytest.mark.parametrize("hours_before,tier", [(11.9, "urgent"), (12, "same_day")])
def test_a_reduce_lab_becomes_urgent_less_than_12_hours_before_the_next_dose(ctx, clock, hours_before, tier):
    from datetime import datetime

    wednesday_dose = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
    clock.set(wednesday_dose - timedelta(hours=hours_before))
    record_lab(
        ctx,
        MARIA,
        key=f"tw-lab-{hours_before}",
        collected_at=clock.now(),
        staff_id=None,
        values=LabValues(hemoglobin_g_dl=7.5),
    )
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.action, alert.tier) == ("R-HGB-8", "reduce", tier)


def test_a_dose_taken_early_today_is_not_the_next_dose_at_the_service(ctx, clock):
    from datetime import datetime

    from server.services.entries import record_dose

    clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # Wednesday 07:00 New York, dose at 08:00
    record_dose(ctx, MARIA, key="tw-dose-early", status="taken", at=clock.now())
    clock.advance(minutes=30)
    record_lab(
        ctx, MARIA, key="tw-lab-early", collected_at=clock.now(), staff_id=None, values=LabValues(sodium_mmol_l=129)
    )
    alert = _labs_alert(ctx.engine)
    assert (alert.rule, alert.tier) == ("R-NA", "same_day")  # the next dose is Monday, not in 30 minutes


# ---------------------------------------------------------------- item 13: a first weight is confirmed against the baseline


def _forget_weights(engine, pid):
    from server.models import WeightEntry

    with Session(engine) as s:
        for row in s.exec(select(WeightEntry).where(WeightEntry.patient_id == pid)).all():
            s.delete(row)
        s.commit()


@pytest.mark.parametrize("kg,confirm", [(64.5, True), (64.6, False), (71.4, False), (71.5, True)])
def test_a_first_app_weight_is_confirmed_against_the_baseline(ctx, clock, kg, confirm):
    from server.services.entries import ConfirmationRequired, record_weight

    _forget_weights(ctx.engine, MARIA)  # baseline 68.0 kg; 5% = 64.6 .. 71.4
    if confirm:
        with pytest.raises(ConfirmationRequired, match=r"starting weight \(68 kg\)"):
            record_weight(ctx, MARIA, key=f"fw-app-{kg}", at=clock.now(), value=kg, unit="kg", source="offline")
        assert _alerts_of(ctx.engine, "weight") == []
    else:
        record_weight(ctx, MARIA, key=f"fw-app-{kg}", at=clock.now(), value=kg, unit="kg")


def test_a_first_weight_in_pounds_names_the_baseline_in_pounds(ctx, clock):
    from server.services.entries import ConfirmationRequired, record_weight

    robert = 2  # baseline 82.0 kg, enters pounds
    _forget_weights(ctx.engine, robert)
    with pytest.raises(ConfirmationRequired, match=r"starting weight \(180\.8 lb\)"):
        record_weight(ctx, robert, key="fw-app-lb", at=clock.now(), value=120, unit="lb")


def _alerts_of(engine, family):
    with Session(engine) as s:
        return s.exec(select(Alert).where(Alert.patient_id == MARIA, Alert.family == family)).all()


def test_a_first_sms_weight_typo_asks_for_confirmation_and_pages_nobody(ctx, clock):
    from server.models import OutboundMessage, WeightEntry
    from server.services.sms_inbound import handle_inbound_sms

    _forget_weights(ctx.engine, MARIA)
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "x" * 32, from_number=MARIA_PHONE, to_number="+15555550100", body="W 52"
    )
    assert result.handled_as == "weight_unconfirmed" and "68 kg" in result.reply
    with Session(ctx.engine) as s:
        assert s.exec(select(WeightEntry).where(WeightEntry.patient_id == MARIA)).all() == []
        assert s.exec(select(OutboundMessage).where(OutboundMessage.kind == "page")).all() == []
    assert _alerts_of(ctx.engine, "weight") == []
    clock.advance(minutes=2)
    confirmed = handle_inbound_sms(
        ctx, message_sid="SM" + "y" * 32, from_number=MARIA_PHONE, to_number="+15555550100", body="OK"
    )
    assert confirmed.handled_as == "weight"
    assert [a.rule for a in _alerts_of(ctx.engine, "weight")] == ["R-WT-20"]


# ---------------------------------------------------------------- item 4: pounds keep the boundary (section 4a)


def _set_baseline(engine, pid, kg):
    from server.models import Patient

    with Session(engine) as s:
        patient = s.get(Patient, pid)
        patient.baseline_weight_kg = kg
        s.add(patient)
        s.commit()


@pytest.mark.parametrize("baseline_lb", [101, 120, 150, 203])
@pytest.mark.parametrize("fraction,rule", [(0.9, "R-WT-10"), (0.8, "R-WT-20")])
def test_an_exact_loss_entered_in_pounds_is_exact(ctx, clock, baseline_lb, fraction, rule):
    from server.clinical.grading import lb_to_kg
    from server.services.entries import record_weight

    robert = 2
    _set_baseline(ctx.engine, robert, lb_to_kg(baseline_lb))
    result = record_weight(
        ctx,
        robert,
        key=f"lb-{baseline_lb}-{fraction}",
        at=clock.now(),
        value=round(baseline_lb * fraction, 1),
        unit="lb",
        confirmed=True,
    )
    weight = [f for f in result.advice.findings if f.family == "weight"]
    assert [f.rule for f in weight] == [rule]
    assert f"{int(round((1 - fraction) * 100))}.0% below" in weight[0].facts


@pytest.mark.parametrize("baseline_lb", [101, 120])
def test_a_baseline_entered_in_pounds_is_stored_unrounded(clock, baseline_lb):
    from server.clinical.grading import lb_to_kg
    from server.services.enrollment import EnrollmentForm, validate_enrollment

    form = EnrollmentForm(
        first_name="Ann",
        last_name="Lee",
        date_of_birth="1950-01-02",
        mrn="LB-1",
        phone="+12025550199",
        timezone="America/New_York",
        regimen="Xd",
        start_date=clock.now().date().isoformat(),
        baseline_weight=str(baseline_lb),
        weight_unit="lb",
        sms_consent="on",
    )
    assert validate_enrollment(form, clock.now()).baseline_weight_kg == lb_to_kg(baseline_lb)


# ---------------------------------------------------------------- item 9: SMS keywords are words, never a bare digit


@pytest.mark.parametrize("body", ["1", "0", "2", "3", " 1. ", "10"])
def test_a_bare_digit_is_never_a_dose_word(body):
    from server.services.sms_inbound import parse_command

    assert parse_command(body).kind == "unknown"


def test_an_sms_1_logs_no_dose(ctx, clock):
    from server.services.sms_inbound import handle_inbound_sms

    before = len(_doses(ctx.engine))
    result = handle_inbound_sms(
        ctx, message_sid="SM" + "d" * 32, from_number=MARIA_PHONE, to_number="+15555550100", body="1"
    )
    assert result.handled_as == "unknown" and len(_doses(ctx.engine)) == before


@pytest.mark.parametrize("body", ["T", "TAKEN", "TOMADA", "tomé"])
def test_dose_words_still_log_a_dose(body):
    from server.services.sms_inbound import parse_command

    assert parse_command(body).kind == "taken"


# ---------------------------------------------------------------- item 7: "missed" not before the dose's time (P-MISSED)


@pytest.mark.parametrize("minutes_after_dose,refused", [(-1, True), (0, False), (1, False)])
def test_missed_cannot_be_logged_before_the_dose_time(ctx, clock, minutes_after_dose, refused):
    from datetime import datetime

    from server.errors import FieldError
    from server.services.entries import NotMissedYet, record_dose

    dose = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
    clock.set(dose + timedelta(minutes=minutes_after_dose))
    if refused:
        with pytest.raises(NotMissedYet) as error:
            record_dose(ctx, MARIA, key="miss-early-1", status="missed", at=clock.now())
        assert isinstance(error.value, FieldError) and error.value.field == "status"
        assert error.value.message == "Your dose is at 8:00 AM: it is not missed yet."
        assert [d for d in _doses(ctx.engine) if str(d.scheduled_for) == "2026-03-04"] == []
    else:
        record_dose(ctx, MARIA, key="miss-early-1", status="missed", at=clock.now())


def test_missed_for_a_past_dose_day_is_accepted_any_time(ctx, clock):
    from datetime import date

    from server.services.entries import record_dose

    # Monday 09:00: Monday's 08:00 dose has passed
    result = record_dose(ctx, MARIA, key="miss-past-1", status="missed", at=clock.now(), scheduled_for=date(2026, 3, 2))
    assert not result.replayed
    assert (result.entry.status, result.entry.scheduled_for) == ("missed", date(2026, 3, 2))


def test_the_app_says_the_dose_is_not_missed_yet_in_the_patients_language():
    from server.i18n import translate

    assert (
        translate("es", "Your dose is at %(time)s: it is not missed yet.", time="8:00 a.m.")
        == "Su dosis es a las 8:00 a.m.: todavía no es una dosis olvidada."
    )
