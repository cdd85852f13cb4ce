"""The `companion` command: serve, worker, migrate, demo, create-staff, and the clinical previews.

This module is the composition root for processes, and the one module under `server/` allowed to import
`notifications` (the layering rule is "server never imports notifications"; the import-linter contract lists this
module as its only exception). It does so in two places only, `serve --with-worker` and `worker`, and lazily, so
the web app and every other command load without the worker's libraries. Nothing else in `server/` may import it.
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime

import click

from .backup import backup_command, restore_command
from .preview import evaluate_command, schedule_command
from .settings import SettingsError, load_settings


def _settings(**overrides: object):
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="Selinexor Companion: patient app, care-team inbox and reminder worker.")
def cli() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The twilio SDK logs every request's headers at INFO and APScheduler every job run: at thousands of messages
    # a minute that drowns the worker's own log (and costs throughput). Their warnings still show.
    for noisy in ("twilio.http_client", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@cli.command(help="Upgrade the database to the latest schema (Alembic).")
def migrate() -> None:
    from .migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"database at head: {_safe_url(settings.database_url)}")


@cli.command(help="Seed the demo clinic (idempotent) and print the staff logins and fresh patient sign-in links.")
def demo() -> None:
    from .clock import SystemClock
    from .context import AppContext
    from .db import create_db_engine
    from .demo import DemoRefused, demo_sign_in_links, seed_demo
    from .demo_history import seed_demo_history

    settings = _settings()
    engine = create_db_engine(settings)
    clock = SystemClock()
    now = clock.now()
    try:
        result = seed_demo(engine, settings, now)
        # Six months of a dozen patients, so the quality report (/staff/quality) has something to show.
        seed_demo_history(AppContext(settings, engine, clock), now)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    links = demo_sign_in_links(engine, settings, now, _patient_base_url(settings))
    result["links"] = [f"patient sign-in link for {who} (works once, 72 h): {url}" for who, url in links]
    _print_demo(result, settings)
    if links:
        import segno

        click.echo("  Scan with a phone to open the first link (the phone must reach this address; for a phone on")
        click.echo("  the same Wi-Fi: HOST=0.0.0.0 PUBLIC_BASE_URL=http://<this computer's IP>:PORT make run):")
        segno.make(links[0][1], error="l").terminal(compact=True)
        click.echo("")


def _patient_base_url(settings) -> str:
    """Where links point: PUBLIC_BASE_URL, or the served address when it is not set (Settings resolves it)."""
    return settings.public_base_url


def _print_demo(result: dict, settings) -> None:
    click.echo("")
    click.echo(f"  Demo clinic: {settings.clinic_name}  ->  {settings.public_base_url}/staff")
    for email, password, role in result["staff"]:
        click.echo(f"  staff login ({role}): {email} / {password}")
    for line in result.get("links", []):
        click.echo(f"  {line}")
    click.echo("")


@cli.command("create-staff", help="Create a staff account (email, name, role, password).")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["nurse", "practitioner", "pharmacist", "physician", "admin"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--phone", default=None, help="Pager number in E.164 (+15551234567) for on-call SMS.")
@click.option("--on-call-order", type=int, default=None, help="1 = paged first, 2 = next, ...")
def create_staff_command(email, name, role, password, phone, on_call_order) -> None:
    from sqlmodel import Session, select

    from .db import create_db_engine
    from .errors import FieldError
    from .models import Clinic
    from .services.staff.accounts import create_staff

    settings = _settings()
    engine = create_db_engine(settings)
    now = datetime.now(UTC)
    with Session(engine) as session:
        clinic = session.exec(select(Clinic).order_by(Clinic.id)).first()
    if clinic is None:
        from .db import session_scope

        with session_scope(engine) as session:
            clinic = Clinic(
                name=settings.clinic_name,
                phone=settings.clinic_phone,
                timezone=settings.default_timezone,
                created_at=now,
            )
            session.add(clinic)
    try:
        staff = create_staff(
            engine,
            clinic_id=clinic.id,
            email=email,
            name=name,
            role=role,
            password=password,
            now=now,
            phone_e164=phone,
            on_call_order=on_call_order,
        )
    except FieldError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field.replace('_', '-')}") from None
    click.echo(f"created {staff.role} {staff.email} (id {staff.id})")


SERVE_HELP = """Serve the web app (and, with --with-worker, the reminder worker in the same process).

