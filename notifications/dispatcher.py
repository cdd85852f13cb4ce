# Over 400 lines on purpose: claim, send and finish are one protocol (exactly-once), read in one place.
"""The dispatcher (architecture flow 3): claim due outbox rows, send them outside any transaction, finish each one
with a compare-and-set on its claim. Callable synchronously (`dispatch_once`), so tests drive it with a frozen clock
and the worker's scheduler only calls it on an interval.

Exactly once, in the sense that matters: a message is never handed to a provider twice. The rules:

1. Rows are claimed (`claimed`, with a token and a lease deadline) in one statement; PostgreSQL skips rows other
   workers hold (FOR UPDATE SKIP LOCKED), so any number of workers run side by side.
2. Before a request leaves, its row moves `claimed -> sending` (compare-and-set on the token, committed), counting
   the attempt. A row is marked only as a sender thread is free to take it: the pass keeps at most the pool size
   in flight, so nothing marked waits behind the pool. Rows waiting in memory stay `claimed`; at most the pool size
   are `sending` at any moment, and a row that is not `sending` was never handed to a provider.
3. After the answer, the row is finished with a compare-and-set on the token: sent, retry later (transient error:
   exponential back-off with jitter, the provider's Retry-After as a floor, never past the row's expiry), failed
   (permanent error, or too many attempts), or unknown (ambiguous: the request left and no answer came; it is never
   re-sent automatically; a status callback carrying the row id resolves it, otherwise staff decide).
4. Dead workers: `reap_stale_claims` (server/services/outbox/claims.py) puts expired `claimed` rows back to
   pending and turns expired `sending` rows into `unknown` with a reason (see its docstring). A SIGKILL therefore
   leaves `unknown` only rows whose request was in flight (at most the pool size) or sent with the outcome not yet
   written, never a duplicate; rows waiting in memory go back to pending and are sent after the lease. The
   provider's receipts turn the ones it accepted into `sent`; every `unknown` dose reminder or page raises a
   staff-visible alert (server/services/outbox/unknowns.py).
5. On stop (SIGTERM), no new rows are claimed; claimed rows not yet sending are released; sends in flight (marked
   and handed to a thread) finish and are recorded.

Throughput: the pool's threads only talk to the provider. The pass's own thread does the database work on one
autocommit connection: a turn writes every outcome that came in since the last one and marks the rows that take
the freed threads, in one statement on PostgreSQL. While a turn is written the next outcomes gather, so a busy
pass writes many messages per round trip and an idle one answers each outcome at once. The engine's connection
pool must hold the pass's connection plus one for outcomes with side effects (opt-out, alerts).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from notifications.channels import Channels
from notifications.messages import render_reminder
from notifications.push import is_gone
from notifications.sms.channel import Outcome as SendOutcome
from notifications.sms.channel import SendResult
from server.context import AppContext
from server.services.outbox.claims import (
    ClaimedMessage,
    claim_due_messages,
    expire_overdue,
    reap_stale_claims,
    release_claims,
)
from server.services.outbox.outcomes import Outcome, RetryPolicy, record_progress
from server.services.outbox.recipients import PushTarget, RecipientBook, load_recipients
from server.services.outbox.unknowns import flag_unknown_messages
from server.services.outbox.vocabulary import (
    DEFAULT_EXPIRY_REASON,
    DELIVERY_RANK,
    EXPIRY_REASONS,
    RENDERED_KINDS,
    MessageStatus,
)

log = logging.getLogger(__name__)

# Twilio errors that say "this number cannot get our SMS" (the care team should know), as opposed to errors that are
# ours to fix (credentials, a malformed request), which are logged for the operator instead.
NUMBER_ERRORS = frozenset({21211, 21214, 21408, 21612, 21614})

# How long a turn waits for more outcomes after the first (see _gather): a few milliseconds against a provider
# call of a hundred or more, and the turn then records several messages in one statement.
GATHER_SECONDS = 0.005


@dataclass(frozen=True)
class Route:
    """How one claimed row will go out: by SMS, or by push with an optional SMS fallback."""

    channel: str  # "sms" or "push"
    sms_to: str | None = None
    sms_body: str | None = None
    push_message: dict | None = None
    push_targets: tuple[PushTarget, ...] = ()
    push_ttl_seconds: int = 3600


@dataclass
class DispatchReport:
    """What one dispatch pass did (for logs, tests and the benchmark)."""

    claimed: int = 0
    reaped_pending: int = 0
    reaped_unknown: int = 0
    expired_unclaimed: int = 0
    # sent, retry, failed, unknown, cancelled, expired, released, lost
    outcomes: Counter = field(default_factory=Counter)

    def __getitem__(self, key: str) -> int:
        return self.outcomes[key]


class ReminderDispatcher:
    """Owns the bounded thread pool that talks to the providers; one per worker process."""

    def __init__(
        self,
        ctx: AppContext,
        channels: Channels,
        *,
        concurrency: int | None = None,
        lease: timedelta | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.channels = channels
        self.concurrency = concurrency or settings.dispatch_concurrency
        self.lease = lease or timedelta(seconds=settings.claim_lease_seconds)
        if self.lease.total_seconds() <= 2 * settings.sms_timeout_seconds:
            # A send still waiting for its answer must never look dead to another worker's reaper.
            raise ValueError("CLAIM_LEASE_SECONDS must be more than twice SMS_TIMEOUT_SECONDS")
        self.policy = policy or RetryPolicy.from_settings(settings)
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch")
        self._stopping = threading.Event()
        self._default_clinic = (settings.clinic_name, settings.clinic_phone)

    # ------------------------------------------------------------------------------------------------ the pass

    def dispatch_once(self, now: datetime | None = None) -> DispatchReport:
        """Send everything due at `now` (default: the clock) through the pool, then return what happened.

        The pass holds one database connection and keeps three small sets: `ready` (claimed and routed, not
        started), `in_flight` (marked `sending` and handed to a free thread: at most the pool size) and `finished`
        (outcomes not yet written). Each turn writes the finished outcomes and marks the next rows `sending` (one
        statement on PostgreSQL), committed before those requests leave.
        """
        ctx = self.ctx
        now = now or ctx.clock.now()
        report = DispatchReport()
        ready: deque[tuple[ClaimedMessage, Route]] = deque()
        results: SimpleQueue[tuple[ClaimedMessage, Outcome]] = SimpleQueue()  # filled by the pool's threads
        in_flight = 0
        finished: list[tuple[ClaimedMessage, Outcome]] = []
        # Claim batch: claimed rows wait in memory, and a crash sends them back to pending (they were never `sending`).
        claim_batch = self.concurrency * 12
        exhausted = False
        # Autocommit: every dispatcher statement is a compare-and-set on its own rows, so none needs a surrounding
        # transaction, and skipping BEGIN/COMMIT halves the round trips per turn.
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            reaped = reap_stale_claims(conn, now)
            report.reaped_pending, report.reaped_unknown = reaped.returned, reaped.unknown
            if reaped.unknown_ids:
                flag_unknown_messages(ctx, reaped.unknown_ids, now)
            report.expired_unclaimed = expire_overdue(conn, now)
            while True:
                stopping = self._stopping.is_set()
                if stopping and ready:
                    report.outcomes["released"] += release_claims(conn, [c for c, _ in ready], now)
                    ready.clear()
                if not exhausted and not stopping and len(ready) < self.concurrency:
                    exhausted = not self._claim(conn, now, ready, finished, report, room=claim_batch - len(ready))
                to_start = self._take(ready, self.concurrency - in_flight, finished) if not stopping else []
                if finished or to_start:
                    recorded, started = record_progress(
                        ctx, conn, finished, [c for c, _ in to_start], ctx.clock.now(), self.lease
                    )
                    self._count(report, finished, recorded)
                    for claim, route in to_start:
                        if claim.id in started:
                            self._pool.submit(self._send_safely, claim, route, results)
                            in_flight += 1
                        else:  # cancelled by a replan or reaped while waiting: whoever holds it now decides
                            report.outcomes["lost"] += 1
                if not in_flight:
                    if not ready and (exhausted or stopping):
                        break
                    continue
                gathered = self._gather(results, in_flight)
                finished += gathered
                in_flight -= len(gathered)
        if report.claimed or report.reaped_pending or report.reaped_unknown or report.expired_unclaimed:
            log.info(
                "dispatch: claimed %d, %s; reaped %d pending / %d unknown; expired %d",
                report.claimed,
                dict(report.outcomes),
                report.reaped_pending,
                report.reaped_unknown,
                report.expired_unclaimed,
            )
        return report

    def _claim(self, conn, now: datetime, ready: deque, finished: list, report: DispatchReport, room: int) -> bool:
        """Claim and route up to `room` due rows; False when nothing is due any more."""
        claims = claim_due_messages(conn, self.ctx.clock.now(), due_before=now, limit=room, lease=self.lease)
        if not claims:
            return False
        report.claimed += len(claims)
        book = load_recipients(conn, claims, self._default_clinic)
        for claim in claims:
            route = self._route(claim, book, now)
            if isinstance(route, Outcome):
                finished.append((claim, route))  # cancelled, expired or failed without a send
            else:
                ready.append((claim, route))
        return True

    def _take(self, ready: deque, room: int, finished: list) -> list[tuple[ClaimedMessage, Route]]:
        """The next ready rows to start (up to `room`); rows that expired while waiting are finished instead."""
        now = self.ctx.clock.now()
        batch: list[tuple[ClaimedMessage, Route]] = []
        while ready and len(batch) < room:
            claim, route = ready.popleft()
            if claim.expires_at is not None and claim.expires_at <= now:
                reason = EXPIRY_REASONS.get(claim.kind, DEFAULT_EXPIRY_REASON)
                finished.append((claim, Outcome(MessageStatus.EXPIRED, reason=reason)))
            else:
                batch.append((claim, route))
        return batch

    def _gather(self, results: SimpleQueue, in_flight: int) -> list[tuple[ClaimedMessage, Outcome]]:
        """The outcomes for the next turn: wait for one, then for up to half the pool's (at most GATHER_SECONDS
        more), so one statement records many messages when the provider answers fast, and a slow provider's
        answers are not held back for long."""
        gathered = [results.get()]
        wanted = min(in_flight, max(1, self.concurrency // 2))
        deadline = time.monotonic() + GATHER_SECONDS
        while len(gathered) < wanted:
            try:
                gathered.append(results.get(timeout=max(0.0, deadline - time.monotonic())))
            except Empty:
                break
        while not results.empty():
            gathered.append(results.get())
        return gathered

    @staticmethod
    def _count(report: DispatchReport, finished: list, recorded: int) -> None:
        for _, outcome in finished:
            report.outcomes["retry" if outcome.status == MessageStatus.PENDING else outcome.status] += 1
        report.outcomes["lost"] += len(finished) - recorded
        finished.clear()

    def stop(self) -> None:
        """Stop claiming; rows claimed but not yet sending are released; sends in flight finish."""
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------------------------------------ routing

    def _route(self, claim: ClaimedMessage, book: RecipientBook, now: datetime) -> Route | Outcome:
        """Decide the channel and the words, or an outcome without sending (cancel, expire)."""
        if claim.expires_at is not None and claim.expires_at <= now:
            return Outcome(MessageStatus.EXPIRED, reason=EXPIRY_REASONS.get(claim.kind, DEFAULT_EXPIRY_REASON))
        if not claim.to_patient:  # pages and other staff messages carry their body and number
            if not claim.body or not claim.to_address:
                return Outcome(MessageStatus.FAILED, error="nothing to send: the row has no body or no address")
            if claim.kind == "page" and claim.alert_id is not None:
                if claim.alert_id in book.settled_alerts:
                    return Outcome(
                        MessageStatus.CANCELLED,
                        reason="the alert was acknowledged before this page reached the provider",
                    )
                # The page links to the alert (a staff page behind sign-in): no health data travels by SMS.
                link = f"{self.ctx.settings.public_base_url}/staff/alerts/{claim.alert_id}"
                return Route("sms", sms_to=claim.to_address, sms_body=f"{claim.body} {link}")
            return Route("sms", sms_to=claim.to_address, sms_body=claim.body)
        recipient = book.recipients.get(claim.patient_id)
        if recipient is None:
            return Outcome(MessageStatus.CANCELLED, reason="the patient no longer exists")
        if (done := book.already_done(claim)) is not None:
            return Outcome(MessageStatus.CANCELLED, reason=done)
        refusal = recipient.sms_refusal()
        if claim.body is not None:  # a ready-made message to a patient (reply, invite, sign-in link)
            if refusal:
                return Outcome(MessageStatus.CANCELLED, reason=f"not sent: {refusal}")
            return Route("sms", sms_to=claim.to_address or recipient.phone, sms_body=claim.body)
        if claim.kind not in RENDERED_KINDS:
            return Outcome(MessageStatus.FAILED, error=f"no template for a {claim.kind!r} reminder without a body")
        base_url = self.ctx.settings.public_base_url
        sms_body = None if refusal else render_reminder(claim.kind, claim.payload, recipient, "sms", base_url).sms
        targets = recipient.push_targets if self.channels.push is not None else ()
        if targets and (recipient.channel_preference == "push" or refusal):
            message = render_reminder(claim.kind, claim.payload, recipient, "push", base_url)
            ttl = int((claim.expires_at - now).total_seconds()) if claim.expires_at else 3600
            return Route(
                "push",
                sms_to=None if refusal else recipient.phone,
                sms_body=sms_body,
                push_message={
                    "title": message.title,
                    "body": message.text,
                    "url": message.url,
                    "tag": f"reminder-{claim.id}",
                },
                push_targets=targets,
                push_ttl_seconds=ttl,
            )
        if refusal:
            return Outcome(MessageStatus.CANCELLED, reason=f"not sent: {refusal}")
        return Route("sms", sms_to=recipient.phone, sms_body=sms_body)

    # ------------------------------------------------------------------------------------------------ sending

    def _send_safely(self, claim: ClaimedMessage, route: Route, results: SimpleQueue) -> None:
        """Runs in the pool: one provider call for a row already marked `sending`, no database work; the outcome
        goes to `results`, always."""
        try:
            outcome = self._send(claim, route)
        except Exception as exc:  # a bug between us and the provider: the request may have left
            log.exception("sending reminder %s failed unexpectedly", claim.id)
            outcome = Outcome(MessageStatus.UNKNOWN, error=f"not re-sent: unexpected {type(exc).__name__}: {exc}"[:500])
        results.put((claim, outcome))

    def _send(self, claim: ClaimedMessage, route: Route) -> Outcome:
        if route.channel == "push":
            return self._send_push(claim, route)
        return self._send_sms(claim, route.sms_to, route.sms_body)

    def _send_sms(self, claim: ClaimedMessage, to: str, body: str, **extra) -> Outcome:
        channel = self.channels.sms_name
        result = self.channels.sms.send(to, body, status_callback=self.channels.status_callback_for(claim.id))
        if result.outcome is SendOutcome.ACCEPTED:
            return Outcome(
                MessageStatus.SENT,
                channel=channel,
                to_address=to,
                provider_id=result.provider_id,
                delivery_status=_initial_delivery_status(result),
                **extra,
            )
        if result.outcome is SendOutcome.TRANSIENT:
            return self._retry(claim, result, channel=channel, to_address=to, **extra)
        if result.outcome is SendOutcome.AMBIGUOUS:
            return Outcome(
                MessageStatus.UNKNOWN, channel=channel, to_address=to, error=f"not re-sent: {result.detail}", **extra
            )
        unreachable = result.detail if claim.to_patient and result.error_code in NUMBER_ERRORS else None
        if not (result.opted_out or unreachable):
            log.error("SMS for reminder %s failed permanently: %s", claim.id, result.detail)
        return Outcome(
            MessageStatus.FAILED,
            channel=channel,
            to_address=to,
            error=result.detail,
            opted_out=result.opted_out,
            unreachable=unreachable,
            **extra,
        )

    def _send_push(self, claim: ClaimedMessage, route: Route) -> Outcome:
        results = [
            (t, self.channels.push.send(t, route.push_message, ttl_seconds=route.push_ttl_seconds))
            for t in route.push_targets
        ]
        gone = tuple(t.endpoint for t, r in results if is_gone(r))
        accepted = [(t, r) for t, r in results if r.accepted]
        if accepted:
            return Outcome(
                MessageStatus.SENT,
                channel="push",
                provider_id=(accepted[0][1].provider_id or "")[:64] or None,
                delivery_status="sent",
                expired_endpoints=gone,
                push_ok_endpoints=tuple(t.endpoint for t, _ in accepted),
            )
        ambiguous = [r for _, r in results if r.outcome is SendOutcome.AMBIGUOUS]
        if ambiguous:
            return Outcome(
                MessageStatus.UNKNOWN,
                channel="push",
                error=f"not re-sent: {ambiguous[0].detail}",
                expired_endpoints=gone,
            )
        transient = [r for _, r in results if r.outcome is SendOutcome.TRANSIENT]
        if transient:
            return self._retry(claim, transient[0], channel="push", expired_endpoints=gone)
        # Every subscription refused for good (usually expired): the patient falls back to SMS.
        detail = "; ".join(r.detail for _, r in results)[:300]
        if route.sms_body and route.sms_to:
            return self._send_sms(claim, route.sms_to, route.sms_body, expired_endpoints=gone)
        return Outcome(
            MessageStatus.FAILED,
            channel="push",
            error=f"no working push subscription and no SMS allowed: {detail}",
            expired_endpoints=gone,
            unreachable="push subscriptions expired and SMS is not allowed",
        )

    def _retry(self, claim: ClaimedMessage, result: SendResult, **extra) -> Outcome:
        now = self.ctx.clock.now()
        attempts = claim.attempts + 1  # this attempt, counted when the row was marked sending
        if attempts >= self.policy.max_attempts:
            return Outcome(
                MessageStatus.FAILED,
                error=f"gave up after {attempts} attempts: {result.detail}",
                unreachable=(f"{attempts} attempts failed ({result.detail})" if claim.to_patient else None),
                **extra,
            )
        retry_at = now + self.policy.delay(attempts, result.retry_after, self._rng)
        if claim.expires_at is not None and retry_at >= claim.expires_at:
            reason = EXPIRY_REASONS.get(claim.kind, DEFAULT_EXPIRY_REASON)
            return Outcome(
                MessageStatus.EXPIRED,
                reason=f"{reason} (after {attempts} failed attempts)",
                error=result.detail,
                **extra,
            )
        return Outcome(MessageStatus.PENDING, retry_at=retry_at, error=f"attempt {attempts}: {result.detail}", **extra)


def _initial_delivery_status(result: SendResult) -> str:
    status = (result.status or "queued").lower()
    return status if status in DELIVERY_RANK else "queued"


def dispatch_once(
    ctx: AppContext,
    channels: Channels,
    now: datetime | None = None,
    *,
    concurrency: int | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> DispatchReport:
    """One dispatch pass with a pool of its own (tests and one-off runs; the worker keeps a dispatcher)."""
    dispatcher = ReminderDispatcher(ctx, channels, concurrency=concurrency, policy=policy, rng=rng)
    try:
        return dispatcher.dispatch_once(now)
    finally:
        dispatcher.close()
