# Over 400 lines on purpose: one builder per resource type of the record, side by side.
"""The patient's record out as FHIR resources: Patient; the selinexor plan versions as MedicationRequest with a
Provenance each (who changed it and why); each dose as MedicationAdministration; weight (29463-7) and body
temperature (8310-5) as vital-sign Observations; lab results as laboratory Observations; symptom check-ins as
QuestionnaireResponse against the published Questionnaire; alerts as Flag with the rule id and tier.

`load_records` reads many patients in a few queries (bulk export); `resources_for` builds one patient's resources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.resource import Resource
from sqlmodel import Session, select

from ...clinical.regimens import REGIMENS
from ...models import Alert, DoseEvent, LabResult, Patient, Staff, SymptomReport, TreatmentPlan, WeightEntry
from ...settings import Settings
from .patients import mrn_system
from .terminology import (
    EXPORT_CODE,
    LAB_CODES,
    LOINC,
    OBSERVATION_CATEGORY,
    RULE_CODESYSTEM_PATH,
    RULE_UNIT,
    SYMPTOM_QUESTIONNAIRE_ID,
    TIER_EXTENSION_PATH,
    UCUM,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLAN_STATUS = {"active": "active", "held": "on-hold", "discontinued": "stopped"}
SELINEXOR = {"text": "selinexor (XPOVIO) tablets"}
# The resource types a patient's record is made of, in the order they are listed.
RECORD_TYPES = (
    "Patient",
    "MedicationRequest",
    "Provenance",
    "MedicationAdministration",
    "Observation",
    "QuestionnaireResponse",
    "Flag",
)

# The symptom questions (clinical-reference §5) as Questionnaire items: linkId = SymptomReport column.
SYMPTOM_ITEMS = (
    ("nausea", "Nausea today (0 none, 1 eating as usual, 2 eating less, 3 can't eat or drink enough)", "integer"),
    ("vomiting_episodes", "Times vomited in the last 24 hours", "integer"),
    ("loose_stools", "Loose stools in the last 24 hours", "integer"),
    ("appetite", "Appetite today (0 normal to 3 barely eating, losing weight)", "integer"),
    ("fatigue", "Fatigue today (0 none to 3 hard to wash or dress)", "integer"),
    ("temperature_c", "Highest temperature (°C)", "decimal"),
    ("chills", "Chills or shaking", "boolean"),
    ("bleeding", "Bleeding (none, minor, major)", "string"),
    ("neuro", "Dizziness or confusion (none, dizzy, major)", "string"),
    ("vision_change", "New blurred or double vision", "boolean"),
)


@dataclass
class PatientRecord:
    """One patient's rows, as the resource builders read them."""

    patient: Patient
    plans: list[TreatmentPlan] = field(default_factory=list)
    doses: list[DoseEvent] = field(default_factory=list)
    weights: list[WeightEntry] = field(default_factory=list)
    symptoms: list[SymptomReport] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def load_records(session: Session, patients: list[Patient]) -> tuple[list[PatientRecord], dict[int, str]]:
    """The records of these patients in one query per table, and the names of the staff who changed their plans."""
    records = {p.id: PatientRecord(p) for p in patients}
    ids = list(records)
    if not ids:
        return [], {}
    for model, attr, order in (
        (TreatmentPlan, "plans", TreatmentPlan.version),
        (DoseEvent, "doses", DoseEvent.at),
        (WeightEntry, "weights", WeightEntry.at),
        (SymptomReport, "symptoms", SymptomReport.at),
        (LabResult, "labs", LabResult.collected_at),
        (Alert, "alerts", Alert.opened_at),
    ):
        query = select(model).where(model.patient_id.in_(ids)).order_by(order)
        if hasattr(model, "superseded_at"):
            query = query.where(model.superseded_at.is_(None))  # corrected entries count once, as corrected
        for row in session.exec(query).all():
            getattr(records[row.patient_id], attr).append(row)
    staff_ids = {p.changed_by_staff_id for r in records.values() for p in r.plans if p.changed_by_staff_id}
    names = (
        {s.id: s.name for s in session.exec(select(Staff).where(Staff.id.in_(staff_ids))).all()} if staff_ids else {}
    )
    return list(records.values()), names


def _ref(kind: str, ident: object) -> dict:
    return {"reference": f"{kind}/{ident}"}


def _patient(p: Patient, settings: Settings) -> FhirPatient:
    return FhirPatient(
        id=str(p.id),
        identifier=[
            {
                "use": "usual",
                "system": mrn_system(settings, p.clinic_id),
                "value": p.mrn,
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            }
        ],
        name=[{"family": p.last_name, "given": [p.first_name]}],
        birthDate=p.date_of_birth,
        telecom=[{"system": "phone", "value": p.phone_e164, "use": "mobile"}] if p.phone_e164 else None,
        communication=[
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p.language}]}, "preferred": True}
        ],
    )


