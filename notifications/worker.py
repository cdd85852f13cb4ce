"""The reminder worker: APScheduler is only its clock; the database is the truth.

APScheduler 3's job stores must not be shared between processes, so the scheduler keeps its jobs in memory
and every job reads and writes the project's own tables. Run it as its own process (`companion worker`) or
inside the web server (`companion serve --with-worker`, single process only).

Jobs: heartbeat (10 s), dispatch (DISPATCH_INTERVAL_SECONDS), planner (PLANNER_INTERVAL_SECONDS, and at start),
alert re-escalation (every minute). Any number of workers may run against PostgreSQL: nothing here assumes it is
alone (claims use SKIP LOCKED, escalation locks the alerts it pages for).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from notifications.channels import Channels, build_channels
from notifications.dispatcher import ReminderDispatcher
from notifications.planner import run_planner
from server.context import AppContext
from server.services.alerts_escalation import escalate_due_alerts
from server.services.heartbeat import beat
from server.services.sweep import sweep_patient_rules

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
ESCALATION_SECONDS = 60
# Rules only time can trigger (missed doses, no weight, no delivery, resume criteria met; the 12-hour rule).
SWEEP_SECONDS = 600


@dataclass
class Worker:
    """Owns the scheduler and the jobs; `start()` returns at once, `stop()` lets in-flight sends finish."""

    ctx: AppContext
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    channels: Channels | None = None  # built from settings at start unless given (tests)
    scheduler: BackgroundScheduler = field(init=False)
    dispatcher: ReminderDispatcher | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # coalesce + max_instances=1: a slow tick is never run twice at once, and missed ticks collapse into one.
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )

    def heartbeat(self) -> None:
        beat(self.ctx.engine, self.name, self.ctx.clock.now())

    def dispatch(self) -> None:
        self.dispatcher.dispatch_once()

    def plan(self) -> None:
        run_planner(self.ctx)

    def escalate(self) -> None:
        escalate_due_alerts(self.ctx, self.ctx.clock.now())

    def sweep(self) -> None:
        sweep_patient_rules(self.ctx, self.ctx.clock.now())

    def start(self) -> None:
        settings = self.ctx.settings
        self.heartbeat()
        self.channels = self.channels or build_channels(self.ctx)
        self.dispatcher = ReminderDispatcher(self.ctx, self.channels)
        first = datetime.now(UTC)  # APScheduler's own clock: when to run first, not domain time
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat")
        self.scheduler.add_job(
            self.plan, "interval", seconds=settings.planner_interval_seconds, id="planner", next_run_time=first
        )
        self.scheduler.add_job(
            self.dispatch, "interval", seconds=settings.dispatch_interval_seconds, id="dispatch", next_run_time=first
        )
        self.scheduler.add_job(
            self.escalate, "interval", seconds=ESCALATION_SECONDS, id="escalation", next_run_time=first
        )
        self.scheduler.add_job(self.sweep, "interval", seconds=SWEEP_SECONDS, id="sweep", next_run_time=first)
        self.scheduler.start()
        log.info(
            "worker %s started (%s SMS, %d parallel sends)",
            self.name,
            self.channels.sms_name,
            self.dispatcher.concurrency,
        )

    def stop(self) -> None:
        # Order matters: stop claiming first, then wait for running jobs (a dispatch pass finishes its sends).
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.dispatcher is not None:
            self.dispatcher.close()
        if self.channels is not None:
            self.channels.close()
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
