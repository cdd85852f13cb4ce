"""The periodic sweep: alerts that no entry triggers still reach a person, once."""

from datetime import timedelta

from sqlmodel import Session, select

from server.context import AppContext
from server.demo import seed_demo
from server.models import Alert
from server.services.sweep import sweep_patient_rules


def _alerts(engine, patient_id, rule=None, family=None):
    with Session(engine) as s:
        query = select(Alert).where(Alert.patient_id == patient_id)
        if rule:
            query = query.where(Alert.rule == rule)
        if family:
            query = query.where(Alert.family == family)
        return s.exec(query).all()


def test_a_quiet_patient_gets_an_adherence_alert_once_and_not_again_soon_after_it_is_resolved(settings, engine, clock):
    seed_demo(engine, settings, clock.now())
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    clock.advance(days=8)  # Maria (patient 1) logs nothing for over a week
    assert sweep_patient_rules(ctx, clock.now()) > 0
    alerts = _alerts(engine, 1, family="adherence")
    # Two dose days and a week without a weight: R-MISS-2 and R-NO-WT, one alert for the family (§4d).
    assert len(alerts) == 1 and alerts[0].rule in ("R-MISS-2", "R-NO-WT") and alerts[0].tier == "routine"
    clock.advance(minutes=10)
    assert sweep_patient_rules(ctx, clock.now()) == 0  # nothing new: no update, no event
    assert len(_alerts(engine, 1, family="adherence")) == 1
    with Session(engine) as s:
        alert = s.get(Alert, alerts[0].id)
        alert.status, alert.resolved_at = "resolved", clock.now()
        s.add(alert)
        s.commit()
    clock.advance(days=1)
    sweep_patient_rules(ctx, clock.now())
    assert len(_alerts(engine, 1, family="adherence")) == 1  # resolved a day ago: not reopened by the sweep
    clock.advance(days=7)
    sweep_patient_rules(ctx, clock.now())
    assert len(_alerts(engine, 1, family="adherence")) == 2


def test_an_open_interrupt_alert_becomes_urgent_when_the_next_dose_is_under_twelve_hours_away(settings, engine, clock):
    seed_demo(engine, settings, clock.now())
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    # Robert (patient 2) is ~12% below baseline: an open same-day R-WT-10 alert from the demo.
    [alert] = _alerts(engine, 2, "R-WT-10")
    assert alert.tier == "same_day"
    # His once-weekly dose is Tuesday 09:00 Chicago (15:00 UTC); the clock is Monday 14:00 UTC: 25 h away.
    clock.advance(hours=14)  # Tuesday 04:00 UTC: the dose is 11 h away
    sweep_patient_rules(ctx, clock.now())
    with Session(engine) as s:
        assert s.get(Alert, alert.id).tier == "urgent"


def test_a_sweep_reads_in_set_based_batches_whatever_the_number_of_patients(settings, engine, clock):
    from tests.statements import count_statements
    from tests.support.patient import make_patient

    seed_demo(engine, settings, clock.now())
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    sweep_patient_rules(ctx, clock.now())  # whatever the demo needs opened is opened now
    with count_statements(engine) as small:
        assert sweep_patient_rules(ctx, clock.now()) == 0
    for i in range(30):
        make_patient(engine, settings, clock.now(), mrn=f"QUIET-{i}", phone=None, weights=((timedelta(hours=1), 70.0),))
    sweep_patient_rules(ctx, clock.now())  # their alerts, if any, opened; the next sweep has nothing to write
    with count_statements(engine) as large:
        assert sweep_patient_rules(ctx, clock.now()) == 0
    assert large.count == small.count <= 8  # ids, then patients, plans, entries, open and resolved alerts


def _quiet_patients(engine, settings, clock, count: int) -> list[int]:
    from tests.support.patient import make_patient

    return [make_patient(engine, settings, clock.now(), mrn=f"QUIET-{i}", phone=None).id for i in range(count)]


def _open_by_family(engine, patient_ids) -> dict[tuple[int, str], int]:
    with Session(engine) as s:
        rows = s.exec(select(Alert).where(Alert.patient_id.in_(patient_ids), Alert.status != "resolved")).all()
    counts: dict[tuple[int, str], int] = {}
    for alert in rows:
        counts[(alert.patient_id, alert.family)] = counts.get((alert.patient_id, alert.family), 0) + 1
    return counts


def test_a_sweep_that_opens_many_alerts_inserts_them_together_one_transaction_per_write_batch(settings, engine, clock):
    from server.services.sweep import WRITE_BATCH
    from tests.statements import count_statements

    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    quiet = _quiet_patients(engine, settings, clock, 12)
    clock.advance(days=8)  # nobody logs anything for a week: an adherence alert for each of them
    with count_statements(engine) as log:
        changes = sweep_patient_rules(ctx, clock.now())
    opened = _open_by_family(engine, quiet)
    assert set(opened.values()) == {1}  # one open alert per family (§4d)
    assert {pid for pid, family in opened if family == "adherence"} == set(quiet) and changes == len(opened)
    batch = WRITE_BATCH[engine.dialect.name]
    batches = -(-len(quiet) // batch)  # ceiling
    alert_inserts = [s for s in log.statements if s.lstrip().upper().startswith("INSERT INTO ALERT ")]
    event_inserts = [s for s in log.statements if s.lstrip().upper().startswith("INSERT INTO ALERT_EVENT")]
    savepoints = [s for s in log.statements if s.lstrip().upper().startswith("SAVEPOINT")]
    assert len(savepoints) == batches  # the alerts to open go in together: one savepoint per write batch, not per alert
    if engine.dialect.name == "postgresql":  # and SQLAlchemy sends PostgreSQL one INSERT ... RETURNING for the lot
        assert len(alert_inserts) == len(event_inserts) == batches, (len(alert_inserts), len(event_inserts))
    else:  # SQLite gets a row at a time (batches of 2 there: its one write lock stays short)
        assert len(alert_inserts) == len(event_inserts) == len(quiet)
    assert log.transactions <= batches + 3  # the write batches, plus the sweep's reads


def test_an_alert_opened_by_someone_else_meanwhile_sends_the_batch_one_by_one_and_none_is_lost(
    settings, engine, clock, monkeypatch
):
    import server.services.sweep as sweep
    from server.clinical.rules import Tier

    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    quiet = _quiet_patients(engine, settings, clock, 4)
    clock.advance(days=8)
    # An entry opened the first patient's adherence alert after the sweep read its open alerts: the batch's INSERT
    # meets the one-open-alert-per-family index, and each alert is then opened (or updated) one by one.
    with Session(engine) as s:
        s.add(
            Alert(
                patient_id=quiet[0],
                family="adherence",
                rule="R-MISS-1",
                tier=Tier.ROUTINE.value,
                action="continue",
                facts="opened by an entry",
                opened_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        s.commit()
    real = sweep.open_alerts_of
    monkeypatch.setattr(sweep, "open_alerts_of", lambda session, ids: {pid: {} for pid in real(session, ids)})
    changes = sweep_patient_rules(ctx, clock.now())
    opened = _open_by_family(engine, quiet)
    assert set(opened.values()) == {1}  # still one open alert per family
    assert {pid for pid, family in opened if family == "adherence"} == set(quiet)  # nobody left out
    assert changes == len(opened)  # the others opened, the entry's one updated with the sweep's finding
    with Session(engine) as s:
        first = s.exec(select(Alert).where(Alert.patient_id == quiet[0], Alert.status != "resolved")).one()
    assert first.facts != "opened by an entry"
