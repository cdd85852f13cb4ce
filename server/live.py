"""Live events for the care-team inbox: Litestar's ChannelsPlugin, and the `ctx.publish` that feeds it.

Services call `ctx.publish(channel, data)` after their commit, from whatever thread runs them (sync handlers run
in a thread pool; the worker has its own threads). Events are a latency optimisation, never the truth: the inbox
re-reads the database when an event arrives, and re-syncs when its stream reconnects. So a lost event costs at
most a delay, and publishing never fails a request.

- SQLite (one process): an in-memory channels backend; `publish` hops onto the event loop thread-safely.
- PostgreSQL: LISTEN/NOTIFY. `publish` runs `pg_notify` on a pooled connection, so any process holding an engine
  (web servers, workers) reaches every web server's inbox streams; the plugin's psycopg backend LISTENs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import sqlalchemy as sa
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from sqlalchemy.engine import Engine

from .settings import Settings

log = logging.getLogger(__name__)

INBOX_CHANNEL = "inbox"
# A slow or stalled browser must not make the server hold an unbounded queue for it: drop its oldest events
# (it re-syncs from the database anyway).
SUBSCRIBER_BACKLOG = 500


def libpq_dsn(database_url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy) -> `postgresql://...` (libpq, for the LISTEN connection)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def create_channels_plugin(settings: Settings) -> ChannelsPlugin:
    if settings.is_sqlite:
        backend = MemoryChannelsBackend(history=0)
    else:
        from litestar.channels.backends.psycopg import PsycoPgChannelsBackend

        backend = PsycoPgChannelsBackend(libpq_dsn(settings.database_url))
    return ChannelsPlugin(
        backend=backend,
        channels=[INBOX_CHANNEL],
        subscriber_max_backlog=SUBSCRIBER_BACKLOG,
        subscriber_backlog_strategy="dropleft",
    )


def pg_notify(engine: Engine, channel: str, data: dict[str, Any]) -> None:
    """NOTIFY listeners of `channel` in this database (delivered at commit, to every process that LISTENs)."""
    with engine.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_notify(:channel, :payload)"),
            {"channel": channel, "payload": json.dumps(data, separators=(",", ":"))},
        )
        conn.commit()


class LivePublisher:
    """The app's `ctx.publish`: callable from any thread, after commit; never raises."""

    def __init__(self, plugin: ChannelsPlugin, engine: Engine, *, use_pg_notify: bool) -> None:
        self._plugin = plugin
        self._engine = engine
        self._use_pg_notify = use_pg_notify
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self) -> None:
        """Called at app start-up, on the event loop that runs the channels plugin."""
        self._loop = asyncio.get_running_loop()

    def unbind_loop(self) -> None:
        self._loop = None

    def __call__(self, channel: str, data: dict[str, Any]) -> None:
        try:
            if self._use_pg_notify:
                pg_notify(self._engine, channel, data)
                return
            loop = self._loop
            if loop is None or loop.is_closed():
                return  # the app is not serving (CLI, tests without a client): nobody is listening
            # ChannelsPlugin.publish feeds an asyncio.Queue, which is not thread-safe: hand it to the loop.
            loop.call_soon_threadsafe(self._plugin.publish, data, channel)
        except Exception:  # noqa: BLE001 - a lost event delays the inbox by one refresh; a failed request loses work
            log.exception("could not publish a live %s event", channel)


def publisher_for_process(settings: Settings, engine: Engine):
    """A `ctx.publish` for processes without the web app (the worker): on PostgreSQL its events (escalation pages)
    reach every web server's open inboxes through NOTIFY; on SQLite there is no one to tell across processes."""
    if settings.is_sqlite:
        return lambda channel, data: None

    def publish(channel: str, data: dict[str, Any]) -> None:
        try:
            pg_notify(engine, channel, data)
        except Exception:  # noqa: BLE001 - a lost event delays the inbox by one refresh
            log.exception("could not publish a live %s event", channel)

    return publish
