"""The FHIR R4 API (issue 15) and its OAuth2 token endpoint, as one Router.

Callers are machine clients with bearer tokens (no cookies, hence CSRF-exempt in server.app). Each handler
authenticates, checks the scope its route needs, calls a service in server.services.fhir, and leaves one audit
row with the client as the actor, whatever the outcome. Refusals are OperationOutcome resources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, RawBody

from ..client_address import client_address
from ..context import AppContext, Ctx
from ..services.fhir import bulk, labs_in, reads
from ..services.fhir.clients import Caller, OAuthError, audit_request, authenticate, issue_token
from ..services.fhir.outcomes import FhirError
from ..services.fhir.record_out import capability_statement, symptom_questionnaire
from ..services.fhir.terminology import SYMPTOM_QUESTIONNAIRE_ID

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
Handled = tuple[Response, int | None]  # the answer, and the patient it was about (for the audit row)


def _ip(request: Request) -> str | None:
    return client_address(request)


def resource_response(resource: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A FHIR resource serialised by its model."""
    return Response(
        content=resource.model_dump_json().encode(), media_type=FHIR_JSON, status_code=status, headers=headers
    )


def _call(
    request: Request, ctx: AppContext, action: str, need: tuple[str, str] | None, handle: Callable[[Caller], Handled]
) -> Response:
    caller: Caller | None = None
    patient_id: int | None = None
    response: Response | None = None
    try:
        caller = authenticate(ctx, request.headers.get("authorization"))
        if need:
            caller.require(*need)
        response, patient_id = handle(caller)
    except FhirError as exc:
        response = resource_response(exc.outcome(), exc.status)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
    finally:  # every request leaves an audit row, an unexpected failure (500) too
        audit_request(
            ctx,
            caller,
            action=action,
            status=response.status_code if response is not None else 500,
            ip=_ip(request),
            patient_id=patient_id,
            detail=f"{request.method} {request.url.path}",
        )
    return response


# --------------------------------------------------------------------------------------------------------------------


