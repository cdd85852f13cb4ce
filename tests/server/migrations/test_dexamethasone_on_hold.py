"""The dexamethasone-on-hold migration: plans get the staff choice for dexamethasone during a hold (clinical reference v2, §1)."""

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, select

from server.db import create_db_engine
from server.migrate import alembic_config, upgrade
from server.models import TreatmentPlan
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url, require

BEFORE = "5b1e0c7a9d21"


def _columns(engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("treatment_plan")}


def _check_round_trip(url: str, settings, clock) -> None:
    from server.demo import seed_demo

    upgrade(url)
    engine = create_db_engine(url)
    seed_demo(engine, settings, clock.now())
    with Session(engine) as s:
        plan = s.exec(select(TreatmentPlan).order_by(TreatmentPlan.id)).first()
        plan.status, plan.dexamethasone_on_hold = "held", "hold"
        s.add(plan)
        s.commit()
    command.downgrade(alembic_config(url), BEFORE)
    assert "dexamethasone_on_hold" not in _columns(engine)
    with engine.begin() as conn:  # a plan held by the previous code: dexamethasone was dropped silently
        held = conn.execute(sa.text("SELECT count(*) FROM treatment_plan WHERE status = 'held'")).scalar_one()
    assert held >= 1
    upgrade(url)
    with Session(engine) as s:
        choices = s.exec(select(TreatmentPlan.dexamethasone_on_hold)).all()
    engine.dispose()
    # existing rows (held ones included) keep dexamethasone: the reference forbids a silent stop
    assert choices and set(choices) == {"continue"}


def test_existing_plans_keep_dexamethasone_on_sqlite(tmp_path, settings, clock):
    _check_round_trip(f"sqlite:///{tmp_path / 'dexa.sqlite3'}", settings, clock)


@pytest.mark.postgres
def test_existing_plans_keep_dexamethasone_on_postgres(settings, clock):
    server = postgres_server_url()
    require(server is not None, "PostgreSQL")
    url = create_postgres_database(server, "mig")
    try:
        _check_round_trip(url, settings, clock)
    finally:
        drop_postgres_database(url)
