"""What every request handler and job needs: settings, the database engine, the clock, and a publisher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.di import NamedDependency
from sqlalchemy.engine import Engine

from .clock import Clock
from .settings import Settings


def _publish_nowhere(channel: str, data: dict[str, Any]) -> None:
    """Default publisher (CLI, worker without a live inbox): events are only a latency optimisation."""


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    clock: Clock
    # Called after commit with live events (e.g. channel "inbox"); server.app wires Litestar channels here.
    publish: Callable[[str, dict[str, Any]], None] = _publish_nowhere


# Handlers declare `ctx: Ctx` to receive the AppContext wired in server.app.
Ctx = NamedDependency[AppContext]
