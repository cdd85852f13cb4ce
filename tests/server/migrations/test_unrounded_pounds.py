"""The 2026-11-29 data migration: weights entered in pounds get their unrounded kg back (clinical reference v2, 4a)."""

import pytest
from alembic import command
from sqlmodel import Session, select

from server.clinical.grading import lb_to_kg
from server.db import create_db_engine
from server.migrate import alembic_config, upgrade
from server.models import Patient, WeightEntry
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url, require

BEFORE = "383feb54cae7"
ROBERT = 2  # a demo patient who enters pounds


def _check_round_trip(url: str, settings, clock) -> None:
    from server.demo import seed_demo

    upgrade(url)
    engine = create_db_engine(url)
    seed_demo(engine, settings, clock.now())
    with Session(engine) as s:
        robert = s.get(Patient, ROBERT)
        assert robert.weight_unit == "lb"
        robert.baseline_weight_kg = lb_to_kg(150)
        s.add(robert)
        s.add(
            WeightEntry(
                patient_id=ROBERT,
                idempotency_key="mig-pounds-1",
                at=clock.now(),
                kg=lb_to_kg(135),
                entered_value=135.0,
                entered_unit="lb",
                recorded_at=clock.now(),
            )
        )
        s.commit()
    command.downgrade(alembic_config(url), BEFORE)
    with Session(engine) as s:
        assert s.get(Patient, ROBERT).baseline_weight_kg == 68.04  # what the old code stored
        assert s.exec(select(WeightEntry.kg).where(WeightEntry.idempotency_key == "mig-pounds-1")).one() == 61.23
    upgrade(url)
    with Session(engine) as s:
        baseline = s.get(Patient, ROBERT).baseline_weight_kg
        kg = s.exec(select(WeightEntry.kg).where(WeightEntry.idempotency_key == "mig-pounds-1")).one()
        maria = s.get(Patient, 1)
    engine.dispose()
    assert baseline == pytest.approx(lb_to_kg(150), abs=1e-9) and kg == pytest.approx(lb_to_kg(135), abs=1e-9)
    assert round((baseline - kg) / baseline * 100, 6) == 10.0  # the exact 10.0% loss is back
    assert maria.baseline_weight_kg == 68.0  # kg patients are untouched


def test_pound_weights_are_unrounded_on_sqlite(tmp_path, settings, clock):
    _check_round_trip(f"sqlite:///{tmp_path / 'pounds.sqlite3'}", settings, clock)


@pytest.mark.postgres
def test_pound_weights_are_unrounded_on_postgres(settings, clock):
    server = postgres_server_url()
    require(server is not None, "PostgreSQL")
    url = create_postgres_database(server, "mig")
    try:
        _check_round_trip(url, settings, clock)
    finally:
        drop_postgres_database(url)
