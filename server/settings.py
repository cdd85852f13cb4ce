"""Typed settings, read once from the environment (and an optional `.env`).

Nothing else in the code base reads environment variables: `server.app.create_app(settings)`
and the CLI receive a `Settings` object and pass it on.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# Secrets that look like a copy of the example file are refused outside development.
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "xxx"}


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message is one sentence naming it."""


PLAN_OPERATIONS = ("hold", "reduce", "resume", "change_level", "discontinue", "change_schedule")
STAFF_ROLE_NAMES = ("nurse", "practitioner", "pharmacist", "physician", "admin")


def parse_plan_change_roles(text: str) -> dict[str, frozenset[str]]:
    """'physician:all;nurse:hold' -> {'physician': every operation, 'nurse': {'hold'}}; ValueError when malformed."""
    roles: dict[str, frozenset[str]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        role, _, operations = part.partition(":")
        role = role.strip().lower()
        if role not in STAFF_ROLE_NAMES:
            raise ValueError(f"{role!r} is not a staff role ({', '.join(STAFF_ROLE_NAMES)})")
        names = {o.strip().lower() for o in operations.split(",") if o.strip()}
        if names == {"all"}:
            names = set(PLAN_OPERATIONS)
        unknown = names - set(PLAN_OPERATIONS)
        if unknown:
            raise ValueError(f"unknown plan operation {sorted(unknown)[0]!r} (use {', '.join(PLAN_OPERATIONS)} or all)")
        roles[role] = frozenset(names)
    return roles


class Settings(BaseSettings):
    """Everything the server and the worker need to know about their environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- runtime -------------------------------------------------------------
    environment: Literal["development", "test", "production"] = Field("development", alias="COMPANION_ENV")
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT", ge=1, le=65535)
    # Web server processes for `companion serve` (PostgreSQL only: SQLite has one writer, see README).
    web_workers: int = Field(1, alias="WEB_WORKERS", ge=1, le=64)
    var_dir: Path = Field(VAR_DIR, alias="COMPANION_VAR_DIR")

    # --- database ------------------------------------------------------------
    database_url: str = Field("", alias="DATABASE_URL")

    # --- security ------------------------------------------------------------
    secret_key: SecretStr = Field(SecretStr(""), alias="SECRET_KEY")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")

    # --- SMS provider (twilio) -----------------------------------------------
    twilio_account_sid: str = Field("", alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr = Field(SecretStr(""), alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str = Field("", alias="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str = Field("", alias="TWILIO_MESSAGING_SERVICE_SID")
    twilio_api_base: str = Field("", alias="TWILIO_API_BASE")
    # Which SMS channel the worker uses: "auto" = Twilio when TWILIO_ACCOUNT_SID is set, otherwise the console (printed
    # messages, for `make run`). Production fails closed: it needs Twilio, and refuses "console" outright, since a
    # console channel records every reminder and urgent page as sent while nothing reaches a phone.
    sms_channel: Literal["auto", "twilio", "console"] = Field("auto", alias="SMS_CHANNEL")

    # --- clinic --------------------------------------------------------------
    clinic_name: str = Field("Demo Oncology Clinic", alias="CLINIC_NAME")
    clinic_phone: str = Field("+15555550100", alias="CLINIC_PHONE")
    # clinical-reference §3 "Say only what will happen": given to a patient when a same-day finding waits for the
    # next business morning (empty: CLINIC_PHONE), and the emergency fallback of every urgent result.
    clinic_after_hours_phone: str = Field("", alias="CLINIC_AFTER_HOURS_PHONE")
    emergency_number: str = Field("911", alias="EMERGENCY_NUMBER", min_length=2, max_length=16)
    default_timezone: str = Field("America/New_York", alias="DEFAULT_TIMEZONE")
    # The clinic's country (ISO 3166 two letters): how staff may type phone numbers without the country code, and the
    # enrollment form's weight unit (lb in the US, kg elsewhere).
    clinic_country: str = Field("US", alias="CLINIC_COUNTRY", min_length=2, max_length=2)
    # clinical-reference §3: same-day alerts page in clinic hours, otherwise the next business morning.
    clinic_hours: str = Field("08:00-17:00", alias="CLINIC_HOURS", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    clinic_days: str = Field("mon,tue,wed,thu,fri", alias="CLINIC_DAYS")
    # clinical-reference §3: an unacknowledged urgent alert pages the next person in the on-call chain after this.
    escalation_minutes: int = Field(15, alias="ESCALATION_MINUTES", ge=1, le=240)
    # Who may change a treatment plan, and how (issue 12 item 4): "role:operation,operation;role:all". Operations:
    # hold, reduce, resume, change_level, discontinue, change_schedule. A role not listed changes nothing.
    plan_change_roles: str = Field(
        "physician:all;pharmacist:all;practitioner:all;nurse:hold", alias="PLAN_CHANGE_ROLES"
    )

    # --- reminder worker -----------------------------------------------------
    dispatch_interval_seconds: float = Field(2.0, alias="DISPATCH_INTERVAL_SECONDS", gt=0)
    dispatch_concurrency: int = Field(8, alias="DISPATCH_CONCURRENCY", ge=1, le=64)  # parallel sends per worker
    planner_interval_seconds: float = Field(300.0, alias="PLANNER_INTERVAL_SECONDS", gt=0)
    # A claim older than this belongs to a dead worker; must be well above SMS_TIMEOUT_SECONDS.
    claim_lease_seconds: float = Field(120.0, alias="CLAIM_LEASE_SECONDS", gt=0)
    sms_timeout_seconds: float = Field(10.0, alias="SMS_TIMEOUT_SECONDS", gt=0)
    send_max_attempts: int = Field(6, alias="SEND_MAX_ATTEMPTS", ge=1)
    retry_base_seconds: float = Field(30.0, alias="RETRY_BASE_SECONDS", gt=0)
    retry_max_seconds: float = Field(900.0, alias="RETRY_MAX_SECONDS", gt=0)
    nudge_after_minutes: int = Field(180, alias="NUDGE_AFTER_MINUTES", ge=15, le=720)
    vapid_subject: str = Field("mailto:care-team@example.org", alias="VAPID_SUBJECT")
    # The worker POSTs to a subscription's endpoint: only the browsers' push services are accepted, never an address
    # inside the clinic's network (server-side request forgery). "*." allows a host's subdomains.
    push_service_hosts: str = Field(
        "fcm.googleapis.com,updates.push.services.mozilla.com,*.push.services.mozilla.com,*.notify.windows.com,"
        "web.push.apple.com,*.push.apple.com",
        alias="PUSH_SERVICE_HOSTS",
    )

    # --- staff sign-in and sessions --------------------------------------------
    # Addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs, "*" for any).
    # Empty (the default): the direct peer is the client, and X-Forwarded-For is ignored (it could be forged).
    forwarded_allow_ips: str = Field("", alias="FORWARDED_ALLOW_IPS")
    # A staff session ends after this long without a request (besides the 12-hour cap).
    staff_idle_timeout_minutes: int = Field(60, alias="STAFF_IDLE_TIMEOUT_MINUTES", ge=1, le=720)
    # Staff without an authenticator app are sent to set one up before anything else. Default: on in production.
    require_staff_mfa: bool | None = Field(None, alias="REQUIRE_STAFF_MFA")

    # --- operations ----------------------------------------------------------
    # /healthz answers 503 when the freshest worker heartbeat (every 10 s) is older than this, or when the oldest due
    # message has waited longer than DISPATCH_LAG_LIMIT_SECONDS: either way reminders and pages are not going out.
    worker_stale_seconds: float = Field(60.0, alias="WORKER_STALE_SECONDS", gt=0)
    dispatch_lag_limit_seconds: float = Field(300.0, alias="DISPATCH_LAG_LIMIT_SECONDS", gt=0)
    # Prometheus metrics at /metrics: off while empty; a scraper then sends `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: SecretStr = Field(SecretStr(""), alias="METRICS_TOKEN")

    # --- FHIR interoperability (server/services/fhir) --------------------------
    # The identifier system of the clinic's MRNs, as the EHR and lab system send it; "{clinic}" becomes the clinic id.
    fhir_mrn_system: str = Field("urn:companion:mrn:{clinic}", alias="FHIR_MRN_SYSTEM", min_length=1)
    fhir_token_minutes: int = Field(5, alias="FHIR_TOKEN_MINUTES", ge=1, le=60)  # SMART: short-lived bearer tokens

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as America/New_York") from None
        return value

    @field_validator("clinic_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        import phonenumbers

        value = value.strip().upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a two-letter country code such as US or ES")
        return value

    @field_validator("plan_change_roles")
    @classmethod
    def _known_plan_roles(cls, value: str) -> str:
        parse_plan_change_roles(value)
        return value

    @property
    def plan_roles(self) -> dict[str, frozenset[str]]:
        """PLAN_CHANGE_ROLES as role -> the plan operations it may perform."""
        return parse_plan_change_roles(self.plan_change_roles)

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL such as https://companion.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _links_follow_the_served_address(self) -> Settings:
        """Without PUBLIC_BASE_URL, every link the app makes (staff URL, invites, sign-in links, pages) points at the
        address it is served on: `PORT=8080 make run` links to :8080 (issue 12 item 8)."""
        if "public_base_url" not in self.model_fields_set:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_base_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _production_requirements(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'companion.sqlite3'}"
        if self.sms_channel == "twilio" and not self.twilio_account_sid:
            raise ValueError("SMS_CHANNEL=twilio needs TWILIO_ACCOUNT_SID (and TWILIO_AUTH_TOKEN and a sender)")
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
            raise ValueError("SECRET_KEY must be set to a random value of at least 32 characters in production")
        if not self.public_base_url.startswith("https://"):
            raise ValueError("PUBLIC_BASE_URL must be an https:// URL in production")
        if self.sms_channel == "console":
            raise ValueError(
                "SMS_CHANNEL=console is refused in production: no reminder or urgent page would reach a phone"
            )
        if not self.twilio_enabled:
            raise ValueError(
                "TWILIO_ACCOUNT_SID must be set in production: reminders and urgent pages need an SMS provider"
            )
        if self.twilio_enabled:
            if not self.twilio_auth_token.get_secret_value():
                raise ValueError("TWILIO_AUTH_TOKEN must be set when TWILIO_ACCOUNT_SID is set")
            if not (self.twilio_from_number or self.twilio_messaging_service_sid):
                raise ValueError(
                    "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID must be set when TWILIO_ACCOUNT_SID is set"
                )
        return self

    # --- derived -------------------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def staff_mfa_required(self) -> bool:
        """REQUIRE_STAFF_MFA, defaulting to on in production and off elsewhere."""
        return self.environment == "production" if self.require_staff_mfa is None else self.require_staff_mfa

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def escalation_after(self) -> timedelta:
        """ESCALATION_MINUTES as the `repage_after` that alerts.upsert_alert and alerts.page_next take."""
        return timedelta(minutes=self.escalation_minutes)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid) and self.sms_channel != "console"

    @property
    def sms_channel_name(self) -> str:
        """The SMS channel in use: "twilio", or "console" (messages printed, nothing sent)."""
        return "twilio" if self.twilio_enabled else "console"

    def secret(self) -> str:
        """The session/CSRF secret: set explicitly, or generated once under var/ outside production."""
        value = self.secret_key.get_secret_value()
        if value:
            return value
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


# Which dotenv file to read: `.env` in the working directory unless COMPANION_ENV_FILE names another one ("" reads
# none). The test suite sets it to "" so that a developer's `.env` never changes a test's outcome.
ENV_FILE_VARIABLE = "COMPANION_ENV_FILE"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation errors into one clear sentence."""
    env_file = os.environ.get(ENV_FILE_VARIABLE, ".env") or None
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc") or ()
        name = _env_name(str(loc[0])) if loc else ""
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}" if name else message) from None


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    return (info.alias if info and info.alias else field).upper()
