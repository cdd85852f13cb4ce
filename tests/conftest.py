"""Shared fixtures: an isolated, migrated database per test, settings, an injected clock, the app.

Databases: by default each test gets a copy of a migrated SQLite file. When DATABASE_URL points at
PostgreSQL, the same tests run there instead (one migrated database per session, emptied after each test).
Tests marked `postgres` always need PostgreSQL (DATABASE_URL or POSTGRES_TEST_URL); under CI=true they
fail instead of skipping when it is missing. The same holds for `e2e` tests and Chromium.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from server.clock import FrozenClock
from server.db import create_db_engine
from server.migrate import upgrade
from server.settings import ENV_FILE_VARIABLE, Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ENV_DATABASE_URL = os.environ.get("DATABASE_URL", "")
RUN_ON_POSTGRES = ENV_DATABASE_URL.startswith("postgresql")


def _make_settings_hermetic() -> None:
    """A developer's `.env` or shell never changes a test: no dotenv file, and no setting from the environment.

    DATABASE_URL is the one exception: it chooses the database the suite runs on (read above, and passed to each
    test's settings explicitly). Subprocesses (the CLI and browser tests) inherit this cleaned environment.
    """
    os.environ[ENV_FILE_VARIABLE] = ""
    for name in (info.alias for info in Settings.model_fields.values()):
        if name and name != "DATABASE_URL":
            os.environ.pop(name, None)


_make_settings_hermetic()


def postgres_server_url() -> str | None:
    """A URL of a PostgreSQL server we may create databases on, or None."""
    if RUN_ON_POSTGRES:
        return ENV_DATABASE_URL
    return os.environ.get("POSTGRES_TEST_URL") or None


def require(condition: bool, what: str) -> None:
    """Skip when a real part is missing, but fail under CI=true, where it is mandatory."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available")  # only outside CI: under CI=true it failed above


def create_postgres_database(server_url: str, prefix: str = "t") -> str:
    """Create an empty database on the server and return its URL."""
    url = sa.engine.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(db_url: str) -> None:
    url = sa.engine.make_url(db_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def empty_all_tables(engine: sa.engine.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(autouse=True)
def _mandatory_parts(request):
    if request.node.get_closest_marker("postgres"):
        require(postgres_server_url() is not None, "PostgreSQL (DATABASE_URL or POSTGRES_TEST_URL)")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _session_postgres_url():
    if not RUN_ON_POSTGRES:
        yield None
        return
    url = create_postgres_database(ENV_DATABASE_URL, "suite")
    upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A migrated, empty database for this test (SQLite copy, or PostgreSQL when DATABASE_URL says so)."""
    if RUN_ON_POSTGRES:
        url = request.getfixturevalue("_session_postgres_url")
        engine = create_db_engine(url)
        empty_all_tables(engine)
        engine.dispose()
        return url
    path = tmp_path / "companion.sqlite3"
    shutil.copy(request.getfixturevalue("_sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url():
    """A fresh, migrated PostgreSQL database of its own (for tests marked `postgres`)."""
    server = postgres_server_url()
    require(server is not None, "PostgreSQL (DATABASE_URL or POSTGRES_TEST_URL)")
    url = create_postgres_database(server, "pg")
    upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))  # a Monday, 09:00 in New York


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=database_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        PUBLIC_BASE_URL="http://testserver.local",
    )


@pytest.fixture
def app(settings, engine, clock):
    from server.app import create_app

    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app):
    from litestar.testing import TestClient

    with TestClient(app, base_url="http://testserver.local") as client:
        yield client
