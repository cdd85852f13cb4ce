# Over 400 lines on purpose: one patient's history (plan, doses, weights, labs, alerts, reminders) is one story, kept
# in one class so that it reads from top to bottom; it is demo data, not product code.
"""Six months of history for the demo clinic (issue 14 item 4): a dozen patients, so that the clinic quality report
and its charts mean something on `make run`. Deterministic (a seeded random per patient) and idempotent (keyed by
MRN: a patient already there is skipped); dates are relative to `now`.

Why most rows are written here rather than through the entry and plan services: those refuse entries older than
7 days (entries.MAX_ENTRY_AGE), and every plan change replans reminders and queues a patient notice relative to the
service's clock, so replaying six months through them would leave months of past pending messages for the worker of
`make run`, and take some 2,000 transactions (tens of seconds on SQLite). The rows mirror what the services write
(same keys, plan-version fields, alert events, audit rows). Alerts are opened by `services.alerts.upsert_alert` and
paged by `page_next`, the SMS opt-out by `outbox.opt_out.opt_out_of_sms`: those take the caller's transaction and
an explicit instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from .clinical import regimens
from .clinical.regimens import Plan, PlanStatus
from .clinical.rules import RULES, Finding
from .clinical.schedule import resolve_local
from .context import AppContext
from .db import session_scope
from .demo import DEMO_STAFF, DemoRefused
from .models import (
    Alert,
    AlertEvent,
    AntiemeticEvent,
    Clinic,
    DoseEvent,
    LabResult,
    OutboundMessage,
    Patient,
    Staff,
    StartChecklistItem,
    SymptomReport,
    TeachBackAttempt,
    TreatmentPlan,
    WeightEntry,
)
from .services.alerts import page_next, upsert_alert
from .services.audit import audit
from .services.outbox.opt_out import opt_out_of_sms
from .services.outbox.planning import reminder_key
from .services.pqi.checklist import CHECKLIST_ITEMS, applies
from .services.pqi.dose_calendar import scheduled_dose_days
from .services.pqi.teach_back import build_questions

AUDITED_EVENTS = {"acknowledged": "alert.acknowledge", "resolved": "alert.resolve"}
HISTORY_DAYS = 182  # about six months: the report's default period
START_EVERY_DAYS = 14  # a new start every two weeks, the last one four weeks before today
# The indication the pharmacist reads on the prescription (clinical/start_checklist.py INDICATIONS).
INDICATION_OF = {"Xd": "rrmm", "XVd": "mm", "DLBCL": "rr_dlbcl"}


@dataclass(frozen=True)
class HistoryPatient:
    mrn: str
    first_name: str
    last_name: str
    language: str
    regimen: str
    level: int
    day1: int  # weekday of Day 1 (Monday 0)
    dose_time: time
    baseline_kg: float
    weekly_loss_kg: float  # drift of the weekly weight, down to a floor of 88% of baseline
    channel: str = "sms"  # sms | push
    stop_day: int | None = None  # discontinued this many days after the start
    low_platelets_day: int | None = None  # this lab finds platelets 62: R-PLT-75, reduced from the alert
    low_sodium_day: int | None = None  # this lab finds sodium 129: R-NA, acknowledged and followed up
    vomiting_dose: int | None = None  # the n-th scheduled dose is vomited (6 episodes): R-NV-3, held then resumed
    missed_doses: tuple[int, ...] = ()  # the n-th scheduled doses are logged missed: R-MISS-2 after the second
    wrong_day: int | None = None  # an extra dose this many days after the start (not a dose day)
    opt_out_day: int | None = None  # texts STOP this many days after the start
    # The start checklist: "before" (done the day after enrollment, before the first dose), "after" (education done
    # two days after the first dose) or "incomplete" (the starter kit never ticked).
    checklist: str = "before"
    # The schedule teach-back at enrollment: "passed", "second_try" (the days right at the second try), "wrong_twice"
    # (R-TEACH-BACK: staff call) or "" (not answered); `teach_back_again`: asked again after each plan change.
    teach_back: str = ""
    teach_back_again: bool = False


HISTORY_PATIENTS = (
    HistoryPatient("HIST-01", "Alice", "Moreau", "en", "Xd", 0, 0, time(8, 0), 70.0, 0.1, teach_back="passed"),
    HistoryPatient(
        "HIST-02", "Bashir", "Rahman", "en", "XVd", 0, 1, time(9, 0), 82.0, 0.15, stop_day=98, teach_back="passed"
    ),
    HistoryPatient(
        "HIST-03",
        "Carmen",
        "Ortiz",
        "es",
        "Xd",
        0,
        2,
        time(8, 30),
        64.0,
        0.2,
        low_platelets_day=36,
        teach_back="second_try",
        teach_back_again=True,
    ),
    HistoryPatient("HIST-04", "David", "Okafor", "en", "DLBCL", 0, 0, time(10, 0), 75.0, 1.1),  # crosses -10%
    HistoryPatient(
        "HIST-05", "Elena", "Petrova", "en", "Xd", 0, 3, time(8, 0), 58.0, 0.1, vomiting_dose=11, teach_back="passed"
    ),
    HistoryPatient("HIST-06", "Farid", "Haddad", "en", "XVd", 1, 4, time(9, 0), 90.0, 0.05, "push", wrong_day=23),
    HistoryPatient(
        "HIST-07",
        "Grace",
        "Kim",
        "en",
        "Xd",
        0,
        1,
        time(7, 30),
        61.0,
        0.1,
        missed_doses=(8, 9),
        checklist="after",
        teach_back="wrong_twice",
    ),
    HistoryPatient("HIST-08", "Hiro", "Tanaka", "en", "DLBCL", 0, 2, time(9, 0), 72.0, 0.45, teach_back="passed"),
    HistoryPatient(
        "HIST-09", "Ines", "Silva", "es", "Xd", 1, 0, time(8, 0), 66.0, 0.1, opt_out_day=40, teach_back="second_try"
    ),
    HistoryPatient("HIST-10", "James", "Wright", "en", "XVd", 0, 3, time(10, 0), 85.0, 0.2, "push"),
    HistoryPatient(
        "HIST-11", "Kofi", "Mensah", "en", "Xd", 0, 4, time(8, 0), 77.0, 0.15, low_sodium_day=22, teach_back="passed"
    ),
    HistoryPatient("HIST-12", "Lena", "Fischer", "en", "DLBCL", 0, 1, time(9, 30), 63.0, 0.1, checklist="incomplete"),
)


@dataclass
class _Seeder:
    """One patient's history, written in one transaction."""

    session: Session
    patient: Patient
    story: HistoryPatient
    start: date
    until: date  # yesterday, in the patient's zone
    nurse: Staff
    pharmacist: Staff
    rng: random.Random
    plans: list[TreatmentPlan]

    @property
    def pid(self) -> int:
        return self.patient.id or 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.patient.timezone)

    def at(self, day: date, wall: time, minutes: float = 0) -> datetime:
        return resolve_local(day, wall, self.zone).astimezone(UTC) + timedelta(minutes=minutes)

    def key(self, what: str, when: date | datetime) -> str:
        return f"hist-{self.story.mrn}-{what}-{when:%Y%m%d%H%M}"

    # ------------------------------------------------------------------------------------------ plan versions

    def change_plan(
        self, at: datetime, operation: str, staff: Staff, reason: str, hold_rule: str | None = None
    ) -> None:
        """A new plan version as services.plans.change_plan makes it (the ladder from clinical.regimens)."""
        old = self.plans[-1]
        plan = Plan(old.regimen, old.dose_level, PlanStatus(old.status), self.patient.tablet_strength_mg)
        if operation == "hold":
            plan = regimens.hold(plan, regimens.DexamethasoneOnHold.CONTINUE if plan.regimen != "DLBCL" else None)
        elif operation == "resume":
            plan = regimens.resume(plan)
        elif operation == "reduce":
            plan = regimens.reduce(plan)
        elif operation == "discontinue":
            plan = regimens.discontinue(plan)
        new = TreatmentPlan(
            **{
                k: getattr(old, k)
                for k in ("patient_id", "regimen", "start_date", "day1_weekday", "day3_weekday", "dose_time")
            },
            **{k: getattr(old, k) for k in ("antiemetic_name", "antiemetic_offset_min", "dexamethasone_instruction")},
            version=old.version + 1,
            dose_level=plan.level,
            status=plan.status.value,
            hold_rule=hold_rule if plan.status is PlanStatus.HELD else None,
            dexamethasone_on_hold=plan.dexamethasone_on_hold.value,
            reason=reason,
            changed_by_staff_id=staff.id,
            created_at=at,
        )
        self.session.add(new)
        self.plans.append(new)
        audit(
            self.session,
            staff_id=staff.id,
            action=f"plan.{operation}",
            patient_id=self.pid,
            now=at,
            detail=f"v{old.version} {old.regimen} L{old.dose_level} {old.status} -> v{new.version} "
            f"L{new.dose_level} {new.status}: {reason}",
        )

    # ------------------------------------------------------------------------------------------ alerts

    def alert(
        self,
        rule_id: str,
        facts: str,
        opened: datetime,
        ack_after: timedelta,
        staff: Staff,
        *,
        escalated: bool = False,
        action: tuple[str, timedelta, str] | None = None,
        resolve_after: timedelta | None = None,
    ) -> Alert | None:
        """Open the rule's alert at `opened` (services.alerts), page on, acknowledge, act and resolve as staff would."""
        rule = RULES[rule_id]
        finding = Finding(rule.id, rule.family, rule.tier, rule.action, facts, (), None, None)
        change = upsert_alert(self.session, self.patient, finding, opened)
        alert = self.session.get(Alert, change.alert_id) if change is not None else None
        if alert is not None:
            self.handle(
                alert, opened, ack_after, staff, escalated=escalated, action=action, resolve_after=resolve_after
            )
        return alert

    def handle(
        self,
        alert: Alert,
        opened: datetime,
        ack_after: timedelta,
        staff: Staff,
        *,
        escalated: bool = False,
        action: tuple[str, timedelta, str] | None = None,
        resolve_after: timedelta | None = None,
    ) -> None:
        """What the care team did with an open alert (as services/staff/alert_actions.py records it)."""
        if escalated:  # nobody answered the first page: the next person on call is paged
            page_next(self.session, self.patient, alert, opened + timedelta(minutes=15))
        acked = opened + ack_after
        for page in self.session.exec(select(OutboundMessage).where(OutboundMessage.alert_id == alert.id)).all():
            # What the worker did with each page: sent before the acknowledgement, cancelled by it otherwise.
            sent = page.send_at <= acked
            page.status, page.updated_at = (
                ("sent", page.send_at + timedelta(seconds=5)) if sent else ("cancelled", acked)
            )
            page.sent_at = page.updated_at if sent else None
            page.delivery_status = "delivered" if sent else None
            page.cancel_reason = None if sent else f"acknowledged by {staff.name}"
            self.session.add(page)
        alert.status, alert.acknowledged_at, alert.acknowledged_by_staff_id = "acknowledged", acked, staff.id
        alert.assigned_to_staff_id, alert.next_page_at, alert.updated_at = staff.id, None, acked
        self.event(alert, "acknowledged", acked, staff, f"acknowledged by {staff.name} ({staff.role})")
        if action is not None:
            operation, after, reason = action
            self.change_plan(acked + after, operation, self.pharmacist, reason, hold_rule=alert.rule)
            plan = self.plans[-1]
            detail = (
                f"{operation}: plan v{plan.version}, {plan.regimen} level {plan.dose_level}, {plan.status}. {reason}"
            )
            self.event(alert, "action", acked + after, self.pharmacist, detail)
        if resolve_after is not None:
            resolved = opened + resolve_after
            alert.status, alert.resolved_at, alert.resolved_by_staff_id = "resolved", resolved, staff.id
            alert.outcome, alert.updated_at = "Followed up by phone (demo history).", resolved
            self.event(alert, "resolved", resolved, staff, alert.outcome)
        self.session.add(alert)

    def event(self, alert: Alert, kind: str, at: datetime, staff: Staff, detail: str) -> None:
        self.session.add(AlertEvent(alert_id=alert.id or 0, kind=kind, at=at, staff_id=staff.id, detail=detail))
        if kind in AUDITED_EVENTS:  # the action's own audit row is the plan change's
            audit(self.session, staff_id=staff.id, action=AUDITED_EVENTS[kind], patient_id=self.pid, now=at)

    # ------------------------------------------------------------------------------------------ entries

    def incidents_changing_the_plan(self, first_days: list[date]) -> None:
        """The stories that change the plan: a discontinuation, a reduction from a lab alert, a hold then resume."""
        story = self.story
        if story.stop_day is not None:
            day = self.start + timedelta(days=story.stop_day)
            self.change_plan(self.at(day, time(11, 0)), "discontinue", self.pharmacist, "Disease progression")
        if story.vomiting_dose is not None:
            day = first_days[story.vomiting_dose]
            reported = self.at(day, self.plans[0].dose_time, 6 * 60)
            self.session.add(
                SymptomReport(
                    patient_id=self.pid,
                    idempotency_key=self.key("symptoms", reported),
                    at=reported,
                    nausea=2,
                    vomiting_episodes=6,
                    loose_stools=0,
                    recorded_at=reported,
                )
            )
            # clinical-reference: R-NV-3 (urgent: paged, escalated, held from the alert, resumed a level lower)
            self.alert(
                "R-NV-3",
                "6 vomiting episodes in 24 h",
                reported,
                timedelta(minutes=22),
                self.nurse,
                escalated=True,
                action=("hold", timedelta(minutes=18), "Vomiting 6 times; hold until recovered"),
                resolve_after=timedelta(days=10),
            )
            self.change_plan(reported + timedelta(days=10, minutes=5), "resume", self.pharmacist, "Recovered")
        if story.low_platelets_day is not None:
            recorded = self.lab(self.start + timedelta(days=story.low_platelets_day), platelets=62.0)
            # clinical-reference: R-PLT-75 (same day: reduced one level from the alert)
            self.alert(
                "R-PLT-75",
                "platelets 62 x10^9/L, no bleeding",
                recorded,
                timedelta(minutes=50),
                self.pharmacist,
                action=("reduce", timedelta(minutes=100), "Platelets 62: one level lower"),
                resolve_after=timedelta(days=7),
            )

    def doses(self, scheduled: list[date], vomited_day: date | None) -> None:
        """The logged doses (mostly taken, some missed, vomited or not logged), anti-nausea logs mostly before."""
        story, rng = self.story, self.rng
        missed = {scheduled[i] for i in story.missed_doses if i < len(scheduled)}
        extra = self.start + timedelta(days=story.wrong_day) if story.wrong_day is not None else None
        for index, day in enumerate(sorted([*scheduled, *([extra] if extra and extra <= self.until else [])])):
            roll = rng.random()
            if day in missed or (day != vomited_day and day != extra and 0.93 <= roll < 0.97):
                status = "missed"
            elif day == vomited_day or (day != extra and 0.90 <= roll < 0.93):
                status = "vomited"
            elif day != extra and roll >= 0.97:
                continue  # not logged
            else:
                status = "taken"
            dose_at = self.at(day, self.plans[0].dose_time, rng.uniform(0, 40))
            antiemetic = None
            if status != "missed":
                before = rng.random()
                if before < 0.85 or day == extra:  # logged 30-60 minutes before the dose (P-ANTIEMETIC)
                    self.antiemetic(dose_at - timedelta(minutes=rng.uniform(30, 60)))
                    antiemetic = True
                elif before < 0.92:  # logged, but after the dose
                    self.antiemetic(dose_at + timedelta(minutes=rng.uniform(20, 90)))
            at = dose_at + timedelta(hours=3) if status == "missed" else dose_at
            self.session.add(
                DoseEvent(
                    patient_id=self.pid,
                    idempotency_key=self.key(f"dose{index}", day),
                    scheduled_for=day,
                    at=at,
                    status=status,
                    antiemetic_taken=antiemetic,
                    recorded_at=at,
                )
            )
            if day in missed and day == max(missed):
                # clinical-reference: R-MISS-2 (two missed doses: routine, reviewed the next day)
                self.alert(
                    "R-MISS-2",
                    "2 missed doses in a row",
                    at,
                    timedelta(hours=26),
                    self.nurse,
                    resolve_after=timedelta(days=3),
                )

    def antiemetic(self, at: datetime) -> None:
        self.session.add(
            AntiemeticEvent(patient_id=self.pid, idempotency_key=self.key("antiemetic", at), at=at, recorded_at=at)
        )

    def weights(self, until: date) -> None:
        """Weekly weights drifting down (to 88% of baseline at most), a few weeks skipped; R-WT-5 and R-WT-10 alerts
        open at the first weight past each line."""
        story, rng = self.story, self.rng
        baseline, lines = self.patient.baseline_weight_kg, {}
        day = self.start
        while day <= until:
            weeks = (day - self.start).days / 7
            if rng.random() >= 0.1:
                kg = round(max(baseline - story.weekly_loss_kg * weeks, baseline * 0.88) + rng.uniform(-0.3, 0.3), 1)
                at = self.at(day, time(7, 30))
                entered = kg if self.patient.weight_unit == "kg" else round(kg / 0.45359237, 1)
                self.session.add(
                    WeightEntry(
                        patient_id=self.pid,
                        idempotency_key=self.key("weight", at),
                        at=at,
                        kg=kg,
                        entered_value=entered,
                        entered_unit=self.patient.weight_unit,
                        recorded_at=at,
                    )
                )
                for pct in (5, 10):
                    if kg <= baseline * (1 - pct / 100) and pct not in lines:
                        lines[pct] = (at, kg)
            day += timedelta(days=7)
        if 5 in lines:  # clinical-reference: R-WT-5 (routine)
            at, kg = lines[5]
            ack = timedelta(hours=rng.uniform(4, 30))
            self.alert("R-WT-5", f"weight {kg} kg", at, ack, self.nurse, resolve_after=ack + timedelta(days=2))
        if 10 in lines:  # clinical-reference: R-WT-10 (same day; still acknowledged, not resolved)
            at, kg = lines[10]
            self.alert("R-WT-10", f"weight {kg} kg", at, timedelta(hours=rng.uniform(1.5, 4)), self.pharmacist)

    def lab(self, day: date, *, platelets: float = 0.0, sodium: float | None = 0.0) -> datetime:
        """A CBC (and CMP unless `sodium` is None) collected at 09:00, entered by the pharmacist at 13:00."""
        rng = self.rng
        collected, recorded = self.at(day, time(9, 0)), self.at(day, time(13, 0))
        self.session.add(
            LabResult(
                patient_id=self.pid,
                idempotency_key=self.key("lab", collected),
                collected_at=collected,
                platelets_10e9_l=platelets or round(rng.uniform(140, 260)),
                anc_10e9_l=round(rng.uniform(1.8, 4.5), 1),
                hemoglobin_g_dl=round(rng.uniform(10.0, 13.5), 1),
                sodium_mmol_l=None if sodium is None else sodium or round(rng.uniform(134, 141)),
                entered_by_staff_id=self.pharmacist.id,
                recorded_at=recorded,
            )
        )
        return recorded

    def labs(self, until: date) -> None:
        """P-MONITOR: weekly in weeks 1-8, then every 28 days; a few missed, a few without chemistry."""
        story, rng = self.story, self.rng
        days = [1 + 7 * k for k in range(8)] + [59 + 28 * m for m in range(6)]
        for offset in days:
            day = self.start + timedelta(days=offset)
            if day > until or offset == story.low_platelets_day:
                continue
            if offset == story.low_sodium_day:
                recorded = self.lab(day, sodium=129.0)
                # clinical-reference: R-NA (same day: acknowledged, repeated, resolved)
                self.alert(
                    "R-NA",
                    "sodium 129 mmol/L",
                    recorded,
                    timedelta(minutes=95),
                    self.pharmacist,
                    resolve_after=timedelta(days=3),
                )
            elif rng.random() >= 0.12:
                self.lab(day, sodium=None if rng.random() < 0.15 else 0.0)

    def start_checklist(self, enrolled: datetime) -> None:
        """The pharmacist's ticks (checklist.tick_item's rows); the baseline labs of the demo come after the first
        dose, so the baseline CBC and CMP are ticked by hand (results from the referring lab)."""
        story, first_dose = self.story, self.at(self.start, self.plans[0].dose_time)
        details = {
            "dose_schedule": INDICATION_OF[story.regimen],
            "antiemetic_received": "ondansetron 8 mg",
            "edu_contraception": "not_relevant",
        }
        for key, spec in CHECKLIST_ITEMS.items():
            if not applies(spec, story.regimen) or spec.key == "baseline_weight":  # ticked from enrollment
                continue
            if story.checklist == "incomplete" and key == "edu_starter_kit":
                continue
            late = story.checklist == "after" and spec.group == "Education"
            self.session.add(
                StartChecklistItem(
                    patient_id=self.pid,
                    item=key,
                    done_at=first_dose + timedelta(days=2) if late else enrolled + timedelta(days=1),
                    done_by_staff_id=self.pharmacist.id or 0,
                    detail=details.get(key),
                    note="Results from the referring lab" if key.startswith("baseline_") else None,
                )
            )

    def teach_backs(self, enrolled: datetime) -> None:
        """The patient's answers at enrollment (teach_back.record_answer's rows) and, for some, after each change."""
        story = self.story
        if not story.teach_back:
            return
        asked = [(self.plans[0], enrolled + timedelta(days=1, hours=3), story.teach_back)]
        if story.teach_back_again:
            asked += [(plan, plan.created_at + timedelta(hours=5), "passed") for plan in self.plans[1:]]
        for plan, at, how in asked:
            for question in build_questions(self.patient, plan, "en"):
                wrong = next(c.value for c in question.choices if c.value != question.right)
                tries = [True]
                if question.name == "days" and how == "second_try":
                    tries = [False, True]
                elif question.name == "days" and how == "wrong_twice":
                    tries = [False, False]
                for attempt, correct in enumerate(tries, start=1):
                    at += timedelta(minutes=1)
                    self.session.add(
                        TeachBackAttempt(
                            patient_id=self.pid,
                            plan_id=plan.id or 0,
                            question=question.name,
                            answer=question.right if correct else wrong,
                            correct=correct,
                            attempt=attempt,
                            channel="app",
                            at=at,
                        )
                    )
                if tries == [False, False]:
                    # clinical-reference: R-TEACH-BACK (routine: the nurse calls to go over the schedule)
                    self.alert(
                        "R-TEACH-BACK",
                        f"Patient unsure of schedule: {question.prompt} answered {question.label_of(wrong)}",
                        at,
                        timedelta(hours=20),
                        self.nurse,
                        resolve_after=timedelta(days=1),
                    )
                    break  # the rest is gone over on the call

    def reminders(self, scheduled: list[date]) -> None:
        """A dose reminder for each scheduled dose: SMS mostly delivered (some undelivered or failed), push sent."""
        rng, opted_out = self.rng, self.patient.sms_opted_out_at
        for day in scheduled:
            due = self.at(day, self.plans[0].dose_time)
            if opted_out is not None and due >= opted_out:
                continue  # no SMS after STOP
            roll = rng.random()
            status, delivery, error = "sent", ("delivered" if self.story.channel == "sms" else None), None
            if self.story.channel == "sms" and roll < 0.04:
                delivery = "undelivered"
            elif self.story.channel == "sms" and roll < 0.07:
                status, delivery, error = "failed", None, "30003 unreachable handset (demo history)"
            self.session.add(
                OutboundMessage(
                    dedupe_key=reminder_key(self.patient.id or 0, "dose", due),
                    patient_id=self.pid,
                    kind="dose",
                    channel=self.story.channel,
                    scheduled_for=due,
                    send_at=due,
                    expires_at=due + timedelta(hours=6),
                    status=status,
                    attempts=1,
                    sent_at=due if status == "sent" else None,
                    delivery_status=delivery,
                    delivery_updated_at=due + timedelta(minutes=1) if delivery else None,
                    last_error=error,
                    created_at=due - timedelta(days=1),
                    updated_at=due + timedelta(minutes=1),
                )
            )


