"""Bulk Data $export of a clinic's patients as NDJSON, asynchronous (FHIR Bulk Data Access, system level).

The kick-off stores a job row and starts a background thread that builds the files; the status URL reports
progress, and processes the job itself when no thread has claimed it yet (e.g. the process restarted before the
thread ran). Claiming is a compare-and-set on the job's status, so a job is built once. The files are kept in the
database (fhir_export_file), served to the same client with its bearer token.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from ...context import AppContext
from ...db import session_scope
from ...models import FhirExportFile, FhirExportJob, Patient
from .clients import Caller
from .outcomes import FhirError
from .record_out import RECORD_TYPES, load_records, resources_for

log = logging.getLogger(__name__)
CHUNK = 200  # patients read and built at a time


@dataclass(frozen=True)
class ExportStatus:
    job: FhirExportJob
    files: list[tuple[str, int]]  # (resource type, count)


def start_export(
    ctx: AppContext, caller: Caller, type_filter: str | None, request_url: str, background: bool = True
) -> FhirExportJob:
    """Kick off an export of the caller's clinic; the job runs in a background thread."""
    caller.require("Patient", "read")
    wanted = [t.strip() for t in (type_filter or "").split(",") if t.strip()] or list(RECORD_TYPES)
    unknown = [t for t in wanted if t not in RECORD_TYPES]
    if unknown:
        raise FhirError(
            400, "not-supported", f"Cannot export {', '.join(unknown)}; types: {', '.join(RECORD_TYPES)}.", "_type"
        )
    types = [t for t in wanted if caller.can(t, "read")]
    with session_scope(ctx.engine) as session:
        job = FhirExportJob(
            job_key=secrets.token_urlsafe(18),
            clinic_id=caller.clinic_id,
            fhir_client_id=caller.client_pk,
            types=",".join(types),
            request_url=request_url[:1000],
            requested_at=ctx.clock.now(),
        )
        session.add(job)
    if background:
        threading.Thread(target=run_export, args=(ctx, job.id), name=f"fhir-export-{job.id}", daemon=True).start()
    return job


def _claim(ctx: AppContext, job_id: int) -> bool:
    with session_scope(ctx.engine) as session:
        claimed = session.execute(
            sa.update(FhirExportJob)
            .where(FhirExportJob.id == job_id, FhirExportJob.status == "accepted")
            .values(status="in_progress", started_at=ctx.clock.now())
        ).rowcount
    return claimed == 1


def run_export(ctx: AppContext, job_id: int) -> None:
    """Build the NDJSON files of a job, if nobody else has claimed it."""
    if not _claim(ctx, job_id):
        return
    try:
        with Session(ctx.engine) as session:
            job = session.get(FhirExportJob, job_id)
            types = set(job.types.split(",")) if job.types else set()
            ids = list(
                session.exec(select(Patient.id).where(Patient.clinic_id == job.clinic_id).order_by(Patient.id)).all()
            )
        lines: dict[str, list[str]] = defaultdict(list)
        for start in range(0, len(ids), CHUNK):
            with Session(ctx.engine) as session:
                patients = list(
                    session.exec(
                        select(Patient).where(Patient.id.in_(ids[start : start + CHUNK])).order_by(Patient.id)
                    ).all()
                )
                records, names = load_records(session, patients)
            for record in records:
                for resource in resources_for(record, names, ctx.settings, lambda kind: kind in types):
                    lines[resource.get_resource_type()].append(resource.model_dump_json())
        with session_scope(ctx.engine) as session:
            for kind in RECORD_TYPES:
                if lines.get(kind):
                    session.add(
                        FhirExportFile(
                            job_id=job_id,
                            resource_type=kind,
                            count=len(lines[kind]),
                            ndjson="\n".join(lines[kind]) + "\n",
                        )
                    )
            job = session.get(FhirExportJob, job_id)
            if job.status != "in_progress":  # deleted while it ran: keep nothing
                session.rollback()
                return
            job.status, job.completed_at = "complete", ctx.clock.now()
            session.add(job)
    except Exception as exc:  # the client is told through the status URL; the log has the details
        log.exception("FHIR export %s failed", job_id)
        with session_scope(ctx.engine) as session:
            job = session.get(FhirExportJob, job_id)
            job.status, job.error = "error", f"{type(exc).__name__}: {exc}"[:1000]
            session.add(job)


def _job(session: Session, caller: Caller, job_key: str) -> FhirExportJob:
    job = session.exec(select(FhirExportJob).where(FhirExportJob.job_key == job_key)).first()
    if job is None or job.fhir_client_id != caller.client_pk:
        raise FhirError(404, "not-found", "No such export job.")
    return job


def export_status(ctx: AppContext, caller: Caller, job_key: str) -> ExportStatus:
    """The job and its files; a job no thread has claimed is processed now."""
    with Session(ctx.engine) as session:
        job = _job(session, caller, job_key)
    if job.status == "accepted":
        run_export(ctx, job.id)
    with Session(ctx.engine) as session:
        job = _job(session, caller, job_key)
        files = session.exec(
            select(FhirExportFile.resource_type, FhirExportFile.count)
            .where(FhirExportFile.job_id == job.id)
            .order_by(FhirExportFile.id)
        ).all()
    return ExportStatus(job, [(kind, count) for kind, count in files])


def export_file(ctx: AppContext, caller: Caller, job_key: str, resource_type: str) -> str:
    """One NDJSON file of a completed job."""
    with Session(ctx.engine) as session:
        job = _job(session, caller, job_key)
        row = session.exec(
            select(FhirExportFile).where(FhirExportFile.job_id == job.id, FhirExportFile.resource_type == resource_type)
        ).first()
    if row is None:
        raise FhirError(404, "not-found", f"No {resource_type} file in this export.")
    return row.ndjson


def delete_export(ctx: AppContext, caller: Caller, job_key: str) -> None:
    """Cancel a job or delete its files (DELETE on the status URL)."""
    with session_scope(ctx.engine) as session:
        job = _job(session, caller, job_key)
        for row in session.exec(select(FhirExportFile).where(FhirExportFile.job_id == job.id)).all():
            session.delete(row)
        job.status = "deleted"
        session.add(job)
