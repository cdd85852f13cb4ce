"""Dispatch benchmark (`make bench`): throughput against a bare SDK loop, lag from due time to acceptance, and the
cost of an idle tick over a million future reminders. Needs PostgreSQL (POSTGRES_TEST_URL or DATABASE_URL).

Everything runs in this process against the in-process fake provider: the bare loop and the dispatcher make the
same twilio SDK calls with the same number of threads, so the ratio is the dispatcher's own overhead (claims,
rendering, compare-and-set writes).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifications.channels import build_channels
from notifications.dispatcher import ReminderDispatcher
from notifications.sms.channel import SmsChannel
from server.clock import SystemClock
from server.context import AppContext
from server.db import create_db_engine, session_scope
from server.models import Clinic, OutboundMessage, Patient
from server.settings import load_settings
from tests.fakes.sms_provider import FakeSmsProvider

# The scale is 10,000 due and 1,000,000 future rows; BENCH_MESSAGES and BENCH_FUTURE_ROWS scale it down so
# `make bench` stays a few minutes on a shared 2-CPU machine.
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "10000"))
PATIENTS = 1_000
CONCURRENCY = 8
FUTURE_ROWS = int(os.environ.get("BENCH_FUTURE_ROWS", "1000000"))
RATIO_TARGET = 0.8  # the dispatcher's throughput against the bare SDK loop
_T = OutboundMessage.__table__


@pytest.fixture
def bench(pg_url, tmp_path):
    provider = FakeSmsProvider(seed=1).start()
    settings = load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=pg_url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="bench-secret-key-0123456789abcdef0123",
        PUBLIC_BASE_URL="http://bench.local",
        TWILIO_ACCOUNT_SID=provider.account_sid,
        TWILIO_AUTH_TOKEN=provider.auth_token,
        TWILIO_FROM_NUMBER="+15005550006",
        TWILIO_API_BASE=provider.base_url,
        DISPATCH_CONCURRENCY=str(CONCURRENCY),
    )
    engine = create_db_engine(pg_url)
    ctx = AppContext(settings=settings, engine=engine, clock=SystemClock())
    channels = build_channels(ctx)
    yield ctx, provider, channels
    channels.close()
    provider.stop()
    engine.dispose()


def _patients(ctx) -> list[int]:
    now = datetime.now(UTC)
    with session_scope(ctx.engine) as session:
        clinic = Clinic(name="Bench Clinic", phone="+15555550100", timezone="America/New_York", created_at=now)
        session.add(clinic)
        session.flush()
        patients = [
            Patient(
                clinic_id=clinic.id,
                first_name="P",
                last_name=str(i),
                date_of_birth=date(1950, 1, 1),
                mrn=f"B{i}",
                phone_e164=f"+1555500{i:04d}",
                timezone="America/New_York",
                baseline_weight_kg=70,
                sms_consent=True,
                created_at=now,
            )
            for i in range(PATIENTS)
        ]
        session.add_all(patients)
        session.flush()
        return [p.id for p in patients]


def _dose_rows(patient_ids, due_times, tag: str) -> list[dict]:
    """Planned dose reminders (rendered from templates at send time, as in production)."""
    now = datetime.now(UTC)
    rows = []
    for n, due in enumerate(due_times):
        payload = {
            "day": "2026-03-02",
            "local": "2026-03-02T08:00:00-05:00",
            "dose_mg": 80,
            "tablets": 4,
            "strength_mg": 20,
            "dexamethasone_mg": 20,
        }
        rows.append(
            {
                "dedupe_key": f"dose:{tag}:{n}",
                "patient_id": patient_ids[n % len(patient_ids)],
                "kind": "dose",
                "channel": "sms",
                "scheduled_for": due,
                "send_at": due,
                "expires_at": due + timedelta(days=1),
                "status": "pending",
                "next_attempt_at": due,
                "attempts": 0,
                "payload": json.dumps(payload),
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _insert(ctx, rows) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(sa.insert(_T), rows)


def _percentile(values, q) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _bare_loop(provider, count: int, threads: int) -> float:
    """The same SDK call (same channel, same callback URL shape) in a plain thread pool; messages per second."""
    channel = SmsChannel(
        provider.account_sid, provider.auth_token, from_number="+15005550006", api_base=provider.base_url, timeout=10
    )
    body = (
        "Bench Clinic: Time for your 8:00 AM dose: 80 mg (4 tablets), swallowed whole with water. Also take "
        "your steroid tablets (20 mg). Reply T when taken. http://bench.local/"
    )

    def send(n):
        result = channel.send(
            f"+1555500{n % PATIENTS:04d}", body, status_callback=f"http://bench.local/sms/status?r={n}"
        )
        assert result.accepted, result

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(count)))
    elapsed = time.perf_counter() - start
    channel.close()
    return count / elapsed


@pytest.mark.postgres
@pytest.mark.slow
def test_bench_dispatch(bench):
    ctx, provider, channels = bench
    patient_ids = _patients(ctx)
    report_lines = []

    # 1. Throughput: the dispatcher's pass over 10,000 due reminders, bracketed by two halves of the bare SDK loop
    #    (the machine may be shared: bracketing keeps slow drift in its load out of the ratio).
    _bare_loop(provider, 500, CONCURRENCY)  # warm-up (connections, imports)
    provider.reset()
    first_half = MESSAGES / 2 / _bare_loop(provider, MESSAGES // 2, CONCURRENCY)
    provider.reset()
    due = datetime.now(UTC)
    _insert(ctx, _dose_rows(patient_ids, [due] * MESSAGES, "burst"))
    dispatcher = ReminderDispatcher(ctx, channels, concurrency=CONCURRENCY)
    start = time.perf_counter()
    result = dispatcher.dispatch_once()
    elapsed = time.perf_counter() - start
    assert result["sent"] == MESSAGES and len(provider.messages) == MESSAGES
    burst_lags = [(m["accepted_at"] - due).total_seconds() for m in provider.messages]
    provider.reset()
    second_half = MESSAGES / 2 / _bare_loop(provider, MESSAGES // 2, CONCURRENCY)
    bare = MESSAGES / (first_half + second_half)
    dispatched = MESSAGES / elapsed
    ratio = dispatched / bare
    report_lines += [
        f"throughput, {MESSAGES} due reminders, {CONCURRENCY} threads: bare SDK loop {bare:,.0f} msg/s, "
        f"dispatcher {dispatched:,.0f} msg/s, ratio {ratio:.2f} (target >= {RATIO_TARGET})",
        f"burst lag (all {MESSAGES} due at once, queueing included): p50 {_percentile(burst_lags, 0.5):.2f} s, "
        f"p99 {_percentile(burst_lags, 0.99):.2f} s",
    ]

    # 2. Steady lag: 300 reminders a second coming due for 10 s, the dispatcher ticking on its interval (the
    #    default, then a shorter one: the lag is mostly waiting for the next tick).
    for interval in (ctx.settings.dispatch_interval_seconds, 0.5):
        provider.reset()
        first = datetime.now(UTC) + timedelta(seconds=1)
        steady = [first + timedelta(seconds=n / 300) for n in range(3000)]
        _insert(ctx, _dose_rows(patient_ids, steady, f"steady{interval}"))
        end = time.monotonic() + 12 + interval
        while time.monotonic() < end:
            tick = time.monotonic()
            dispatcher.dispatch_once()
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))
        with ctx.engine.connect() as conn:
            sent = dict(
                conn.execute(
                    sa.select(_T.c.provider_id, _T.c.send_at).where(
                        _T.c.dedupe_key.like(f"dose:steady{interval}:%"), _T.c.status == "sent"
                    )
                ).all()
            )
        lags = [(m["accepted_at"] - sent[m["sid"]]).total_seconds() for m in provider.messages if m["sid"] in sent]
        assert len(lags) == len(steady)
        report_lines.append(
            f"steady lag (300/s for 10 s, dispatch every {interval:g} s): due -> provider accepted "
            f"p50 {_percentile(lags, 0.5):.2f} s, p99 {_percentile(lags, 0.99):.2f} s"
        )

    # 3. An idle tick over a million future reminders: every query must be an index range scan.
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO reminder (dedupe_key, patient_id, kind, channel, scheduled_for, send_at, expires_at, status,"
                " next_attempt_at, attempts, created_at, updated_at) "
                "SELECT 'future:' || g, NULL, 'dose', 'sms', t, t, t + interval '1 day', 'pending', t, 0, t, t "
                "FROM (SELECT g, (now() AT TIME ZONE 'utc') + interval '1 day' + g * interval '1 second' AS t "
                "      FROM generate_series(1, :n) AS g) AS s"
            ),
            {"n": FUTURE_ROWS},
        )
        conn.execute(sa.text("ANALYZE reminder"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM reminder WHERE status = 'pending' AND next_attempt_at <= now() "
                    "ORDER BY next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED"
                )
            )
        )
    assert "ix_reminder_due" in plan, plan
    for _ in range(20):
        dispatcher.dispatch_once()  # warm the pool and the plan cache
    ticks = []
    for _ in range(200):
        start = time.perf_counter()
        idle = dispatcher.dispatch_once()
        ticks.append((time.perf_counter() - start) * 1000)
        assert idle.claimed == 0
    dispatcher.close()
    median, p95 = statistics.median(ticks), _percentile(ticks, 0.95)
    report_lines.append(
        f"idle dispatch tick with {FUTURE_ROWS:,} future reminders: median {median:.2f} ms, "
        f"p95 {p95:.2f} ms (target < 10 ms; reap, expire and claim: 4 index-range statements)"
    )
    print("\n" + "\n".join("  " + line for line in report_lines))
    # Every target is checked: a benchmark that prints a miss and passes hides a regression.
    missed = [what for what, ok in (("dispatch ratio", ratio >= RATIO_TARGET), ("idle tick", median < 10)) if not ok]
    assert not missed, f"missed targets: {missed}"


# Issue 16: "10,000-due burst: due -> accepted by the provider p99 < 5 s on PostgreSQL with 2 workers against the local
# fake at realistic provider latency". Two `companion worker` processes (the production set-up, each with the largest
# DISPATCH_CONCURRENCY the settings allow, on the default dispatch interval) and the fake answering each request after
# 100-300 ms, uniformly (Twilio's Messages API answers in the low hundreds of milliseconds).
BURST_WORKERS = 2
BURST_CONCURRENCY = 64
BURST_LATENCY_S = (0.1, 0.3)
BURST_P99_TARGET_S = 5.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.slow
def test_bench_burst_with_two_workers(bench, tmp_path):
    ctx, provider, _channels = bench
    patient_ids = _patients(ctx)
    settings = ctx.settings
    env = {
        **os.environ,
        "COMPANION_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "COMPANION_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123",
        "PUBLIC_BASE_URL": "http://bench.local",
        "TWILIO_ACCOUNT_SID": provider.account_sid,
        "TWILIO_AUTH_TOKEN": provider.auth_token,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_API_BASE": provider.base_url,
        "DISPATCH_CONCURRENCY": str(BURST_CONCURRENCY),
    }
    logs = [(tmp_path / f"worker{n}.log").open("w") for n in range(BURST_WORKERS)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + 120
        while not all("started" in (tmp_path / f"worker{n}.log").read_text() for n in range(BURST_WORKERS)):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(w.poll() is None for w in workers), (tmp_path / "worker0.log").read_text()[-2000:]
            time.sleep(0.2)
        provider.reset()
        provider.set_latency(BURST_LATENCY_S)
        due = datetime.now(UTC)
        _insert(ctx, _dose_rows(patient_ids, [due] * MESSAGES, "burst2"))
        deadline = time.monotonic() + 600
        while len(provider.messages) < MESSAGES:
            assert time.monotonic() < deadline, f"only {len(provider.messages)} of {MESSAGES} accepted in 600 s"
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        for log in logs:
            log.close()
    accepted = list(provider.messages)
    lags = [(m["accepted_at"] - due).total_seconds() for m in accepted]
    assert len({m["sid"] for m in accepted}) == MESSAGES == len(accepted)  # each row handed over once
    with ctx.engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.select(_T.c.status, sa.func.count())
                .where(_T.c.dedupe_key.like("dose:burst2:%"))
                .group_by(_T.c.status)
            ).all()
        )
    p50, p99 = _percentile(lags, 0.5), _percentile(lags, 0.99)
    floor_p50, floor_p99 = _bare_burst(provider)
    print(
        f"\n  burst with {BURST_WORKERS} worker processes x {BURST_CONCURRENCY} parallel sends, fake provider latency "
        f"{BURST_LATENCY_S[0] * 1000:.0f}-{BURST_LATENCY_S[1] * 1000:.0f} ms, {MESSAGES:,} due at once: due -> provider "
        f"accepted p50 {p50:.2f} s, p99 {p99:.2f} s (target < {BURST_P99_TARGET_S:g} s; at the issue's scale, 10,000); "
        f"rows {statuses}\n  floor: the bare SDK loop in {BURST_WORKERS} processes x {BURST_CONCURRENCY} threads, same "
        f"fake and latency, no database: start -> accepted p50 {floor_p50:.2f} s, p99 {floor_p99:.2f} s; the "
        f"dispatcher's p99 is {p99 / floor_p99:.2f}x the floor's"
    )
    assert statuses == {"sent": MESSAGES}, statuses
    assert p99 < BURST_P99_TARGET_S, f"burst p99 {p99:.2f} s"


def _bare_burst(provider) -> tuple[float, float]:
    """The burst's floor: MESSAGES sent by the bare SDK loop (tests/bench/bare_sender.py) in BURST_WORKERS processes
    of BURST_CONCURRENCY threads against the same fake at the same latency; (p50, p99) from start to acceptance."""
    provider.reset()
    provider.set_latency(BURST_LATENCY_S)
    share = MESSAGES // BURST_WORKERS
    senders = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests/bench/bare_sender.py"), provider.account_sid, provider.auth_token]
            + [provider.base_url, str(n * share), str(share), str(BURST_CONCURRENCY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(BURST_WORKERS)
    ]
    try:
        for sender in senders:
            assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
        start = datetime.now(UTC)
        for sender in senders:
            assert sender.stdin is not None
            sender.stdin.write("go\n")
            sender.stdin.flush()
        for sender in senders:
            assert sender.wait(timeout=600) == 0
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
    lags = [(m["accepted_at"] - start).total_seconds() for m in provider.messages]
    assert len(lags) == share * BURST_WORKERS
    return _percentile(lags, 0.5), _percentile(lags, 0.99)