def _plan_resources(rec: PatientRecord, names: dict[int, str], base: str) -> list[Resource]:
    out: list[Resource] = []
    pid = rec.patient.id
    for i, plan in enumerate(rec.plans):
        level = REGIMENS[plan.regimen].levels[plan.dose_level]
        latest = i == len(rec.plans) - 1
        days = [WEEKDAYS[plan.day1_weekday]] + ([WEEKDAYS[plan.day3_weekday]] if level.twice_weekly else [])
        status = PLAN_STATUS.get(plan.status, "unknown") if latest else "stopped"
        who = {"display": names[plan.changed_by_staff_id]} if plan.changed_by_staff_id in names else None
        notes = [f"Regimen {plan.regimen}, dose level {plan.dose_level}: {level.describe()}."]
        if plan.dexamethasone_instruction:
            notes.append(plan.dexamethasone_instruction)
        if not latest:
            notes.append(f"Replaced by plan version {rec.plans[i + 1].version}.")
        out.append(
            MedicationRequest(
                id=f"plan-{plan.id}",
                status=status,
                intent="order",
                medicationCodeableConcept=SELINEXOR,
                subject=_ref("Patient", pid),
                authoredOn=plan.created_at,
                requester=who,
                groupIdentifier={"system": f"{base}/fhir/plan-version", "value": f"{pid}-{plan.version}"},
                statusReason={"text": plan.reason} if plan.reason and plan.status != "active" else None,
                priorPrescription=_ref("MedicationRequest", f"plan-{rec.plans[i - 1].id}") if i else None,
                note=[{"text": text} for text in notes],
                extension=[{"url": f"{base}/fhir/StructureDefinition/dose-level", "valueInteger": plan.dose_level}],
                dosageInstruction=[
                    {
                        "text": f"{level.describe()}, by mouth at {plan.dose_time.strftime('%H:%M')}; tablets whole, with water",
                        "route": {"text": "oral"},
                        "timing": {
                            "repeat": {
                                "frequency": len(days),
                                "period": 1,
                                "periodUnit": "wk",
                                "dayOfWeek": days,
                                "timeOfDay": [plan.dose_time],
                            }
                        },
                        "doseAndRate": [
                            {"doseQuantity": {"value": level.dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}
                        ],
                    }
                ],
            )
        )
        out.append(
            Provenance(
                id=f"plan-{plan.id}-provenance",
                target=[_ref("MedicationRequest", f"plan-{plan.id}")],
                recorded=plan.created_at,
                activity={
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                            "code": "CREATE" if i == 0 else "UPDATE",
                        }
                    ]
                },
                agent=[{"who": who or {"display": "Selinexor Companion (enrollment)"}}],
                reason=[{"text": plan.reason}] if plan.reason else None,
            )
        )
    return out


def _plan_at(plans: list[TreatmentPlan], at: datetime) -> TreatmentPlan | None:
    current = None
    for plan in plans:
        if plan.created_at <= at:
            current = plan
    return current or (plans[0] if plans else None)


def _doses(rec: PatientRecord) -> list[Resource]:
    out: list[Resource] = []
    for dose in rec.doses:
        plan = _plan_at(rec.plans, dose.at)
        taken = dose.status == "taken"
        dosage = None
        if plan is not None and taken:
            mg = REGIMENS[plan.regimen].levels[plan.dose_level].dose_mg
            dosage = {"dose": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}, "route": {"text": "oral"}}
        out.append(
            MedicationAdministration(
                id=f"dose-{dose.id}",
                status="completed" if taken else "not-done",
                statusReason=None if taken else [{"text": dose.status}],  # missed | vomited
                medicationCodeableConcept=SELINEXOR,
                subject=_ref("Patient", rec.patient.id),
                effectiveDateTime=dose.at,
                request=_ref("MedicationRequest", f"plan-{plan.id}") if plan else None,
                dosage=dosage,
            )
        )
    return out


