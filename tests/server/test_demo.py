"""The demo seed builds a usable clinic and is idempotent."""

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from server.demo import DEMO_PASSWORD, DEMO_PATIENTS, seed_demo
from server.models import Patient, Staff, WeightEntry
from server.services.staff.accounts import verify_password


def _snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
            for t in SQLModel.metadata.sorted_tables
        }


def test_demo_seed_is_idempotent(engine, settings, clock):
    seed_demo(engine, settings, clock.now())
    first = _snapshot(engine)
    clock.advance(days=3)  # even on a later day, a second run adds nothing
    seed_demo(engine, settings, clock.now())
    assert _snapshot(engine) == first


def test_demo_has_staff_logins_and_three_patients_with_history(engine, settings, clock):
    result = seed_demo(engine, settings, clock.now())
    with Session(engine) as session:
        nurse = session.exec(select(Staff).where(Staff.email == result["staff"][0][0])).one()
        assert verify_password(nurse.password_hash, DEMO_PASSWORD)
        patients = session.exec(select(Patient)).all()
        assert len(patients) == len(DEMO_PATIENTS) == 3
        losing = session.exec(select(Patient).where(Patient.mrn == "DEMO-002")).one()
        weights = session.exec(
            select(WeightEntry).where(WeightEntry.patient_id == losing.id).order_by(WeightEntry.at)
        ).all()
    assert len(weights) >= 8  # a few weeks of history
    loss = 1 - weights[-1].kg / losing.baseline_weight_kg
    assert loss >= 0.10, f"the demo's weight-loss patient should be >=10% below baseline, is {loss:.1%}"
