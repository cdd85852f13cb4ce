# Over 400 lines on purpose: one Observation and the two Bundle kinds share every mapping step here.
"""Lab Observations in: one Observation (POST /fhir/Observation) or a transaction/batch Bundle (POST /fhir).

An accepted result takes the path of a staff-entered lab: `entries.record_lab` (rules run, alerts open, pages are
queued), then an audit row with the client as the actor. Every check runs before anything is stored: the LOINC
code, the UCUM unit, the patient (in the client's clinic), the time, the plausible range (clinical-reference §5).

Identity: the Observation's identifier when it has one, else its subject/code/effective time (and value). Sent
twice, it is stored once. `preliminary` results are kept here but not given to the rules; `final`, `amended` and
`corrected` ones are. An amended/corrected value replaces the earlier one (lab_result.superseded_at) and re-runs the
rules; a different `final` value for the same identity is refused (409: send it as amended).

A transaction Bundle is checked entirely before its first entry is stored, so one bad entry stores nothing. The
entries are then stored one by one through record_lab (which owns its transaction): a database failure part-way
through a transaction can leave the earlier entries stored (each complete, with its evaluation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ...clinical.errors import ClinicalValidationError
from ...clinical.grading import check_range
from ...context import AppContext
from ...db import session_scope
from ...errors import Conflict, FieldError
from ...models import FhirLabObservation
from ..audit import audit
from ..entries import CLOCK_SKEW, LabValues, record_lab
from ..labs import MAX_LAB_AGE
from .clients import Caller
from .outcomes import FhirError, from_validation_error
from .patients import resolve_subject
from .terminology import LOINC, UCUM, accepted_units, convert, lab_code

FINAL_STATUSES = ("final", "amended", "corrected")
ACCEPTED_STATUSES = ("preliminary", *FINAL_STATUSES)


@dataclass(frozen=True)
class PlannedLab:
    """A checked Observation, ready to store: every value in the units of the rules."""

    patient_id: int
    field: str
    loinc: str
    value: float
    received_value: float
    received_unit: str
    effective_at: datetime
    status: str
    identifier_system: str | None
    identifier_value: str | None
    observation: Observation  # as received (echoed back with the server's id)
    # Filled by _decide: the current row this one duplicates or replaces.
    duplicate_of: int | None = None
    supersedes: int | None = None
    replaces_lab_id: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Received:
    """The outcome of one Observation: created (201) or already stored (200), the stored row and the alerts."""

    created: bool
    row: FhirLabObservation
    observation: Observation
    alert_rules: tuple[str, ...] = ()

    @property
    def status_line(self) -> str:
        return "201 Created" if self.created else "200 OK"


# --------------------------------------------------------------------------------------------------------------------
# Parsing and checking
# --------------------------------------------------------------------------------------------------------------------


def parse_json(body: bytes) -> object:
    """The request body as JSON; 400 naming the position when it is not JSON."""
    try:
        return json.loads(body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(400, "structure", f"The body is not valid JSON: {exc}.") from None


def parse_observation(data: object, where: str = "Observation") -> Observation:
    """An Observation parsed and validated by the FHIR models; 4xx naming the element otherwise."""
    if not isinstance(data, dict):
        raise FhirError(400, "structure", "Expected a JSON object (a FHIR resource).", where)
    if data.get("resourceType") != "Observation":
        raise FhirError(
            422, "invalid", f"Expected an Observation, got {data.get('resourceType')!r}.", f"{where}.resourceType"
        )
    try:
        return Observation.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error("Observation", exc, where) from None


def _lab_coding(obs: Observation, where: str) -> tuple[str, object]:
    codings = obs.code.coding or []
    for coding in codings:
        if coding.system == LOINC and coding.code and lab_code(coding.code):
            return coding.code, lab_code(coding.code)
    loinc = [c.code for c in codings if c.system == LOINC]
    if loinc:
        raise FhirError(
            422,
            "code-invalid",
            f"LOINC code {loinc[0]} is not a lab this service accepts "
            "(sodium 2951-2, platelets 777-3/26515-7, ANC 751-8, hemoglobin 718-7).",
            f"{where}.code.coding",
        )
    raise FhirError(
        422, "code-invalid", "The code must be a LOINC code (system http://loinc.org).", f"{where}.code.coding"
    )


def _effective(obs: Observation, zone: ZoneInfo, now: datetime, where: str) -> datetime:
    value = (
        obs.effectiveDateTime or obs.effectiveInstant or (obs.effectivePeriod.start if obs.effectivePeriod else None)
    )
    element = (
        f"{where}.effectiveDateTime"
        if obs.effectiveDateTime
        else f"{where}.effectiveInstant"
        if obs.effectiveInstant
        else f"{where}.effectivePeriod.start"
    )
    if value is None:
        raise FhirError(422, "required", "The collection time (effective[x]) is required.", f"{where}.effective[x]")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise FhirError(422, "value", "A time must carry its time zone.", element)
        at = value
    elif isinstance(value, date):
        at = min(datetime.combine(value, time(12, 0), zone), now)  # a date only: local noon, as staff entry does
    else:
        raise FhirError(422, "value", "The collection time must be a full date or date-time.", element)
    if at > now + CLOCK_SKEW:
        raise FhirError(422, "value", "The collection time is in the future.", element)
    if at < now - MAX_LAB_AGE:
        raise FhirError(422, "value", f"The collection time is more than {MAX_LAB_AGE.days} days ago.", element)
    return at


def check_observation(
    session: Session, ctx: AppContext, caller: Caller, obs: Observation, where: str = "Observation"
) -> PlannedLab:
    """Every check of an incoming lab Observation; nothing is stored."""
    if obs.status not in ACCEPTED_STATUSES:
        raise FhirError(
            422,
            "value",
            f"Status {obs.status!r} is not accepted (preliminary, final, amended or corrected).",
            f"{where}.status",
        )
    loinc, code = _lab_coding(obs, where)
    quantity = obs.valueQuantity
    if quantity is None or quantity.value is None:
        raise FhirError(422, "required", "A lab result needs valueQuantity with a value.", f"{where}.valueQuantity")
    unit = quantity.code or (quantity.unit if not quantity.system else None)
    if quantity.system not in (None, UCUM) or not unit:
        raise FhirError(
            422,
            "value",
            "The unit must be a UCUM code (system http://unitsofmeasure.org).",
            f"{where}.valueQuantity.code",
        )
    received = float(quantity.value)
    value = convert(code.field, received, unit)
    if value is None:
        raise FhirError(
            422,
            "value",
            f"Unit {unit!r} cannot be converted for LOINC {loinc}; accepted: {', '.join(accepted_units(code.field))}.",
            f"{where}.valueQuantity.code",
        )
    try:
        check_range(code.field, value)
    except ClinicalValidationError as exc:
        raise FhirError(422, "value", f"Implausible value: {exc.message}.", f"{where}.valueQuantity.value") from None
    patient = resolve_subject(session, ctx.settings, caller.clinic_id, obs.subject, f"{where}.subject")
    at = _effective(obs, ZoneInfo(patient.timezone), ctx.clock.now(), where)
    ident = next((i for i in (obs.identifier or []) if i.value), None)
    return PlannedLab(
        patient_id=patient.id,
        field=code.field,
        loinc=loinc,
        value=value,
        received_value=received,
        received_unit=unit,
        effective_at=at,
        status=obs.status,
        identifier_system=ident.system if ident else None,
        identifier_value=ident.value if ident else None,
        observation=obs,
    )


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6


def _current(session: Session, plan: PlannedLab) -> FhirLabObservation | None:
    """The stored, not superseded row this Observation is about: same identifier, else same subject/code/time."""
    live = (FhirLabObservation.patient_id == plan.patient_id, FhirLabObservation.superseded_at.is_(None))
    if plan.identifier_value is not None:
        row = session.exec(
            select(FhirLabObservation).where(
                *live,
                FhirLabObservation.identifier_system == plan.identifier_system,
                FhirLabObservation.identifier_value == plan.identifier_value,
            )
        ).first()
        if row is not None:
            return row
    rows = session.exec(
        select(FhirLabObservation)
        .where(*live, FhirLabObservation.lab_field == plan.field, FhirLabObservation.effective_at == plan.effective_at)
        .order_by(FhirLabObservation.id.desc())
    ).all()
    for row in rows:
        # Without an identifier, a result at the same time is this one (an amendment may change the value); with
        # one, only the same value makes it the same result.
        if plan.identifier_value is None or _same(row.value, plan.value):
            return row
    return None


def _decide(session: Session, plan: PlannedLab, where: str) -> PlannedLab:
    """Duplicate, replacement or new; 409 for a contradiction that only the lab system can resolve."""
    current = _current(session, plan)
    if current is None:
        return plan
    current_final = current.status in FINAL_STATUSES
    if _same(current.value, plan.value) and (current_final == plan.final):
        return replace(plan, duplicate_of=current.id)
    if current_final and not plan.final:
        raise FhirError(
            409,
            "conflict",
            "A final result is already stored for this Observation; a preliminary one cannot replace it.",
            f"{where}.status",
        )
    if current_final and plan.status == "final":
        raise FhirError(
            409,
            "conflict",
            "A different final value is already stored for this Observation; send the "
            "new value with status amended or corrected.",
            f"{where}.status",
        )
    return replace(plan, supersedes=current.id, replaces_lab_id=current.lab_result_id)


def _dedupe_key(caller: Caller, plan: PlannedLab) -> str:
    parts = [
        str(caller.clinic_id),
        str(plan.patient_id),
        plan.field,
        plan.effective_at.isoformat(),
        f"{plan.value:.6f}",
        "final" if plan.final else "preliminary",
        plan.identifier_system or "",
        plan.identifier_value or "",
        str(plan.supersedes or ""),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# Storing
# --------------------------------------------------------------------------------------------------------------------


def _stored(ctx: AppContext, row_id: int) -> FhirLabObservation:
    with Session(ctx.engine) as session:
        return session.get(FhirLabObservation, row_id)


def _store(ctx: AppContext, caller: Caller, plan: PlannedLab, ip: str | None) -> Received:
    """Store one checked Observation: record_lab when final (the staff path), then its FHIR identity."""
    if plan.duplicate_of is not None:
        return Received(False, _stored(ctx, plan.duplicate_of), plan.observation)
    now = ctx.clock.now()
    key = _dedupe_key(caller, plan)
    lab_result_id, rules, replayed = None, (), True
    if plan.final:
        try:
            result = record_lab(
                ctx,
                plan.patient_id,
                key=f"fhir-{key[:40]}",
                collected_at=plan.effective_at,
                values=LabValues(**{plan.field: plan.value}),
                staff_id=None,
                source="import",
                replaces_id=plan.replaces_lab_id,
            )
        except (FieldError, Conflict) as exc:
            raise FhirError(422, "processing", getattr(exc, "message", str(exc))) from None
        lab_result_id, replayed = result.entry.id, result.replayed
        rules = tuple(finding.rule for finding in result.advice.findings)
    try:
        with session_scope(ctx.engine) as session:
            if plan.supersedes is not None:
                earlier = session.get(FhirLabObservation, plan.supersedes)
                if earlier.superseded_at is None:
                    earlier.superseded_at = now
                    session.add(earlier)
            row = FhirLabObservation(
                dedupe_key=key,
                patient_id=plan.patient_id,
                fhir_client_id=caller.client_pk,
                identifier_system=plan.identifier_system,
                identifier_value=plan.identifier_value,
                loinc=plan.loinc,
                lab_field=plan.field,
                effective_at=plan.effective_at,
                value=plan.value,
                received_value=plan.received_value,
                received_unit=plan.received_unit,
                status=plan.status,
                lab_result_id=lab_result_id,
                received_at=now,
            )
            session.add(row)
            if plan.final and not replayed:
                audit(
                    session,
                    staff_id=None,
                    fhir_client_id=caller.client_pk,
                    patient_id=plan.patient_id,
                    now=now,
                    ip=ip,
                    action="lab.amend" if plan.replaces_lab_id else "lab.create",
                    detail=f"FHIR {plan.status} LOINC {plan.loinc} {plan.received_value:g} {plan.received_unit} "
                    f"= {plan.field}={plan.value:g}, collected {plan.effective_at.isoformat()} "
                    f"by {caller.name}",
                )
    except IntegrityError:
        # The same Observation arrived twice at once: the other request stored it.
        with Session(ctx.engine) as session:
            row = session.exec(select(FhirLabObservation).where(FhirLabObservation.dedupe_key == key)).one()
        return Received(False, row, plan.observation)
    return Received(True, row, plan.observation, rules)


def receive_observation(ctx: AppContext, caller: Caller, body: bytes, ip: str | None) -> Received:
    """POST /fhir/Observation: check, then store (or find the stored duplicate)."""
    obs = parse_observation(parse_json(body))
    with Session(ctx.engine) as session:
        plan = _decide(session, check_observation(session, ctx, caller, obs), "Observation")
    return _store(ctx, caller, plan, ip)


# --------------------------------------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------------------------------------


def _bundle_shell(data: object) -> tuple[Bundle, list[object]]:
    """The Bundle validated without its entries' resources (checked one by one), and those resources."""
    if not isinstance(data, dict):
        raise FhirError(400, "structure", "Expected a JSON object (a FHIR Bundle).", "Bundle")
    if data.get("resourceType") != "Bundle":
        raise FhirError(422, "invalid", f"Expected a Bundle, got {data.get('resourceType')!r}.", "Bundle.resourceType")
    entries = data.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FhirError(400, "structure", "Bundle.entry must be a list of objects.", "Bundle.entry")
    resources = [e.get("resource") for e in entries]
    shell = {**data, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]} if entries else data
    try:
        bundle = Bundle.model_validate(shell)
    except ValidationError as exc:
        raise from_validation_error("Bundle", exc) from None
    if bundle.type not in ("transaction", "batch"):
        raise FhirError(422, "value", "POST /fhir accepts a Bundle of type transaction or batch.", "Bundle.type")
    return bundle, resources


