"""What every request handler and job needs: settings, the database engine and the clock."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from sqlalchemy.engine import Engine

from .clock import Clock
from .settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    clock: Clock


# Handlers declare `ctx: Ctx` to receive the AppContext wired in server.app.
Ctx = NamedDependency[AppContext]
