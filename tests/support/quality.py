"""A clinic with hand-made histories whose every quality-report figure is known in advance (issue 14), used by the
report's tests and its browser test. Zone America/New_York: daylight saving starts on Sunday 8 March 2026.

The start checklist and the teach-back are written as their services write them (a `start_checklist_item` row per
tick, a `teach_back_attempt` row per answer, the right answers taken from `teach_back.build_questions`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from server.db import session_scope
from server.models import (
    Alert,
    AlertEvent,
    Clinic,
    DoseEvent,
    LabResult,
    OutboundMessage,
    Patient,
    StartChecklistItem,
    TeachBackAttempt,
    TreatmentPlan,
    WeightEntry,
)
from server.services.pqi.checklist import CHECKLIST_ITEMS, applies
from server.services.pqi.teach_back import build_questions
from server.services.staff.accounts import create_staff

ZONE = "America/New_York"
REPORT_NOW = datetime(2026, 4, 15, 14, 0, tzinfo=UTC)
REPORTER = "reporter@quality.clinic"
REPORTER_PASSWORD = "quality-report-password"
PHARMACIST = "pharmacist@quality.clinic"
FROM, TO = "2026-01-15", "2026-03-31"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_quality_clinic(engine) -> dict[str, int]:
    """Ann (Feb start, a hold and a reduction), Ben (starts mid-March), Cal (starts 31 March, first dose in April),
    and Zed in another clinic; returns ids."""
    made = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as s:
        clinic = Clinic(name="Quality Clinic", phone="+15555550100", timezone=ZONE, created_at=made)
        other = Clinic(name="Other Clinic", phone="+15555550199", timezone=ZONE, created_at=made)
        s.add_all([clinic, other])
        s.flush()
        ids = {"clinic": clinic.id, "other_clinic": other.id}

        def patient(first: str, last: str, mrn: str, clinic_id: int, baseline: float) -> Patient:
            p = Patient(
                clinic_id=clinic_id,
                first_name=first,
                last_name=last,
                date_of_birth=date(1950, 1, 1),
                mrn=mrn,
                timezone=ZONE,
                baseline_weight_kg=baseline,
                created_at=made,
            )
            s.add(p)
            s.flush()
            ids[first.lower()] = p.id
            return p

        ann = patient("Ann", "Archer", "Q-001", clinic.id, 70.0)
        ben = patient("Ben", "Baker", "Q-002", clinic.id, 80.0)
        cal = patient("Cal", "Carter", "Q-003", clinic.id, 75.0)
        zed = patient("Zed", "Zimmer", "Z-001", other.id, 60.0)

        def plan(
            p: Patient,
            version: int,
            regimen: str,
            level: int,
            status: str,
            start: date,
            day1: int,
            dose_time: time,
            created: str,
        ) -> TreatmentPlan:
            made_plan = TreatmentPlan(
                patient_id=p.id,
                version=version,
                regimen=regimen,
                dose_level=level,
                status=status,
                start_date=start,
                day1_weekday=day1,
                day3_weekday=(day1 + 2) % 7,
                dose_time=dose_time,
                created_at=utc(created),
            )
            s.add(made_plan)
            s.flush()
            return made_plan

        # Ann: Xd Mon/Wed 08:00 from Mon 2 Feb; held Mon 16 Feb 07:00 EST (before that day's dose: held, not
        # missed); reduced to level 1 (Mondays only) on Sun 1 Mar.
        ann_v1 = plan(ann, 1, "Xd", 0, "active", date(2026, 2, 2), 0, time(8, 0), "2026-02-01T12:00")
        plan(ann, 2, "Xd", 0, "held", date(2026, 2, 2), 0, time(8, 0), "2026-02-16T12:00")
        ann_v3 = plan(ann, 3, "Xd", 1, "active", date(2026, 2, 2), 0, time(8, 0), "2026-03-01T12:00")
        # Ben: DLBCL Tue/Thu 09:00 from Tue 10 Mar (mid-month, after the clocks changed).
        plan(ben, 1, "DLBCL", 0, "active", date(2026, 3, 10), 1, time(9, 0), "2026-03-09T12:00")
        # Cal: Xd Wed/Fri 09:00 from Tue 31 Mar: a March start whose first dose (Wed 1 Apr) is after the period, so
        # no dose, monitoring window, reminder or alert of the period is his; he counts among the started patients.
        cal_v1 = plan(cal, 1, "Xd", 0, "active", date(2026, 3, 31), 2, time(9, 0), "2026-03-30T12:00")
        plan(zed, 1, "Xd", 0, "active", date(2026, 2, 2), 0, time(8, 0), "2026-02-01T12:00")

        n = 0

        def dose(p: Patient, day: str, status: str, antiemetic: bool | None) -> None:
            nonlocal n
            n += 1
            at = utc(f"{day}T14:00")
            s.add(
                DoseEvent(
                    patient_id=p.id,
                    idempotency_key=f"q-dose-{n}",
                    scheduled_for=date.fromisoformat(day),
                    at=at,
                    status=status,
                    antiemetic_taken=antiemetic,
                    recorded_at=at,
                )
            )

        for day, status, ae in (
            ("2026-02-02", "taken", True),
            ("2026-02-04", "taken", False),
            ("2026-02-09", "vomited", None),
            ("2026-02-11", "missed", None),
            ("2026-03-02", "taken", True),
            ("2026-03-04", "taken", None),  # Wed: wrong day
            ("2026-03-09", "taken", True),
            ("2026-03-16", "missed", None),
            ("2026-03-30", "taken", True),
        ):
            dose(ann, day, status, ae)
        for day in ("2026-03-10", "2026-03-12", "2026-03-17", "2026-03-19", "2026-03-24", "2026-03-26"):
            dose(ben, day, "taken", True)
        dose(zed, "2026-02-02", "missed", None)

        def weight(p: Patient, at: str, kg: float) -> None:
            nonlocal n
            n += 1
            s.add(
                WeightEntry(
                    patient_id=p.id,
                    idempotency_key=f"q-weight-{n}",
                    at=utc(at),
                    kg=kg,
                    entered_value=kg,
                    entered_unit="kg",
                    recorded_at=utc(at),
                )
            )

        weight(ann, "2026-02-03T12:00", 69.0)
        weight(ann, "2026-02-10T12:00", 66.5)  # exactly -5%
        weight(ann, "2026-03-03T12:00", 63.0)  # exactly -10%
        weight(ben, "2026-03-10T12:00", 80.0)
        weight(ben, "2026-03-17T12:00", 79.0)
        weight(zed, "2026-02-03T12:00", 40.0)

        full_cbc = ("platelets", "anc", "hemoglobin")

        def lab(p: Patient, at: str, *, cbc: tuple[str, ...] = (), cmp: bool) -> None:
            nonlocal n
            n += 1
            s.add(
                LabResult(
                    patient_id=p.id,
                    idempotency_key=f"q-lab-{n}",
                    collected_at=utc(at),
                    platelets_10e9_l=150.0 if "platelets" in cbc else None,
                    anc_10e9_l=2.5 if "anc" in cbc else None,
                    hemoglobin_g_dl=12.0 if "hemoglobin" in cbc else None,
                    sodium_mmol_l=138.0 if cmp else None,
                    recorded_at=utc(at),
                )
            )

        # A CBC counts when platelets, ANC and hemoglobin are each recorded in the week (a CBC with differential).
        lab(ann, "2026-02-02T12:00", cbc=full_cbc, cmp=True)  # an hour before the first dose: the baseline CMP
        lab(ann, "2026-02-09T13:00", cbc=("platelets", "hemoglobin"), cmp=False)  # week 2's CBC, with the ANC ...
        lab(ann, "2026-02-11T13:00", cbc=("anc",), cmp=False)  # ... two days later
        lab(ann, "2026-03-09T03:30", cmp=True)  # Sun 8 Mar 23:30 EDT: week 5, not week 6
        lab(ben, "2026-03-10T13:00", cbc=full_cbc, cmp=True)
        lab(ben, "2026-03-17T13:00", cbc=("platelets", "hemoglobin"), cmp=False)  # no ANC: not a CBC

        def alert(p: Patient, tier: str, opened: str, acked: str | None, page_level: int, action: str | None) -> None:
            a = Alert(
                patient_id=p.id,
                family=f"f{tier}",
                rule="R-NV-3",
                tier=tier,
                action="interrupt",
                status="acknowledged" if acked else "open",
                facts="",
                opened_at=utc(opened),
                updated_at=utc(opened),
                acknowledged_at=utc(acked) if acked else None,
                page_level=page_level,
            )
            s.add(a)
            s.flush()
            if action:
                s.add(AlertEvent(alert_id=a.id, kind="action", at=utc(action)))
                s.add(AlertEvent(alert_id=a.id, kind="action", at=utc(action).replace(hour=23)))

        alert(ann, "urgent", "2026-03-02T15:00", "2026-03-02T15:10", 1, "2026-03-02T15:40")
        alert(ben, "same_day", "2026-03-13T20:00", "2026-03-13T22:00", 2, None)  # Fri 16:00 EDT, acked after 17:00
        alert(ann, "routine", "2026-02-20T23:00", "2026-02-23T14:00", 0, None)  # Fri evening -> Mon morning

        def reminder(p: Patient, at: str, channel: str, status: str, delivery: str | None) -> None:
            nonlocal n
            n += 1
            s.add(
                OutboundMessage(
                    dedupe_key=f"q-rem-{n}",
                    patient_id=p.id,
                    kind="dose",
                    channel=channel,
                    scheduled_for=utc(at),
                    send_at=utc(at),
                    status=status,
                    delivery_status=delivery,
                    created_at=utc(at),
                    updated_at=utc(at),
                )
            )

        reminder(ann, "2026-02-02T13:00", "sms", "sent", "delivered")
        reminder(ann, "2026-02-04T13:00", "sms", "sent", "undelivered")
        reminder(ann, "2026-02-09T13:00", "sms", "cancelled", None)  # not due: not counted
        reminder(ben, "2026-03-10T13:00", "push", "sent", None)
        ben.sms_opted_out, ben.sms_opted_out_at = True, utc("2026-03-20T15:00")
        s.add(ben)
    create_staff(
        engine,
        clinic_id=ids["clinic"],
        email=REPORTER,
        name="Rita Reporter",
        role="nurse",
        password=REPORTER_PASSWORD,
        now=made,
    )
    pharmacist = create_staff(
        engine,
        clinic_id=ids["clinic"],
        email=PHARMACIST,
        name="Paul Pharmacist",
        role="pharmacist",
        password=REPORTER_PASSWORD,
        now=made,
    )
    with session_scope(engine) as s:
        _start_checklists(s, ids, pharmacist.id or 0)
        _teach_backs(s, ids, ann_v1.id or 0, ann_v3.id or 0, cal_v1.id or 0)
    return ids


def _start_checklists(s, ids: dict[str, int], staff_id: int) -> None:
    """Ann: complete before her first dose (Mon 2 Feb 08:00 EST = 13:00 UTC): ticked Fri 30 Jan, the baseline CMP
    from her 07:00 EST lab and the weight from enrollment. Ben: complete after his (Tue 10 Mar 09:00 EDT): ticked
    Wed 11 Mar. Cal: incomplete: every item ticked on Mon 30 Mar, then "fluids and calories" un-ticked."""
    details = {
        "dose_schedule": {"Xd": "rrmm", "DLBCL": "rr_dlbcl"},
        "antiemetic_received": "ondansetron 8 mg",
        "edu_contraception": "discussed",
    }
    for name, regimen, at in (
        ("ann", "Xd", "2026-01-30T15:00"),
        ("ben", "DLBCL", "2026-03-11T15:00"),
        ("cal", "Xd", "2026-03-30T15:00"),
    ):
        for key, spec in CHECKLIST_ITEMS.items():
            if not applies(spec, regimen) or key == "baseline_weight" or (key == "baseline_cmp" and name != "cal"):
                continue  # ticked from the data (the enrollment weight; Ann's and Ben's sodium results)
            detail = details.get(key)
            s.add(
                StartChecklistItem(
                    patient_id=ids[name],
                    item=key,
                    done_at=utc(at),
                    done_by_staff_id=staff_id,
                    detail=detail[regimen] if isinstance(detail, dict) else detail,
                    undone_at=utc("2026-03-30T16:00") if (name, key) == ("cal", "edu_fluids") else None,
                    undone_by_staff_id=staff_id if (name, key) == ("cal", "edu_fluids") else None,
                )
            )


def _teach_backs(s, ids: dict[str, int], ann_v1: int, ann_v3: int, cal_v1: int) -> None:
    """Ann: every question right about her first plan (1 Feb), the tablets wrong twice about the reduced one (2 Mar):
    not passed (the latest teach-back counts). Ben: none. Cal: the days right at the second try, then the rest right:
    passed."""
    answers = (
        ("ann", ann_v1, "2026-02-01T15:00", {"days": [True], "tablets": [True], "antiemetic": [True]}),
        ("ann", ann_v3, "2026-03-02T15:00", {"days": [True], "tablets": [False, False]}),
        ("cal", cal_v1, "2026-03-30T17:00", {"days": [False, True], "tablets": [True], "antiemetic": [True]}),
    )
    minute = 0
    for name, plan_id, at, results in answers:
        patient, plan = s.get(Patient, ids[name]), s.get(TreatmentPlan, plan_id)
        questions = {q.name: q for q in build_questions(patient, plan, "en")}
        for question, tries in results.items():
            asked = questions[question]
            wrong = next(c.value for c in asked.choices if c.value != asked.right)
            for attempt, correct in enumerate(tries, start=1):
                minute += 1
                s.add(
                    TeachBackAttempt(
                        patient_id=ids[name],
                        plan_id=plan_id,
                        question=question,
                        answer=asked.right if correct else wrong,
                        correct=correct,
                        attempt=attempt,
                        channel="app",
                        at=utc(at).replace(minute=minute),
                    )
                )