def seed_demo_history(ctx: AppContext, now: datetime) -> list[int]:
    """Add the history patients missing from the demo clinic (seed_demo first); return their ids."""
    if ctx.settings.environment == "production":
        raise DemoRefused("the demo history is refused in production")
    with Session(ctx.engine) as session:
        clinic = session.exec(select(Clinic).where(Clinic.name == ctx.settings.clinic_name)).one()
        by_email = {s.email: s for s in session.exec(select(Staff).where(Staff.clinic_id == clinic.id)).all()}
        nurse, pharmacist = by_email[DEMO_STAFF[0].email], by_email[DEMO_STAFF[1].email]
        session.expunge_all()
    zone = ZoneInfo(clinic.timezone)
    first_start = now.astimezone(zone).date() - timedelta(days=HISTORY_DAYS)
    ids = []
    for index, story in enumerate(HISTORY_PATIENTS):
        start = first_start + timedelta(days=START_EVERY_DAYS * index)
        start += timedelta(days=(story.day1 - start.weekday()) % 7)
        ids.append(_seed_patient(ctx, clinic, story, start, nurse, pharmacist, now))
    return ids


def _seed_patient(
    ctx: AppContext, clinic: Clinic, story: HistoryPatient, start: date, nurse: Staff, pharmacist: Staff, now: datetime
) -> int:
    with session_scope(ctx.engine) as session:
        found = session.exec(select(Patient).where(Patient.clinic_id == clinic.id, Patient.mrn == story.mrn)).first()
        if found is not None and found.id is not None:
            return found.id
        zone = ZoneInfo(clinic.timezone)
        enrolled = resolve_local(start - timedelta(days=3), time(15, 0), zone).astimezone(UTC)
        patient = Patient(
            clinic_id=clinic.id or 0,
            first_name=story.first_name,
            last_name=story.last_name,
            date_of_birth=date(1945 + int(story.mrn[-2:]), 1 + int(story.mrn[-2:]) % 12, 10),
            mrn=story.mrn,
            phone_e164=f"+155555503{story.mrn[-2:]}",
            language=story.language,
            timezone=clinic.timezone,
            baseline_weight_kg=story.baseline_kg,
            channel_preference=story.channel,
            sms_consent=True,
            sms_consent_at=enrolled,
            enrolled_by_staff_id=pharmacist.id,
            created_at=enrolled,
        )
        session.add(patient)
        session.flush()
        plan = TreatmentPlan(
            patient_id=patient.id or 0,
            version=1,
            regimen=story.regimen,
            dose_level=story.level,
            status="active",
            start_date=start,
            day1_weekday=story.day1,
            day3_weekday=(story.day1 + 2) % 7,
            dose_time=story.dose_time,
            antiemetic_name="ondansetron 8 mg",
            dexamethasone_instruction="" if story.regimen == "DLBCL" else "dexamethasone 20 mg as prescribed",
            reason="Enrollment (demo history)",
            changed_by_staff_id=pharmacist.id,
            created_at=enrolled,
        )
        session.add(plan)
        until = now.astimezone(zone).date() - timedelta(days=1)
        seeder = _Seeder(session, patient, story, start, until, nurse, pharmacist, random.Random(story.mrn), [plan])
        first_days = scheduled_dose_days(patient, [plan], start, until)
        seeder.incidents_changing_the_plan(first_days)
        scheduled = scheduled_dose_days(patient, seeder.plans, start, until)
        vomited = first_days[story.vomiting_dose] if story.vomiting_dose is not None else None
        seeder.doses(scheduled, vomited)
        stopped = start + timedelta(days=story.stop_day) if story.stop_day is not None else until
        seeder.weights(min(until, stopped))
        seeder.labs(min(until, stopped))
        if story.opt_out_day is not None:
            opted = seeder.at(start + timedelta(days=story.opt_out_day), time(19, 12))
            # clinical-reference: R-NO-DELIVERY (routine: someone follows up another way)
            change = opt_out_of_sms(session, patient, opted, "STOP (demo history)")
            alert = session.get(Alert, change.alert_id) if change is not None else None
            if alert is not None:
                seeder.handle(alert, opted, timedelta(hours=15), nurse, resolve_after=timedelta(days=2))
        seeder.reminders(scheduled)
        seeder.start_checklist(enrolled)
        session.flush()  # the plan versions' ids, for the teach-back answers
        seeder.teach_backs(enrolled)
        return patient.id or 0
