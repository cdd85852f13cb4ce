"""Plan-change notices (architecture flow 5): every new plan version is told to the patient, who confirms it.

`record_notice` runs inside the plan-change transaction (services/plans.py): it stores what the patient took before
and takes now (structured snapshots), supersedes an older unconfirmed notice, and puts a message in the outbox for
the patient's channel (rendered at send time by notifications/messages.py: push or SMS, with no drug name unless the
patient opted in). The patient confirms with "I understand" on Today or by an SMS reply (`OK`, `ENTENDIDO`...,
services/sms_inbound.py). An unconfirmed notice 12 hours before the next affected dose opens R-PLAN-UNSEEN
(patient_state.build_state fills its inputs; the sweep opens the alert).

The words of a notice live here, as catalog msgids, so that Today and the SMS say the same thing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from ..clinical.regimens import Plan, PlanStatus
from ..context import AppContext
from ..db import session_scope
from ..errors import NotFound
from ..i18n import N_, WEEKDAYS_PLURAL, format_clock, format_day, normalize_language, translate, translate_plural
from ..models import Patient, PlanChangeNotice, TreatmentPlan
from .outbox.enqueue import insert_ignoring_duplicates
from .outbox.vocabulary import MessageKind, MessageStatus
from .pqi.teach_back_sms import queue_question

# How long the message about a change may wait in the outbox (quiet hours, retries) before it is pointless.
NOTICE_MESSAGE_TTL = timedelta(hours=24)
ACK_CHANNELS = ("app", "sms")


def plan_snapshot(patient: Patient, plan: TreatmentPlan) -> dict[str, Any]:
    """What the patient takes under a plan version, as plain JSON values (the notice's before / after)."""
    clinical = Plan(
        regimen=plan.regimen,
        level=plan.dose_level,
        status=PlanStatus(plan.status),
        tablet_strength_mg=patient.tablet_strength_mg,
    )
    snapshot: dict[str, Any] = {
        "status": plan.status,
        "regimen": plan.regimen,
        "level": plan.dose_level,
        "dose_mg": clinical.dose_mg,
        "tablets": clinical.tablets,
        "strength_mg": patient.tablet_strength_mg,
        "twice_weekly": clinical.dose_level.twice_weekly,
        "day1_weekday": plan.day1_weekday,
        "day3_weekday": plan.day3_weekday,
        "dose_time": plan.dose_time.strftime("%H:%M"),
        "has_dexamethasone": bool(clinical.regimen_data.dexamethasone_mg),
    }
    # Issue 10 item 3 (a hold says what happens to dexamethasone): the staff choice recorded on the held plan.
    choice = plan.dexamethasone_on_hold if plan.status == "held" else None
    if choice:
        snapshot["dexamethasone_during_hold"] = str(choice)
    return snapshot


def record_notice(
    session: Session, patient: Patient, old: TreatmentPlan, new: TreatmentPlan, operation: str, now: datetime
) -> PlanChangeNotice:
    """Store the notice of a plan change and queue its message, in the caller's transaction."""
    for pending in session.exec(
        select(PlanChangeNotice).where(
            PlanChangeNotice.patient_id == patient.id,
            PlanChangeNotice.acknowledged_at.is_(None),
            PlanChangeNotice.superseded_at.is_(None),
        )
    ).all():
        pending.superseded_at = now  # the patient confirms the plan as it is now, not each step
        session.add(pending)
    notice = PlanChangeNotice(
        patient_id=patient.id,
        plan_id=new.id,
        previous_plan_id=old.id,
        operation=operation,
        before=plan_snapshot(patient, old),
        after=plan_snapshot(patient, new),
        created_at=now,
    )
    session.add(notice)
    session.flush()
    payload = {"notice_id": notice.id, "operation": operation, "before": notice.before, "after": notice.after}
    insert_ignoring_duplicates(
        session,
        [
            {
                "dedupe_key": f"{MessageKind.PLAN_NOTICE}:{notice.id}",
                "patient_id": patient.id,
                "kind": MessageKind.PLAN_NOTICE,
                "channel": patient.channel_preference or "sms",
                "to_address": None,
                "body": None,
                "scheduled_for": now,
                "send_at": now,
                "expires_at": now + NOTICE_MESSAGE_TTL,
                "status": MessageStatus.PENDING,
                "next_attempt_at": now,
                "attempts": 0,
                "payload": json.dumps(payload),
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    return notice


def pending_notice(session: Session, patient_id: int) -> PlanChangeNotice | None:
    """The latest plan-change notice the patient has not confirmed (None: nothing to confirm)."""
    return session.exec(
        select(PlanChangeNotice)
        .where(
            PlanChangeNotice.patient_id == patient_id,
            PlanChangeNotice.acknowledged_at.is_(None),
            PlanChangeNotice.superseded_at.is_(None),
        )
        .order_by(PlanChangeNotice.created_at.desc(), PlanChangeNotice.id.desc())
    ).first()


def latest_notice(session: Session, patient_id: int) -> PlanChangeNotice | None:
    """The patient's most recent plan-change notice, confirmed or not."""
    return session.exec(
        select(PlanChangeNotice)
        .where(PlanChangeNotice.patient_id == patient_id)
        .order_by(PlanChangeNotice.created_at.desc(), PlanChangeNotice.id.desc())
    ).first()


def acknowledge_notice(ctx: AppContext, patient_id: int, notice_id: int | None, *, via: str) -> PlanChangeNotice:
    """Record that the patient understood a notice (the latest pending one when `notice_id` is None).

    Confirming twice is harmless (the first time is kept); another patient's notice is not found.
    """
    if via not in ACK_CHANNELS:
        raise ValueError(f"via must be one of {ACK_CHANNELS}")
    now = ctx.clock.now()
    with session_scope(ctx.engine) as session:
        notice = pending_notice(session, patient_id) if notice_id is None else session.get(PlanChangeNotice, notice_id)
        if notice is None or notice.patient_id != patient_id:
            raise NotFound("No such plan change.")
        if notice.acknowledged_at is None:
            notice.acknowledged_at, notice.acknowledged_via = now, via
            session.add(notice)
            session.flush()
            if via == "sms":
                _ask_teach_back(session, notice, now, ctx.settings.clinic_name)
        session.expunge(notice)
        return notice


def _ask_teach_back(session: Session, notice: PlanChangeNotice, now: datetime, default_clinic: str) -> None:
    """issue 14 item 2: a change confirmed by text is followed by the schedule teach-back by text (same transaction)."""
    patient = session.get(Patient, notice.patient_id)
    plan = session.get(TreatmentPlan, notice.plan_id)
    if patient is not None and plan is not None:
        queue_question(session, patient, plan, now, default_clinic=default_clinic)


# --------------------------------------------------------------------------------------------------------------------
# Words (catalog msgids): Today shows them with the drug's name; an SMS only when the patient opted in.
# --------------------------------------------------------------------------------------------------------------------

AT_TIME = N_("%(dose)s at %(time)s")
CHANGED = N_("Your selinexor changed: now %(now)s (before: %(before)s).")
CHANGED_UNNAMED = N_("Your dose changed: now %(now)s (before: %(before)s).")
RESTARTS = N_("Your selinexor restarts: %(now)s.")
RESTARTS_UNNAMED = N_("Your dose restarts: %(now)s.")
HELD = N_("Your selinexor is on hold: do not take it until your care team tells you to restart.")
HELD_UNNAMED = N_("Your dose is on hold: do not take it until your care team tells you to restart.")
BEFORE_HOLD = N_("Before the hold: %(before)s.")
STOPPED = N_("Your care team has stopped selinexor. Do not take any more selinexor tablets.")
STOPPED_UNNAMED = N_("Your care team has stopped this treatment. Do not take any more of these tablets.")
# Issue 10 item 3: the hold's choice for dexamethasone, when the plan records it; never "stop it on your own".
DEXA_CONTINUE = N_("Keep taking dexamethasone as prescribed.")
DEXA_CONTINUE_UNNAMED = N_("Keep taking your steroid tablets as prescribed.")
DEXA_HOLD_TOO = N_("Your care team has also put dexamethasone on hold until they tell you to restart it.")
DEXA_HOLD_TOO_UNNAMED = N_(
    "Your care team has also put your steroid tablets on hold until they tell you to restart them."
)
DEXA_ASK = N_("If you are not sure what to do about dexamethasone, call your care team.")
DEXA_ASK_UNNAMED = N_("If you are not sure what to do about your steroid tablets, call your care team.")
SMS_CONFIRM = N_("Reply OK to tell your care team you have read this.")


def _pattern(lang: str, snap: dict[str, Any], with_time: bool) -> str:
    """'5 tablets on Mondays only', '4 tablets on Mondays and Wednesdays' (and the time when it changed)."""
    day1, day3 = (translate(lang, WEEKDAYS_PLURAL[snap[k] % 7]) for k in ("day1_weekday", "day3_weekday"))
    tablets = int(snap["tablets"])
    if snap["twice_weekly"]:
        text = translate_plural(
            lang,
            "%(num)s tablet on %(day1)s and %(day3)s",
            "%(num)s tablets on %(day1)s and %(day3)s",
            tablets,
            day1=day1,
            day3=day3,
        )
    else:
        text = translate_plural(
            lang, "%(num)s tablet on %(day1)s only", "%(num)s tablets on %(day1)s only", tablets, day1=day1
        )
    if with_time:
        hour, minute = (int(part) for part in snap["dose_time"].split(":"))
        text = translate(lang, AT_TIME, dose=text, time=format_clock(datetime(2000, 1, 1, hour, minute), lang))
    return text


def notice_sentences(before: dict[str, Any], after: dict[str, Any], lang: str, *, named: bool = True) -> list[str]:
    """What changed, in the patient's language: one or two sentences."""
    lang = normalize_language(lang)
    with_time = before.get("dose_time") != after.get("dose_time")
    status = after["status"]
    if status == PlanStatus.DISCONTINUED.value:
        return [translate(lang, STOPPED if named else STOPPED_UNNAMED)]
    if status == PlanStatus.HELD.value:
        out = [translate(lang, HELD if named else HELD_UNNAMED)]
        if before["status"] == PlanStatus.ACTIVE.value:
            out.append(translate(lang, BEFORE_HOLD, before=_pattern(lang, before, False)))
        if after.get("has_dexamethasone"):
            choice = after.get("dexamethasone_during_hold")
            if choice == "continue":
                out.append(translate(lang, DEXA_CONTINUE if named else DEXA_CONTINUE_UNNAMED))
            elif choice == "hold":
                out.append(translate(lang, DEXA_HOLD_TOO if named else DEXA_HOLD_TOO_UNNAMED))
            else:
                out.append(translate(lang, DEXA_ASK if named else DEXA_ASK_UNNAMED))
        return out
    now_words = _pattern(lang, after, with_time)
    if before["status"] != PlanStatus.ACTIVE.value:
        return [translate(lang, RESTARTS if named else RESTARTS_UNNAMED, now=now_words)]
    return [
        translate(lang, CHANGED if named else CHANGED_UNNAMED, now=now_words, before=_pattern(lang, before, with_time))
    ]


def notice_time_words(at: datetime, zone, lang: str) -> str:
    """'Monday, March 2 at 9:00 AM' in the patient's zone (staff and patient pages)."""
    local = at.astimezone(zone)
    return translate(lang, "%(day)s at %(time)s", day=format_day(local, lang), time=format_clock(local, lang))
