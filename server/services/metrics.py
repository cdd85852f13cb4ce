"""Operational figures for /metrics, read from the database at scrape time (the truth is in the tables, so every web
process reports the same numbers): outbox depth by status, the lag of the oldest due message, open alerts by tier,
and time to acknowledge over the last 30 days by tier."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import quantiles

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from .health import dispatch_health

ACK_WINDOW = timedelta(days=30)
OPEN_ALERT_STATUSES = ("open", "acknowledged")


def _seconds(later: datetime, earlier: datetime) -> float:
    if later.tzinfo is None:
        later = later.replace(tzinfo=earlier.tzinfo)
    if earlier.tzinfo is None:
        earlier = earlier.replace(tzinfo=later.tzinfo)
    return max(0.0, (later - earlier).total_seconds())


def domain_metrics(engine: Engine, now: datetime) -> CollectorRegistry:
    """A fresh registry holding this moment's domain gauges."""
    registry = CollectorRegistry()
    outbox = SQLModel.metadata.tables["reminder"]
    alerts = SQLModel.metadata.tables["alert"]
    by_status = Gauge(
        "companion_outbox_messages",
        "Outbound messages by status (sends by outcome: sent, failed, unknown)",
        ["status"],
        registry=registry,
    )
    lag = Gauge(
        "companion_outbox_due_lag_seconds", "How long the oldest due, unsent message has waited", registry=registry
    )
    open_alerts = Gauge("companion_open_alerts", "Open or acknowledged alerts by tier", ["tier"], registry=registry)
    ack = Gauge(
        "companion_alert_time_to_acknowledge_seconds",
        "Time from opening to acknowledgement, alerts acknowledged in the last 30 days",
        ["tier", "quantile"],
        registry=registry,
    )
    with engine.connect() as conn:
        for status, count in conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)):
            by_status.labels(status=status).set(count)
        for tier, count in conn.execute(
            sa.select(alerts.c.tier, sa.func.count())
            .where(alerts.c.status.in_(OPEN_ALERT_STATUSES))
            .group_by(alerts.c.tier)
        ):
            open_alerts.labels(tier=tier).set(count)
        acknowledged = conn.execute(
            sa.select(alerts.c.tier, alerts.c.opened_at, alerts.c.acknowledged_at).where(
                alerts.c.acknowledged_at.is_not(None), alerts.c.acknowledged_at >= now - ACK_WINDOW
            )
        ).all()
    lag.set(dispatch_health(engine, now).lag_seconds or 0.0)
    waits: dict[str, list[float]] = {}
    for tier, opened_at, acknowledged_at in acknowledged:
        waits.setdefault(tier, []).append(_seconds(acknowledged_at, opened_at))
    for tier, values in waits.items():
        ordered = sorted(values)
        median, p90 = (
            (ordered[0], ordered[0])
            if len(ordered) == 1
            else (quantiles(ordered, n=2, method="inclusive")[0], quantiles(ordered, n=10, method="inclusive")[8])
        )
        ack.labels(tier=tier, quantile="0.5").set(median)
        ack.labels(tier=tier, quantile="0.9").set(p90)
    return registry
