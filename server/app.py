"""The one wiring place: builds the Litestar app from a Settings object.

Every controller, middleware, dependency and exception handler is listed here. Tests build their
own app with their own settings, engine and clock.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from litestar import Litestar, Request, Response, Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError

from .auth import SecondFactorSetupRequired
from .clock import Clock, SystemClock
from .context import AppContext
from .db import create_db_engine
from .error_handlers import http_exception_handler, internal_error_handler, out_of_range_handler, too_deep_handler
from .errors import Conflict, FieldError, Forbidden, NotFound
from .http_headers import security_headers_hook
from .i18n import install_jinja_i18n
from .live import LivePublisher, create_channels_plugin
from .routes import patient as patient_routes
from .routes import sms as sms_routes
from .routes import staff as staff_routes
from .routes.fhir import ROUTER as FHIR_ROUTER
from .routes.health import healthz
from .routes.metrics import metrics, prometheus_config
from .settings import PROJECT_ROOT, Settings

WEB_DIR = PROJECT_ROOT / "web"
log = logging.getLogger(__name__)

# Routes that a third party (the SMS provider) posts to: authenticated by its signature, not by CSRF.
# Anchored, so a future route that merely contains "/sms/" keeps its CSRF protection.
CSRF_EXEMPT = [
    r"^/sms/(inbound|status)$",
    r"^/fhir(/|$)",
    r"^/oauth/token$",
]  # machine clients with bearer tokens, no cookies


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
) -> Litestar:
    """Build the web app. The CLI embeds the worker by adding to app.on_startup/on_shutdown (the app never knows)."""
    engine = engine or create_db_engine(settings)
    # Live inbox events: in-memory on SQLite, LISTEN/NOTIFY on PostgreSQL (crosses processes); see server.live.
    channels = create_channels_plugin(settings)
    publisher = LivePublisher(channels, engine, use_pg_notify=not settings.is_sqlite)
    ctx = AppContext(settings=settings, engine=engine, clock=clock or SystemClock(), publish=publisher)
    secret = settings.secret()
    secure_cookies = not settings.is_development and settings.environment != "test"
    session_key = hashlib.sha256(f"session:{secret}".encode()).digest()

    app = Litestar(
        route_handlers=[
            healthz,
            metrics,
            # Each module's handlers as one Router: Litestar 2.25 re-registers a path's earlier handlers when a later
            # loose handler joins that path (GET + POST), wrapping a sync_to_thread handler twice (it then returns a
            # coroutine, and the page fails with a 500). A router registers each of its handlers exactly once.
            Router(path="/", route_handlers=list(patient_routes.ROUTES)),
            *staff_routes.ROUTES,
            Router(path="/", route_handlers=list(sms_routes.ROUTES)),
            FHIR_ROUTER,
            create_static_files_router(
                path="/static",
                directories=[WEB_DIR / "static"],
                name="static",
                include_in_schema=False,
                # A NUL or another byte no file name can hold: not found, not a 500.
                exception_handlers={ValueError: static_not_found_handler},
            ),
        ],
        dependencies={"ctx": Provide(lambda: ctx, use_cache=True, sync_to_thread=False)},
        middleware=[
            prometheus_config().middleware,
            # Long-lived for patients (revocable by session_version); staff sessions also expire in server.auth.
            CookieBackendConfig(
                secret=session_key, secure=secure_cookies, httponly=True, samesite="lax", max_age=180 * 24 * 3600
            ).middleware,
        ],
        csrf_config=CSRFConfig(secret=secret, exclude=CSRF_EXEMPT, cookie_samesite="lax", cookie_secure=secure_cookies),
        before_send=[security_headers_hook(settings)],
        template_config=TemplateConfig(
            directory=Path(WEB_DIR / "templates"), engine=JinjaTemplateEngine, engine_callback=install_jinja_i18n
        ),
        # Patients are often on slow mobile connections: gzip pages, scripts and JSON (streams are flushed per chunk).
        compression_config=CompressionConfig(backend="gzip", gzip_compress_level=6),
        # The API schema is for developers and tests: not served in production (it maps every route for an attacker).
        openapi_config=None
        if settings.environment == "production"
        else OpenAPIConfig(title="Selinexor Companion", version="0.1.0", path="/schema"),
        exception_handlers={
            FieldError: field_error_handler,
            Conflict: conflict_handler,
            NotFound: not_found_handler,
            Forbidden: forbidden_handler,
            NotAuthorizedException: not_authorized_handler,
            SecondFactorSetupRequired: second_factor_setup_handler,
            HTTPException: http_exception_handler,
            DataError: out_of_range_handler,
            OverflowError: out_of_range_handler,
            RecursionError: too_deep_handler,
            Exception: internal_error_handler,
        },
        plugins=[channels],
        on_startup=[publisher.bind_loop],
        on_shutdown=[publisher.unbind_loop],
        logging_config=None,  # the CLI configures logging once, for the web app and the worker alike
        debug=False,
    )
    app.state.ctx = ctx
    return app


# --------------------------------------------------------------------------- errors, mapped to HTTP once


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def field_error_handler(request: Request, exc: FieldError) -> Response:
    """422 naming the field; nothing was stored. HTML forms catch FieldError themselves to re-render the page."""
    return Response(
        {
            "error": "invalid",
            "field": exc.field,
            "message": exc.message,
            "errors": [{"field": exc.field, "message": exc.message}],
        },
        status_code=422,
    )


def conflict_handler(request: Request, exc: Conflict) -> Response:
    return Response({"error": "conflict", "field": exc.field, "message": exc.message}, status_code=409)


def not_found_handler(request: Request, exc: NotFound) -> Response:
    return Response({"error": "not_found", "message": str(exc) or "Not found."}, status_code=404)


def forbidden_handler(request: Request, exc: Forbidden) -> Response:
    return Response({"error": "forbidden", "message": str(exc) or "Forbidden."}, status_code=403)


def second_factor_setup_handler(request: Request, exc: SecondFactorSetupRequired) -> Response:
    """REQUIRE_STAFF_MFA: pages send the staff member to set up their authenticator app; the API answers 403."""
    if _wants_html(request):
        return Redirect("/staff/account#totp")
    return Response({"error": "second_factor_required", "message": exc.detail}, status_code=403)


def static_not_found_handler(request: Request, exc: ValueError) -> Response:
    return Response({"status_code": 404, "detail": "Not found."}, status_code=404)


def not_authorized_handler(request: Request, exc: NotAuthorizedException) -> Response:
    """Pages send people to the right sign-in page; the JSON API answers 401."""
    if _wants_html(request):
        target = "/staff/login" if request.url.path.startswith("/staff") else "/signin"
        return Redirect(f"{target}?next={request.url.path}")
    return Response({"error": "not_authenticated", "message": exc.detail}, status_code=401)
