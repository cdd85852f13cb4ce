"""On PostgreSQL, racing requests still store each key once and keep one open alert per family."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from server.clock import FrozenClock
from server.context import AppContext
from server.db import create_db_engine
from server.demo import seed_demo
from server.models import Alert, WeightEntry
from server.services.entries import record_weight
from server.settings import load_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ctx(pg_url, tmp_path, clock: FrozenClock):
    settings = load_settings(COMPANION_ENV="test", DATABASE_URL=pg_url, COMPANION_VAR_DIR=str(tmp_path))
    engine = create_db_engine(pg_url)
    seed_demo(engine, settings, clock.now())
    yield AppContext(settings=settings, engine=engine, clock=clock)
    engine.dispose()


def test_the_same_key_sent_eight_times_at_once_is_stored_once(pg_ctx, clock):
    def send(_):
        return record_weight(pg_ctx, 1, key="race-weight-1", at=clock.now(), value=67.0, unit="kg")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    assert len({r.entry.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    with Session(pg_ctx.engine) as s:
        assert len(s.exec(select(WeightEntry).where(WeightEntry.idempotency_key == "race-weight-1")).all()) == 1


def test_racing_concerning_entries_keep_one_open_alert_per_family(pg_ctx, clock):
    def send(i):
        return record_weight(
            pg_ctx, 1, key=f"race-weight-{i:03d}", at=clock.now(), value=59.0 - i * 0.1, unit="kg", confirmed=True
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(16)))
    with Session(pg_ctx.engine) as s:
        open_alerts = s.exec(
            select(Alert).where(Alert.patient_id == 1, Alert.family == "weight", Alert.status != "resolved")
        ).all()
    assert len(open_alerts) == 1
