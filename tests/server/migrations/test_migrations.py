"""Migrations upgrade an empty database to head, and the models match what they built."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from server import models  # noqa: F401
from server.migrate import upgrade
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url, require


def _pending_diff(url: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_migrations_build_an_empty_sqlite_database_matching_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    upgrade(url)
    assert set(SQLModel.metadata.tables) | {"alembic_version"} == _tables(url)
    assert _pending_diff(url) == []


def test_upgrading_twice_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.sqlite3'}"
    upgrade(url)
    upgrade(url)
    assert _pending_diff(url) == []


@pytest.mark.postgres
def test_migrations_build_an_empty_postgres_database_matching_the_models():
    server = postgres_server_url()
    require(server is not None, "PostgreSQL")
    url = create_postgres_database(server, "mig")
    try:
        upgrade(url)
        assert set(SQLModel.metadata.tables) | {"alembic_version"} == _tables(url)
        assert _pending_diff(url) == []
        engine = sa.create_engine(url)
        indexes = {ix["name"]: ix for ix in sa.inspect(engine).get_indexes("alert")}
        engine.dispose()
        assert indexes["uq_alert_open_family"]["unique"]
    finally:
        drop_postgres_database(url)
