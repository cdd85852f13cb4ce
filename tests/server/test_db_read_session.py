"""server.db.read_session: a look-up that neither opens a transaction nor ends in a rollback (issue 16).

psycopg forgets every statement it prepared on a connection when that connection rolls back; a read-only Session
ends in a rollback. The sign-in look-up starts every request, so it must not wipe what the last request prepared."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from server.db import create_db_engine, read_session
from server.models import Patient
from tests.support.patient import make_patient

PREPARED = sa.text("SELECT count(*) FROM pg_prepared_statements")


def _prepare_a_statement(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(6):  # psycopg prepares a statement on its fifth execution
            conn.execute(sa.text("SELECT count(*) FROM patient WHERE id = :id"), {"id": 1})
        assert conn.execute(PREPARED).scalar_one() >= 1


def _prepared_left(engine) -> int:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.execute(PREPARED).scalar_one()


@pytest.mark.postgres
def test_a_read_session_keeps_the_statements_the_connection_prepared(pg_url):
    engine = create_db_engine(pg_url, pool_size=1, max_overflow=0)  # one connection: every check sees the same one
    try:
        _prepare_a_statement(engine)
        with read_session(engine) as session:
            assert session.get(Patient, 1) is None
        assert _prepared_left(engine) >= 1

        # The control: the same look-up in an ordinary session rolls back on close, and psycopg forgets them all.
        with Session(engine) as session:
            assert session.get(Patient, 1) is None
        assert _prepared_left(engine) == 0
    finally:
        engine.dispose()


def test_a_read_session_reads_a_stored_row_on_the_suite_database(engine, settings, clock):
    patient = make_patient(engine, settings, clock.now(), mrn="READ-1")
    with read_session(engine) as session:
        found = session.get(Patient, patient.id)
    assert found is not None and found.mrn == "READ-1"  # loaded, and still readable after the session closed
