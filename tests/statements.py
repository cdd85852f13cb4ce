"""Count what a piece of code sends to the database: statements (SQLAlchemy's `before_cursor_execute`) and
transaction ends (commit/rollback), so an N+1 or a per-request reconnect shows as a number in tests and benches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class StatementLog:
    """The statements sent while counting, and how many transactions ended (a BEGIN is implied for each)."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def round_trips(self) -> int:
        """Statements plus BEGIN and COMMIT/ROLLBACK per transaction, as the server's statement log shows them."""
        return self.count + 2 * self.transactions

    def reset(self) -> None:
        self.statements.clear()
        self.transactions = 0


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementLog]:
    """Count the statements and transactions on `engine` inside the block."""
    log = StatementLog()

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        log.statements.append(statement)

    def on_end(conn) -> None:
        log.transactions += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_end)
        event.remove(engine, "rollback", on_end)
