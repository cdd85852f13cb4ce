from datetime import timedelta

from litestar.testing import TestClient
from sqlmodel import SQLModel

from server.app import create_app
from server.db import create_db_engine
from server.services.heartbeat import beat


def test_healthz_reports_ok_and_no_worker_yet(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker_heartbeat_age_s": None,
        "sms_channel": "console",
        "dispatch_lag_s": None,
        "unknown_messages": 0,
    }


def test_healthz_reports_worker_heartbeat_age(client, engine, clock):
    beat(engine, "worker-a", clock.now())
    clock.advance(seconds=42)
    assert client.get("/healthz").json()["worker_heartbeat_age_s"] == 42.0


def test_healthz_reports_dead_database_as_503(settings, clock):
    dead = create_db_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1, max_overflow=0, connect_args={"connect_timeout": 1}
    )
    with TestClient(create_app(settings, engine=dead, clock=clock)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_openapi_schema_is_served(client):
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/healthz" in response.json()["paths"]


def _outbox_row(engine, *, status: str, send_at, key: str) -> None:
    from server.db import session_scope

    table = SQLModel.metadata.tables["reminder"]
    with session_scope(engine) as session:
        session.execute(
            table.insert().values(
                dedupe_key=key,
                kind="dose",
                channel="sms",
                to_address="+15555550123",
                scheduled_for=send_at,
                send_at=send_at,
                status=status,
                attempts=0,
                created_at=send_at,
                updated_at=send_at,
            )
        )


def test_healthz_reports_the_lag_of_the_oldest_due_message_and_fails_past_the_limit(client, engine, clock, settings):
    beat(engine, "worker-a", clock.now())
    _outbox_row(engine, status="pending", send_at=clock.now() - timedelta(seconds=90), key="late-1")
    _outbox_row(engine, status="pending", send_at=clock.now() + timedelta(hours=1), key="future-1")
    body = client.get("/healthz").json()
    assert body["dispatch_lag_s"] == 90.0
    assert body["status"] == "ok"
    clock.advance(seconds=settings.dispatch_lag_limit_seconds)  # now the row has waited past the limit
    beat(engine, "worker-a", clock.now())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "the oldest due message has waited" in response.json()["problems"][0]


def test_healthz_is_503_when_the_worker_is_stale(client, engine, clock, settings):
    beat(engine, "worker-a", clock.now())
    clock.advance(seconds=settings.worker_stale_seconds - 1)
    assert client.get("/healthz").status_code == 200
    clock.advance(seconds=2)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == [
        f"the worker's last heartbeat is {round(settings.worker_stale_seconds + 1)} s old"
    ]


def test_healthz_counts_messages_whose_outcome_is_unknown(client, engine, clock):
    _outbox_row(engine, status="unknown", send_at=clock.now() - timedelta(minutes=5), key="unknown-1")
    assert client.get("/healthz").json()["unknown_messages"] == 1
