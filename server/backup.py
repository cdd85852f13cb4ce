"""`companion backup` and `companion restore`: a consistent copy of the embedded SQLite database, and a check of one.

SQLite: the online backup API copies a consistent snapshot while the app keeps running (readers and the worker are
not stopped). PostgreSQL: `pg_dump` is the right tool; the command prints how to run it for this DATABASE_URL.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from .migrate import alembic_config
from .settings import SettingsError, load_settings

# Tables whose presence (and row counts) show that a file is a Selinexor Companion database.
KEY_TABLES = ("clinic", "patient", "treatment_plan", "alert", "audit_log")


@dataclass(frozen=True)
class BackupCheck:
    """What `check_backup` found: an empty `problems` list means the file can be restored."""

    problems: list[str]
    revision: str | None
    rows: dict[str, int]


def backup_sqlite(database_path: Path, target: Path) -> None:
    """Copy a consistent snapshot of the live SQLite database to `target` (which must not exist)."""
    source = sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
        source.close()


def check_backup(path: Path, database_url: str) -> BackupCheck:
    """Integrity, schema revision (must be this code's head) and the key tables of a backup file."""
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    problems: list[str] = []
    rows: dict[str, int] = {}
    revision: str | None = None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"integrity check failed: {integrity}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" in tables:
                found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = found[0] if found else None
            missing = [t for t in KEY_TABLES if t not in tables]
            if missing:
                problems.append(f"not a Selinexor Companion database: missing tables {', '.join(missing)}")
            for table in KEY_TABLES:
                if table in tables:
                    rows[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608 (fixed names)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return BackupCheck(problems=[f"not a readable SQLite file: {exc}"], revision=None, rows={})
    if revision != head:
        problems.append(
            f"schema revision {revision or 'none'} is not this version's {head}: run `companion migrate` "
            "on a copy after restoring, or restore it with the matching release"
        )
    return BackupCheck(problems=problems, revision=revision, rows=rows)


def _database_url() -> str:
    try:
        return load_settings().database_url
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


@click.command(
    "backup", help="Write a consistent copy of the SQLite database to FILE (prints the pg_dump way for PostgreSQL)."
)
@click.argument("target", type=click.Path(path_type=Path))
def backup_command(target: Path) -> None:
    database_url = _database_url()
    path = _sqlite_path(database_url)
    if path is None:
        url = make_url(database_url).set(drivername="postgresql")
        click.echo("PostgreSQL: use its own consistent dump (it runs while the app keeps serving):")
        click.echo(f"  pg_dump --format=custom --file={target} '{url.render_as_string(hide_password=True)}'")
        click.echo(f"  restore: pg_restore --clean --if-exists --dbname=<database URL> {target}")
        return
    if target.exists():
        raise click.ClickException(f"{target} exists already: choose a new file name")
    backup_sqlite(path, target)
    check = check_backup(target, database_url)
    if check.problems:
        raise click.ClickException("the backup failed its check: " + "; ".join(check.problems))
    counts = ", ".join(f"{count} {table}" for table, count in check.rows.items())
    click.echo(f"backup written to {target} (schema {check.revision}; {counts})")


@click.command(
    "restore",
    help="Check a backup FILE; with --apply, put it in place of the SQLite database "
    "(stop the server and worker first).",
)
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--apply", is_flag=True, help="Replace the database with the backup (the old file is kept beside it).")
def restore_command(source: Path, apply: bool) -> None:
    database_url = _database_url()
    check = check_backup(source, database_url)
    if check.problems:
        raise click.ClickException("; ".join(check.problems))
    counts = ", ".join(f"{count} {table}" for table, count in check.rows.items())
    click.echo(f"{source} is a good backup (schema {check.revision}; {counts})")
    if not apply:
        return
    path = _sqlite_path(database_url)
    if path is None:
        raise click.ClickException("--apply restores SQLite files only; restore PostgreSQL with pg_restore")
    if path.exists():
        kept = path.with_name(path.name + ".before-restore")
        shutil.move(path, kept)
        click.echo(f"the previous database was kept as {kept}")
    shutil.copyfile(source, path)
    click.echo(f"restored into {path}")
