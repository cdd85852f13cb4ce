"""The benchmarks' data generator: a clinic of N patients with ~E entries each and ~1 open alert per 5 patients,
written with bulk INSERTs (seconds, not minutes). The issue's scale is 5,000 x 200; `make bench` defaults to less
so it finishes in a few minutes on a 2-CPU machine: BENCH_PATIENTS and BENCH_ENTRIES set the scale."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from server.db import create_db_engine
from server.models import Alert, Clinic, DoseEvent, Patient, SymptomReport, TreatmentPlan, WeightEntry
from server.settings import load_settings

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "1000"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "100"))  # per patient: 40% doses, 30% symptoms, 30% weights
_CHUNK = 5_000


def bench_database(request, tmp_path, sqlite_template, base_url: str):
    """(settings, engine) for a bench's database: a copy of the migrated SQLite template, or PostgreSQL (pg_url)."""
    if request.param == "sqlite":
        path = tmp_path / "bench.sqlite3"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = load_settings(
        COMPANION_ENV="test",
        DATABASE_URL=url,
        COMPANION_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="bench-secret-key-that-is-long-enough-0123",
        PUBLIC_BASE_URL=base_url,
    )
    return settings, create_db_engine(url)


def _insert(conn, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(sa.insert(model.__table__), rows[start : start + _CHUNK])


def generate(engine, now: datetime, patients: int = PATIENTS, entries: int = ENTRIES) -> dict:
    """Seed the clinic; returns {"clinic_id", "patient_ids"}."""
    with engine.begin() as conn:
        clinic_id = conn.execute(
            sa.insert(Clinic.__table__)
            .values(name="Bench Clinic", phone="+15555550100", timezone="America/New_York", created_at=now)
            .returning(Clinic.__table__.c.id)
        ).scalar_one()
        _insert(
            conn,
            Patient,
            [
                dict(
                    clinic_id=clinic_id,
                    first_name=f"P{i:05d}",
                    last_name=f"Bench{i % 97:02d}",
                    date_of_birth=date(1950, 1, 1),
                    mrn=f"BENCH-{i:05d}",
                    phone_e164=None,
                    language="en",
                    timezone="America/New_York",
                    baseline_weight_kg=70.0,
                    weight_unit="kg",
                    usual_stools_per_day=1,
                    tablet_strength_mg=20,
                    channel_preference="sms",
                    quiet_start=time(21),
                    quiet_end=time(7),
                    sms_consent=False,
                    sms_opted_out=False,
                    drug_names_in_messages=False,
                    session_version=1,
                    created_at=now - timedelta(days=200),
                )
                for i in range(patients)
            ],
        )
        ids = list(
            conn.execute(
                sa.select(Patient.__table__.c.id)
                .where(Patient.__table__.c.clinic_id == clinic_id)
                .order_by(Patient.__table__.c.id)
            ).scalars()
        )
        start = (now - timedelta(days=200)).date()
        _insert(
            conn,
            TreatmentPlan,
            [
                dict(
                    patient_id=pid,
                    version=1,
                    regimen="Xd",
                    dose_level=0,
                    status="active",
                    start_date=start,
                    day1_weekday=0,
                    day3_weekday=2,
                    dose_time=time(8),
                    antiemetic_name="ondansetron 8 mg",
                    created_at=now - timedelta(days=200),
                )
                for pid in ids
            ],
        )
        doses, symptoms, weights = [], [], []
        span = timedelta(days=190)
        for pid in ids:
            for n in range(entries):
                at = now - span + span * (n + 0.5) / entries
                key = f"b{pid}-{n}"
                if n % 10 < 4:
                    doses.append(
                        dict(
                            patient_id=pid,
                            idempotency_key=key,
                            scheduled_for=at.date(),
                            at=at,
                            status="taken",
                            antiemetic_taken=True,
                            source="app",
                            recorded_at=at,
                        )
                    )
                elif n % 10 < 7:
                    symptoms.append(
                        dict(
                            patient_id=pid,
                            idempotency_key=key,
                            at=at,
                            nausea=0,
                            loose_stools=1,
                            fatigue=0,
                            source="app",
                            recorded_at=at,
                        )
                    )
                else:
                    kg = 70.0 - (n % 7) * 0.2
                    weights.append(
                        dict(
                            patient_id=pid,
                            idempotency_key=key,
                            at=at,
                            kg=kg,
                            entered_value=kg,
                            entered_unit="kg",
                            source="app",
                            recorded_at=at,
                        )
                    )
        _insert(conn, DoseEvent, doses)
        _insert(conn, SymptomReport, symptoms)
        _insert(conn, WeightEntry, weights)
        _insert(
            conn,
            Alert,
            [
                dict(
                    patient_id=pid,
                    family="weight",
                    rule="R-WT-5",
                    tier="routine",
                    action="monitor",
                    status="open",
                    facts="weight 66.0 kg, 5.7% below baseline",
                    patient_advice="",
                    opened_at=now - timedelta(hours=3),
                    updated_at=now - timedelta(hours=3),
                    page_level=0,
                )
                for pid in ids[::5]
            ],
        )
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
    return {"clinic_id": clinic_id, "patient_ids": ids}