def _entry_observation(
    session: Session, ctx: AppContext, caller: Caller, bundle: Bundle, resources: list[object], i: int
) -> PlannedLab:
    where = f"Bundle.entry[{i}]"
    entry = bundle.entry[i]
    if entry.request is None or entry.request.method != "POST" or (entry.request.url or "").strip("/") != "Observation":
        raise FhirError(422, "not-supported", "Only POST Observation entries are accepted.", f"{where}.request")
    caller.require("Observation", "write")
    obs = parse_observation(resources[i], f"{where}.resource")
    return _decide(session, check_observation(session, ctx, caller, obs, f"{where}.resource"), f"{where}.resource")


def _response_entry(received: Received) -> dict:
    return {
        "response": {
            "status": received.status_line,
            "location": f"Observation/in-{received.row.id}",
            "lastModified": received.row.received_at.isoformat(),
        }
    }


def _error_entry(error: FhirError) -> dict:
    return {"response": {"status": f"{error.status} {error.code}", "outcome": error.outcome().model_dump(mode="json")}}


def receive_bundle(ctx: AppContext, caller: Caller, body: bytes, ip: str | None) -> tuple[Bundle, list[Received]]:
    """POST /fhir: a transaction (all or nothing) or a batch (each entry on its own) of lab Observations."""
    bundle, resources = _bundle_shell(parse_json(body))
    entries = bundle.entry or []
    if bundle.type == "transaction":
        with Session(ctx.engine) as session:
            plans = [_entry_observation(session, ctx, caller, bundle, resources, i) for i in range(len(entries))]
        received = [_store(ctx, caller, plan, ip) for plan in plans]
        answer = [_response_entry(r) for r in received]
        kind = "transaction-response"
    else:
        answer, received = [], []
        for i in range(len(entries)):
            try:
                with Session(ctx.engine) as session:
                    plan = _entry_observation(session, ctx, caller, bundle, resources, i)
                one = _store(ctx, caller, plan, ip)
                received.append(one)
                answer.append(_response_entry(one))
            except FhirError as error:
                answer.append(_error_entry(error))
        kind = "batch-response"
    return Bundle.model_validate({"resourceType": "Bundle", "type": kind, "entry": answer}), received


def accepted_resource(received: Received) -> Observation:
    """The Observation as the server now holds it: the one received, with the server's id and time."""
    data = received.observation.model_dump(mode="json")
    data["id"] = f"in-{received.row.id}"
    data["meta"] = {"lastUpdated": received.row.received_at.isoformat()}
    return Observation.model_validate(data)
