"""Live events for the care-team inbox: Litestar's ChannelsPlugin, and the `ctx.publish` that feeds it.

Services call `ctx.publish(channel, data)` after their commit, from whatever thread runs them (sync handlers run
in a thread pool; the worker has its own threads). Events are a latency optimisation, never the truth: the inbox
re-reads the database when an event arrives, and re-syncs when its stream reconnects. So a lost event costs at
most a delay, and publishing never fails a request.

- SQLite (one process): an in-memory channels backend; `publish` hops onto the event loop thread-safely.
- PostgreSQL: LISTEN/NOTIFY. `publish` runs `pg_notify` on a pooled connection, so any process holding an engine
  (web servers, workers) reaches every web server's inbox streams; `PostgresListenBackend` LISTENs on one connection
  for the life of the process (see its docstring for why not Litestar's psycopg backend).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Iterable
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from psycopg import AsyncConnection
from psycopg.sql import SQL, Identifier
from sqlalchemy.engine import Engine

from .settings import Settings

log = logging.getLogger(__name__)

INBOX_CHANNEL = "inbox"
# A slow or stalled browser must not make the server hold an unbounded queue for it: drop its oldest events
# (it re-syncs from the database anyway).
SUBSCRIBER_BACKLOG = 500
# What subscribers receive when events may have been missed (the LISTEN connection was lost and opened again):
# the inbox re-reads its list, as after a reconnect of its own stream.
RESYNC = b'{"resync":true}'
RECONNECT_FIRST_S = 0.5  # the first retry after losing the LISTEN connection; doubles up to RECONNECT_MAX_S
RECONNECT_MAX_S = 30.0


def libpq_dsn(database_url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy) -> `postgresql://...` (libpq, for the LISTEN connection)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresListenBackend(ChannelsBackend):
    """LISTEN/NOTIFY for the channels plugin on one connection that listens to the declared channels for the life
    of the process; subscribing and unsubscribing a browser's stream costs nothing on the database.

    Why not Litestar's psycopg backend: it LISTENs when a channel gets its first subscriber and UNLISTENs when the
    last one leaves, stopping and restarting its reader around each command. A browser that opens the inbox and
    leaves at once cancels that in the middle: psycopg closes the connection (or the reader stays stopped), the
    plugin's reader task dies with it, and no inbox receives another event until the server restarts (issue 12:
    the 2 s live update failed late in the browser session). Here a lost connection (database restart, failover)
    is opened again with backoff, and subscribers then receive RESYNC, since events in between were not seen.
    """

    def __init__(self, pg_dsn: str, channels: Iterable[str]) -> None:
        self._pg_dsn = pg_dsn
        self._channels = tuple(channels)
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None

    async def _connect(self) -> AsyncConnection[Any]:
        conn = await AsyncConnection.connect(self._pg_dsn, autocommit=True)
        try:
            for channel in self._channels:
                await conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
        except BaseException:
            await conn.close()
            raise
        return conn

    async def on_startup(self) -> None:
        self._queue = asyncio.Queue()
        # Listening before the app serves (and failing start-up when the database is unreachable, as before).
        conn = await self._connect()
        self._listener = asyncio.create_task(self._listen(conn), name="live-listen")

    async def on_shutdown(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self, conn: AsyncConnection[Any]) -> None:
        delay = RECONNECT_FIRST_S
        while True:
            try:
                async with conn:  # closed on the way out, whatever happens
                    async for notify in conn.notifies():
                        self._queue.put_nowait((notify.channel, notify.payload.encode("utf-8")))
                        delay = RECONNECT_FIRST_S
            except Exception:  # noqa: BLE001 - the database went away: listen again as soon as it is back
                log.warning("the live inbox's LISTEN connection was lost; reconnecting", exc_info=True)
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                try:
                    conn = await self._connect()
                    break
                except Exception:  # noqa: BLE001 - still unreachable: try again later
                    log.warning("could not reconnect the live inbox's LISTEN connection", exc_info=True)
            for channel in self._channels:
                self._queue.put_nowait((channel, RESYNC))

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        async with await AsyncConnection.connect(self._pg_dsn, autocommit=True) as conn:
            for channel in channels:
                await conn.execute("SELECT pg_notify(%s, %s)", (channel, data.decode("utf-8")))

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Nothing to do: the declared channels are listened to from start-up (the plugin refuses others)."""

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Nothing to do: keep listening (an event nobody is subscribed to is dropped by the plugin)."""

    async def stream_events(self) -> AsyncGenerator[tuple[str, bytes], None]:
        while True:
            yield await self._queue.get()

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("the live inbox keeps no history: pages re-read the database")


def create_channels_plugin(settings: Settings) -> ChannelsPlugin:
    """The app's channels: in-memory on SQLite (one process), LISTEN/NOTIFY on PostgreSQL."""
    backend: ChannelsBackend
    if settings.is_sqlite:
        backend = MemoryChannelsBackend(history=0)
    else:
        backend = PostgresListenBackend(libpq_dsn(settings.database_url), [INBOX_CHANNEL])
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
