from litestar.testing import TestClient

from server.app import create_app
from server.db import create_db_engine
from server.services.heartbeat import beat


def test_healthz_reports_ok_and_no_worker_yet(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "worker_heartbeat_age_s": None}


def test_healthz_reports_worker_heartbeat_age(client, engine, clock):
    beat(engine, "worker-a", clock.now())
    clock.advance(seconds=42)
    assert client.get("/healthz").json()["worker_heartbeat_age_s"] == 42.0


def test_healthz_reports_dead_database_as_503(settings, clock):
    dead = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1, max_overflow=0,
                            connect_args={"connect_timeout": 1})
    with TestClient(create_app(settings, engine=dead, clock=clock)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_openapi_schema_is_served(client):
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/healthz" in response.json()["paths"]
