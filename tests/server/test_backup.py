"""`companion backup` writes a consistent SQLite copy that `companion restore` accepts; a bad file is refused."""

from __future__ import annotations

from click.testing import CliRunner
from sqlmodel import Session, select

from server.cli import cli
from server.db import create_db_engine
from server.models import Staff


def _env(tmp_path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.sqlite3'}",
        "COMPANION_VAR_DIR": str(tmp_path / "var"),
        "COMPANION_ENV": "development",
    }


def test_backup_then_restore_round_trips_the_data(tmp_path):
    runner = CliRunner(env=_env(tmp_path))
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert runner.invoke(cli, ["demo"]).exit_code == 0
    backup = tmp_path / "backup.sqlite3"
    result = runner.invoke(cli, ["backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert "backup written" in result.output and "1 clinic" in result.output

    checked = runner.invoke(cli, ["restore", str(backup)])
    assert checked.exit_code == 0, checked.output
    assert "is a good backup" in checked.output

    # Lose the live database's staff, then restore: the staff are back.
    live = create_db_engine(_env(tmp_path)["DATABASE_URL"])
    with live.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")
    live.dispose()
    applied = runner.invoke(cli, ["restore", str(backup), "--apply"])
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / "live.sqlite3.before-restore").exists()
    with Session(create_db_engine(_env(tmp_path)["DATABASE_URL"])) as session:
        assert len(session.exec(select(Staff)).all()) >= 3


def test_backup_refuses_to_overwrite_and_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    runner = CliRunner(env=_env(tmp_path))
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    existing = tmp_path / "exists.sqlite3"
    existing.write_text("x")
    refused = runner.invoke(cli, ["backup", str(existing)])
    assert refused.exit_code == 1 and "exists already" in refused.output
    not_a_backup = runner.invoke(cli, ["restore", str(existing)])
    assert not_a_backup.exit_code == 1
    assert "not a Selinexor Companion database" in not_a_backup.output
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all " * 100)
    unreadable = runner.invoke(cli, ["restore", str(garbage)])
    assert unreadable.exit_code == 1 and "not a readable SQLite file" in unreadable.output


def test_backup_on_postgresql_prints_the_pg_dump_way(tmp_path):
    env = {**_env(tmp_path), "DATABASE_URL": "postgresql+psycopg://user:secret@db.example:5432/companion"}
    result = CliRunner(env=env).invoke(cli, ["backup", str(tmp_path / "dump.pgc")])
    assert result.exit_code == 0
    assert "pg_dump --format=custom" in result.output
    assert "secret" not in result.output