--workers N (or WEB_WORKERS) runs N web processes on PostgreSQL. SQLite stays one process: it has one writer, so
more processes only queue on its write lock (and the live inbox's in-memory events would not cross processes).
The embedded worker must run exactly once, so --with-worker needs one process: with more, run `companion worker`
beside them."""


@cli.command(help=SERVE_HELP)
@click.option("--host", default=None, help="Default: HOST or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: PORT or 8000.")
@click.option("--with-worker", is_flag=True, help="Run the scheduler in-process (single process only).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Web processes (PostgreSQL only). Default: WEB_WORKERS or 1.",
)
def serve(host, port, with_worker, workers) -> None:
    import uvicorn

    # --host/--port win over HOST/PORT, and the links the app makes follow them (unless PUBLIC_BASE_URL is set).
    overrides = {name: value for name, value in (("HOST", host), ("PORT", port)) if value}
    settings = _settings(**overrides)
    workers = workers or settings.web_workers
    host, port = settings.host, settings.port
    if workers > 1:
        if settings.is_sqlite:
            raise click.UsageError("SQLite serves from one process (one writer): --workers needs PostgreSQL.")
        if with_worker:
            raise click.UsageError(
                "--with-worker runs the reminder worker in one process only: use --workers 1, "
                "or run `companion worker` as its own process."
            )
        settings.secret()  # generated here (outside production) before the processes race to create it
        # Each process builds its own app and engine (import string + factory); live events cross them by NOTIFY.
        from .access_log import uvicorn_log_config

        trusted_proxies = settings.forwarded_allow_ips.strip()
        uvicorn.run(
            "server.cli:web_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            timeout_graceful_shutdown=5,
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=trusted_proxies or None,
            log_config=uvicorn_log_config(),
        )
        return

    from .app import create_app
    from .db import create_db_engine

    engine = create_db_engine(settings)
    app = create_app(settings, engine=engine)
    if with_worker:
        # The composition root (see the module docstring): the web app itself never imports the worker. The worker
        # shares the app's context, so its events (escalation pages, sweep alerts) reach open inboxes live.
        from notifications.worker import Worker

        worker = Worker(app.state.ctx)
        app.on_startup.append(worker.start)
        app.on_shutdown.insert(0, worker.stop)
    app.on_startup.append(settle_startup_objects)
    from .access_log import uvicorn_log_config

    # X-Forwarded-For only from the proxies FORWARDED_ALLOW_IPS names (uvicorn would otherwise trust 127.0.0.1,
    # so any process on the host could forge client addresses); the app applies the same rule (client_address.py).
    trusted = settings.forwarded_allow_ips.strip()
    # A bounded graceful shutdown: open inbox streams (SSE) would otherwise hold SIGTERM until browsers disconnect.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        log_config=uvicorn_log_config(),
    )  # sign-in tokens never reach the access log


def web_app():
    """The web app from the environment's settings: what each `serve --workers N` process runs."""
    from .app import create_app

    app = create_app(_settings())
    app.on_startup.append(settle_startup_objects)
    return app


def settle_startup_objects() -> None:
    """Once a served process has started: collect start-up's garbage, then freeze what is left (modules, the app, its
    engine and settings: ~130,000 objects that live as long as the process) out of the garbage collector's way.

    Python's full collections walk every tracked object; a request that builds many objects (the quality report
    for a year of a clinic: tens of thousands) sets off several of them, and walking the start-up objects again each
    time cost ~350 of its ~950 ms (measured: tests/bench/test_bench_quality.py). Frozen objects are never collected,
    so only what survived gc.collect() is frozen. Not in tests: each test builds its own app, and freezing every one
    would keep them all alive.

    Young collections then come every YOUNG_COLLECTION_EVERY new objects instead of Python's 700: the same report made
    ~700 of them (and, through them, the full ones); the memory held in between is a few megabytes at most."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, older, oldest)


YOUNG_COLLECTION_EVERY = 10_000


@cli.command(help="Run the reminder worker until SIGTERM (in-flight sends finish first).")
def worker() -> None:
    from notifications.worker import run_forever

    from .clock import SystemClock
    from .context import AppContext
    from .db import create_db_engine
    from .live import publisher_for_process

    settings = _settings()
    engine = create_db_engine(settings)
    # On PostgreSQL the worker's events reach every web server's open inbox through NOTIFY.
    run_forever(
        AppContext(
            settings=settings, engine=engine, clock=SystemClock(), publish=publisher_for_process(settings, engine)
        )
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.group("fhir-client", help="Machine clients of the FHIR API (EHR, lab system).")
def fhir_client() -> None:
    pass


@fhir_client.command("add", help="Register a client; prints its client id and secret (shown only once).")
@click.argument("name")
@click.option("--clinic", "clinic_id", type=int, required=True, help="The clinic id whose patients it may reach.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A SMART system scope, e.g. system/Observation.write or system/*.read (repeatable).",
)
def fhir_client_add(name, clinic_id, scopes) -> None:
    from .db import create_db_engine
    from .errors import FieldError
    from .services.fhir.clients import register_client

    engine = create_db_engine(_settings())
    try:
        client, secret = register_client(
            engine, name=name, clinic_id=clinic_id, scopes=list(scopes), now=datetime.now(UTC)
        )
    except FieldError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    click.echo(f"client_id: {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"scopes: {client.scopes}")
    click.echo("Keep the secret now: only a hash of it is stored.")


# Pharmacists' previews of the clinical core (schedule events, rule findings) as JSON.
cli.add_command(schedule_command)
cli.add_command(evaluate_command)
# Operations: a consistent SQLite backup (the pg_dump way for PostgreSQL), and the check of a backup before a restore.
cli.add_command(backup_command)
cli.add_command(restore_command)


def main() -> None:
    cli(prog_name="companion")


if __name__ == "__main__":
    main()
