"""The reminder worker: APScheduler is only its clock; the database is the truth.

APScheduler 3's job stores must not be shared between processes, so the scheduler keeps its jobs in memory
and every job reads and writes the project's own tables. Run it as its own process (`companion worker`) or
inside the web server (`companion serve --with-worker`, single process only).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler

from server.context import AppContext
from server.services.heartbeat import beat

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10


@dataclass
class Worker:
    """Owns the scheduler and the jobs; `start()` returns at once, `stop()` lets in-flight jobs finish."""

    ctx: AppContext
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    scheduler: BackgroundScheduler = field(init=False)

    def __post_init__(self) -> None:
        # coalesce + max_instances=1: a slow tick is never run twice at once, and missed ticks collapse into one.
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat")

    def heartbeat(self) -> None:
        beat(self.ctx.engine, self.name, self.ctx.clock.now())

    def start(self) -> None:
        self.heartbeat()
        self.scheduler.start()
        log.info("worker %s started", self.name)

    def stop(self) -> None:
        # wait=True: jobs already running (a send in flight) finish before we return.
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        log.info("worker %s stopped", self.name)


def run_forever(ctx: AppContext) -> None:
    """Run the worker in this process until SIGTERM or SIGINT, then stop cleanly."""
    worker = Worker(ctx)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    stop.wait()
    worker.stop()
