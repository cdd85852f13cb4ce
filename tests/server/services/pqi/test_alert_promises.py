"""Alert handling in the quality report: an alert whose tier was raised (alerts.upsert_alert raises it in place) is
judged against its tier from the moment it reached it, not from its opening."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session

from server.db import session_scope
from server.models import Alert, AlertEvent, Clinic
from server.services.alerts import TIER_RAISED
from server.services.pqi.periods import parse_period
from server.services.pqi.quality_report import quality_report
from tests.support.quality import FROM, REPORT_NOW, TO, ZONE, build_quality_clinic, utc


def _raised_alert(session, patient_id: int, family: str, acked: str | None, actions: tuple[str, ...]) -> None:
    """Routine, opened Mon 16 Mar 10:00 EDT; raised to urgent Wed 18 Mar 11:00 EDT (as upsert_alert records it)."""
    alert = Alert(
        patient_id=patient_id,
        family=family,
        rule="R-NV-3",
        tier="urgent",
        action="interrupt",
        status="acknowledged",
        facts="",
        opened_at=utc("2026-03-16T14:00"),
        updated_at=utc("2026-03-18T15:00"),
        acknowledged_at=utc(acked) if acked else utc("2026-03-16T15:00"),
        page_level=1,
    )
    if acked is None:
        alert.status = "open"  # acknowledged while routine; the raise reopened it and nobody acknowledged it again
    session.add(alert)
    session.flush()
    session.add(AlertEvent(alert_id=alert.id, kind="created", at=utc("2026-03-16T14:00"), detail="R-NV-2: x"))
    session.add(AlertEvent(alert_id=alert.id, kind="action", at=utc("2026-03-16T15:30")))  # before the raise
    session.add(
        AlertEvent(
            alert_id=alert.id, kind="updated", at=utc("2026-03-18T15:00"), detail=f"{TIER_RAISED}urgent; R-NV-3: y"
        )
    )
    for at in actions:
        session.add(AlertEvent(alert_id=alert.id, kind="action", at=utc(at)))


def test_a_raised_alert_is_timed_from_when_it_reached_its_tier(engine, settings):
    ids = build_quality_clinic(engine)
    with session_scope(engine) as s:
        # Acknowledged 5 min after the raise, a plan action 20 min after it.
        _raised_alert(s, ids["ben"], "raised-acked", "2026-03-18T15:05", ("2026-03-18T15:20",))
        # Acknowledged only before the raise: not acknowledged at its tier (the promise is long broken by now).
        _raised_alert(s, ids["ann"], "raised-unacked", None, ())
    with Session(engine) as session:
        clinic = session.get(Clinic, ids["clinic"])
        period = parse_period(FROM, TO, ZoneInfo(ZONE), REPORT_NOW)
        table = quality_report(session, clinic, settings, period, REPORT_NOW).table("alerts")
    shown = {column: table.figure("2026-03:urgent", column).text for column, _ in table.columns}
    # With Ann's urgent alert of 2 March (acknowledged in 10 min, a plan action at 40 min).
    assert shown == {
        "opened": "3",
        "ack_median": "7.5 min",
        "ack_p90": "10 min",
        "promise": "66.7% (2/3)",
        "action_median": "30 min",
        "action_p90": "40 min",
        "escalated": "0.0% (0/3)",
    }
    assert table.figure("2026-03:routine", "opened").text == "0"
    assert "the entry that raised it to this tier" in table.note


def test_the_urgent_promise_is_the_clinics_re_page_interval(engine, settings):
    ids = build_quality_clinic(engine)
    with session_scope(engine) as s:
        _raised_alert(s, ids["ben"], "raised-acked", "2026-03-18T15:05", ("2026-03-18T15:20",))
        _raised_alert(s, ids["ann"], "raised-unacked", None, ())
    # ESCALATION_MINUTES=8: the next person is paged after 8 min, so Ann's 10-minute acknowledgement misses it.
    paged_sooner = settings.model_copy(update={"escalation_minutes": 8})
    with Session(engine) as session:
        clinic = session.get(Clinic, ids["clinic"])
        period = parse_period(FROM, TO, ZoneInfo(ZONE), REPORT_NOW)
        table = quality_report(session, clinic, paged_sooner, period, REPORT_NOW).table("alerts")
    assert table.figure("2026-03:urgent", "promise").text == "33.3% (1/3)"
    assert "urgent 8 min" in table.note