def _vital(ident: str, pid: int, code: str, display: str, at: datetime, value: float, unit: str) -> Observation:
    return Observation(
        id=ident,
        status="final",
        subject=_ref("Patient", pid),
        effectiveDateTime=at,
        category=[{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        code={"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit},
    )


def _observations(rec: PatientRecord) -> list[Resource]:
    pid = rec.patient.id
    out: list[Resource] = [
        _vital(f"weight-{w.id}", pid, "29463-7", "Body weight", w.at, w.kg, "kg") for w in rec.weights
    ]
    out += [
        _vital(f"temperature-{s.id}", pid, "8310-5", "Body temperature", s.at, s.temperature_c, "Cel")
        for s in rec.symptoms
        if s.temperature_c is not None
    ]
    for lab in rec.labs:
        for name, code in EXPORT_CODE.items():
            value = getattr(lab, name)
            if value is None:
                continue
            out.append(
                Observation(
                    id=f"lab-{lab.id}-{code}",
                    status="final",
                    subject=_ref("Patient", pid),
                    effectiveDateTime=lab.collected_at,
                    issued=lab.recorded_at,
                    category=[{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
                    code={"coding": [{"system": LOINC, "code": code, "display": LAB_CODES[code].display}]},
                    valueQuantity={"value": value, "unit": RULE_UNIT[name], "system": UCUM, "code": RULE_UNIT[name]},
                )
            )
    return out


def _answer(kind: str, value: object) -> dict:
    return {
        {"integer": "valueInteger", "decimal": "valueDecimal", "boolean": "valueBoolean", "string": "valueString"}[
            kind
        ]: value
    }


def _symptoms(rec: PatientRecord, base: str) -> list[Resource]:
    out: list[Resource] = []
    for report in rec.symptoms:
        items = [
            {"linkId": link, "text": text, "answer": [_answer(kind, getattr(report, link))]}
            for link, text, kind in SYMPTOM_ITEMS
            if getattr(report, link) is not None
        ]
        out.append(
            QuestionnaireResponse(
                id=f"symptoms-{report.id}",
                questionnaire=f"{base}/fhir/Questionnaire/{SYMPTOM_QUESTIONNAIRE_ID}",
                status="completed",
                subject=_ref("Patient", rec.patient.id),
                authored=report.at,
                item=items or None,
            )
        )
    return out


def _alerts(rec: PatientRecord, base: str) -> list[Resource]:
    return [
        Flag(
            id=f"alert-{alert.id}",
            status="inactive" if alert.status == "resolved" else "active",
            category=[
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical"}]}
            ],
            code={
                "coding": [{"system": f"{base}{RULE_CODESYSTEM_PATH}", "code": alert.rule}],
                "text": f"{alert.rule} ({alert.tier}): {alert.facts}",
            },
            subject=_ref("Patient", rec.patient.id),
            period={"start": alert.opened_at, "end": alert.resolved_at},
            extension=[{"url": f"{base}{TIER_EXTENSION_PATH}", "valueCode": alert.tier}],
        )
        for alert in rec.alerts
    ]


def resources_for(
    rec: PatientRecord, names: dict[int, str], settings: Settings, allowed: Callable[[str], bool] = lambda _: True
) -> list[Resource]:
    """All resources of one patient's record whose type `allowed` lets through (the caller's read scopes)."""
    base = settings.public_base_url
    out: list[Resource] = [_patient(rec.patient, settings)]
    out += _plan_resources(rec, names, base)
    out += _doses(rec)
    out += _observations(rec)
    out += _symptoms(rec, base)
    out += _alerts(rec, base)
    return [r for r in out if allowed(r.get_resource_type())]


def searchset(resources: Iterable[Resource], base: str) -> Bundle:
    """A searchset Bundle of resources, each with its full URL."""
    entries = [
        {"fullUrl": f"{base}/fhir/{r.get_resource_type()}/{r.id}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    return Bundle.model_validate(
        {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries or None}
    )


def symptom_questionnaire(settings: Settings) -> Questionnaire:
    """The Questionnaire the symptom QuestionnaireResponses answer (clinical-reference §5)."""
    url = f"{settings.public_base_url}/fhir/Questionnaire/{SYMPTOM_QUESTIONNAIRE_ID}"
    return Questionnaire(
        id=SYMPTOM_QUESTIONNAIRE_ID,
        url=url,
        status="active",
        name="CompanionSymptoms",
        title="Selinexor Companion symptom check-in",
        subjectType=["Patient"],
        item=[{"linkId": link, "text": text, "type": kind} for link, text, kind in SYMPTOM_ITEMS],
    )


def capability_statement(settings: Settings, now: datetime) -> CapabilityStatement:
    """What this server does, at GET /fhir/metadata."""
    base = settings.public_base_url
    return CapabilityStatement(
        status="active",
        date=now,
        kind="instance",
        fhirVersion="4.0.1",
        format=["json"],
        publisher="Selinexor Companion",
        implementation={"description": "Selinexor Companion FHIR API", "url": f"{base}/fhir"},
        rest=[
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "OAuth2 client credentials at /oauth/token; SMART system scopes such as "
                    "system/Observation.write and system/*.read.",
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": f"{base}/oauth/token"}],
                        }
                    ],
                },
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {"name": "identifier", "type": "token", "documentation": "The MRN: [system|]value"}
                        ],
                        "operation": [
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                            },
                            {
                                "name": "export",
                                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                            },
                        ],
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "create"}],
                        "documentation": "Lab results: LOINC " + ", ".join(LAB_CODES) + "; UCUM units.",
                    },
                    {"type": "Questionnaire", "interaction": [{"code": "read"}]},
                ]
                + [{"type": kind} for kind in RECORD_TYPES if kind not in ("Patient", "Observation")],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    )