@post("/oauth/token", sync_to_thread=True, status_code=200)
def token(
    request: Request, ctx: Ctx, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response:
    """OAuth2 client credentials (client_id/client_secret in the form): a short-lived bearer token."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        answer = issue_token(
            ctx,
            grant_type=data.get("grant_type", ""),
            client_id=data.get("client_id", ""),
            client_secret=data.get("client_secret", ""),
            scope=data.get("scope"),
            ip=_ip(request),
        )
    except OAuthError as exc:
        return Response(
            {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=headers
        )
    return Response(answer, headers=headers)


@get("/fhir/metadata", sync_to_thread=True)
def metadata(ctx: Ctx) -> Response:
    """The CapabilityStatement (public, like every FHIR server's)."""
    return resource_response(capability_statement(ctx.settings, ctx.clock.now()))


@get(f"/fhir/Questionnaire/{SYMPTOM_QUESTIONNAIRE_ID}", sync_to_thread=True)
def questionnaire(ctx: Ctx) -> Response:
    """The symptom Questionnaire that exported QuestionnaireResponses answer (public: it holds no patient data)."""
    return resource_response(symptom_questionnaire(ctx.settings))


@get("/fhir/Patient", sync_to_thread=True)
def patient_search(request: Request, ctx: Ctx) -> Response:
    """Search patients by MRN: ?identifier=[system|]value."""

    def handle(caller: Caller) -> Handled:
        identifier = request.query_params.get("identifier")
        if not identifier:
            raise FhirError(400, "required", "Search by identifier ([system|]MRN).", "identifier")
        bundle, ids = reads.search_patients(ctx, caller, identifier)
        return resource_response(bundle), ids[0] if len(ids) == 1 else None

    return _call(request, ctx, "fhir.patient.search", ("Patient", "read"), handle)


@get("/fhir/Patient/{patient_id:str}/$everything", sync_to_thread=True)
def patient_everything(request: Request, ctx: Ctx, patient_id: FromPath[str]) -> Response:
    """Everything about one patient of the client's clinic."""

    def handle(caller: Caller) -> Handled:
        bundle = reads.everything(ctx, caller, patient_id)
        return resource_response(bundle), int(patient_id)

    return _call(request, ctx, "fhir.patient.everything", ("Patient", "read"), handle)


@post("/fhir/Observation", sync_to_thread=True)
def observation_create(request: Request, ctx: Ctx, body: RawBody) -> Response:
    """One lab Observation: 201 when stored, 200 when it was already stored."""

    def handle(caller: Caller) -> Handled:
        received = labs_in.receive_observation(ctx, caller, body, _ip(request))
        resource = labs_in.accepted_resource(received)
        return resource_response(
            resource,
            201 if received.created else 200,
            {"Location": f"{ctx.settings.public_base_url}/fhir/Observation/{resource.id}"},
        ), received.row.patient_id

    return _call(request, ctx, "fhir.observation.create", ("Observation", "write"), handle)


@post("/fhir", sync_to_thread=True)
def bundle_post(request: Request, ctx: Ctx, body: RawBody) -> Response:
    """A transaction (all or nothing) or batch (per-entry outcomes) Bundle of lab Observations."""

    def handle(caller: Caller) -> Handled:
        answer, received = labs_in.receive_bundle(ctx, caller, body, _ip(request))
        patients = {r.row.patient_id for r in received}
        return resource_response(answer), patients.pop() if len(patients) == 1 else None

    return _call(request, ctx, "fhir.bundle", ("Observation", "write"), handle)


@get("/fhir/Patient/$export", sync_to_thread=True)
def export_kickoff(request: Request, ctx: Ctx) -> Response:
    """Bulk export of the clinic's patients: 202 with the status URL in Content-Location."""

    def handle(caller: Caller) -> Handled:
        job = bulk.start_export(ctx, caller, request.query_params.get("_type"), str(request.url))
        status_url = f"{ctx.settings.public_base_url}/fhir/$export-status/{job.job_key}"
        return Response(b"", status_code=202, headers={"Content-Location": status_url}), None

    return _call(request, ctx, "fhir.export.kickoff", ("Patient", "read"), handle)


@get("/fhir/$export-status/{job_key:str}", sync_to_thread=True)
def export_status(request: Request, ctx: Ctx, job_key: FromPath[str]) -> Response:
    """202 while the export runs; 200 with the manifest of NDJSON files when complete."""

    def handle(caller: Caller) -> Handled:
        state = bulk.export_status(ctx, caller, job_key)
        job = state.job
        if job.status in ("accepted", "in_progress"):
            return Response(b"", status_code=202, headers={"X-Progress": job.status, "Retry-After": "2"}), None
        if job.status == "error":
            raise FhirError(500, "exception", f"The export failed: {job.error}")
        if job.status == "deleted":
            raise FhirError(404, "not-found", "This export was deleted.")
        base = ctx.settings.public_base_url
        manifest = {  # the Bulk Data manifest is plain JSON, not a FHIR resource
            "transactionTime": job.requested_at.isoformat(),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [
                {"type": kind, "url": f"{base}/fhir/$export-file/{job.job_key}/{kind}.ndjson", "count": count}
                for kind, count in state.files
            ],
            "error": [],
        }
        return Response(manifest, status_code=200, media_type="application/json"), None

    return _call(request, ctx, "fhir.export.status", ("Patient", "read"), handle)


@delete("/fhir/$export-status/{job_key:str}", sync_to_thread=True, status_code=202)
def export_delete(request: Request, ctx: Ctx, job_key: FromPath[str]) -> Response:
    """Cancel an export or delete its files."""

    def handle(caller: Caller) -> Handled:
        bulk.delete_export(ctx, caller, job_key)
        return Response(b"", status_code=202), None

    return _call(request, ctx, "fhir.export.delete", ("Patient", "read"), handle)


@get("/fhir/$export-file/{job_key:str}/{name:str}", sync_to_thread=True)
def export_file(request: Request, ctx: Ctx, job_key: FromPath[str], name: FromPath[str]) -> Response:
    """One NDJSON output file."""

    def handle(caller: Caller) -> Handled:
        text = bulk.export_file(ctx, caller, job_key, name.removesuffix(".ndjson"))
        return Response(text.encode(), media_type=NDJSON), None

    return _call(request, ctx, "fhir.export.file", ("Patient", "read"), handle)


ROUTER = Router(
    path="/",
    route_handlers=[
        token,
        metadata,
        questionnaire,
        patient_search,
        patient_everything,
        observation_create,
        bundle_post,
        export_kickoff,
        export_status,
        export_delete,
        export_file,
    ],
    include_in_schema=False,
)
