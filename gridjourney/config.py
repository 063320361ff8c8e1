"""Settings, read from GRIDJOURNEY_* environment variables (and an optional .env file).

Unset `database_url` / `temporal_address` mean "use the embedded stack" (see devstack.py).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridjourney.dsl.durations import DURATION_PATTERN, parse_duration
from gridjourney.metering.holidays import US, check_calendar
from gridjourney.weather.stations import SIMULATOR_STATIONS, check_stations

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "", "[::]"})  # listen on every address; never callable
# Browsers a customer keeps subscribed to push; browsers rotate subscriptions (pushsubscriptionchange).
DEFAULT_PUSH_SUBSCRIPTIONS_PER_CUSTOMER = 10
DURATION_FORMS = "seconds (60), a number and a unit (10s, 30m, 2h, 7d, 1d12h) or ISO 8601 (PT10S)"
_SECONDS = re.compile(r"\d+(\.\d+)?")
_PYDANTIC_DURATION = TypeAdapter(timedelta)  # ISO 8601 and pydantic's other forms ([-][DD]HH:MM:SS)


def _setting_duration(value: Any) -> timedelta:
    """A duration as an operator writes it in the environment: the journey language's units
    (dsl/durations.py), plain seconds, or ISO 8601; one reason naming the forms otherwise."""
    try:
        if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
            duration = timedelta(seconds=float(value))
        elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
            duration = parse_duration(value)
        else:
            duration = _PYDANTIC_DURATION.validate_python(value)
    except (ValueError, ValidationError, OverflowError):
        raise ValueError(f"not a duration; write {DURATION_FORMS}") from None
    if duration < timedelta(0):
        raise ValueError(f"a duration cannot be negative; write {DURATION_FORMS}")
    return duration


SettingDuration = Annotated[timedelta, BeforeValidator(_setting_duration)]


class Settings(BaseSettings):
    # An empty variable is an unset one: docker-compose.yml passes `${GRIDJOURNEY_X:-}` for optional ones.
    model_config = SettingsConfigDict(
        env_prefix="GRIDJOURNEY_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    home: Path = Field(Path(".gridjourney"), description="Data folder of the embedded stack.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+psycopg://...). Unset: the embedded Postgres."
    )
    temporal_address: str | None = Field(None, description="host:port of Temporal. Unset: embedded.")
    temporal_namespace: str = "default"
    task_queue: str = "gridjourney"
    send_task_queue: str = "gridjourney-send"
    send_rate_per_second: float = Field(
        50.0, description="Provider calls per second across all workers (send task queue limit)."
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    sms_standin_port: int = 8089

    twilio_account_sid: str = "ACdev00000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("dev-auth-token")
    twilio_base_url: str | None = Field(
        None, description="Base URL of the Twilio API. Unset: the local stand-in of the embedded stack."
    )

    # --- sending (channels/, activities/send.py, api/routes/webhooks): providers and their stand-ins
    public_base_url: str | None = Field(
        None,
        description="The API's public URL, as providers call it: Twilio signs requests to it, status "
        "callbacks and unsubscribe links point at it. Unset: http://<api_host>:<api_port> (127.0.0.1 "
        "for a wildcard api_host such as 0.0.0.0, which no provider can call).",
    )

    @field_validator("public_base_url")
    @classmethod
    def _callable_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("write the API's URL as providers call it, e.g. https://gridjourney.example")
        if url.hostname in WILDCARD_HOSTS:
            raise ValueError(
                f"{url.hostname} is an address to listen on, not one to call: write the API's URL as "
                "providers call it, e.g. https://gridjourney.example"
            )
        return value.strip()

    policy_file: Path = Field(Path("policy.yaml"), description="The compliance policy (policy/).")
    tariffs_file: Path = Field(Path("tariffs.yaml"), description="Tariffs rate coaching compares (tariffs/).")
    sendgrid_api_key: SecretStr = SecretStr("SG.dev-key")
    sendgrid_base_url: str | None = Field(
        None, description="Base URL of the SendGrid API. Unset: the local stand-in of the embedded stack."
    )
    sendgrid_webhook_public_key: str | None = Field(
        None,
        description="SendGrid's Event Webhook verification key (base64 DER ECDSA public key). Unset with "
        "the embedded stack: the stand-in's key under `home`.",
    )
    email_standin_port: int = 8090
    push_standin_port: int = 8091
    push_local_endpoints: bool = Field(
        False,
        description="Allow push endpoints on this machine or a private network: the embedded stack's "
        "stand-in. Off, the API refuses push subscriptions whose host is, or resolves to, a loopback, "
        "private, link-local, multicast or reserved address, and the sender does not connect to one.",
    )
    push_subscriptions_per_customer: int = Field(
        DEFAULT_PUSH_SUBSCRIPTIONS_PER_CUSTOMER,
        ge=1,
        le=100,
        description="Push subscriptions (browsers) one customer keeps: a new one beyond it replaces the "
        "oldest, and a message goes to at most this many.",
    )
    vapid_private_key: SecretStr | None = Field(
        None,
        description="Web Push VAPID private key (base64url raw P-256). Unset: generated once under `home`.",
    )
    webhook_max_age: SettingDuration = Field(
        timedelta(minutes=10),
        gt=timedelta(0),  # 0 would refuse every webhook as a replay
        description="Signed webhook requests older than this are refused as replays.",
    )
    send_claim_lease: SettingDuration = Field(
        timedelta(seconds=60),
        gt=timedelta(0),  # 0: every claim lapsed at once, so another worker could send it again
        description="How long a claimed send is presumed in flight without a heartbeat renewing it.",
    )
    worker_shutdown_grace: SettingDuration = Field(
        timedelta(seconds=25),
        description=(
            "How long a stopping `gridjourney worker` lets its running activities finish before it "
            "cancels them: a send cut mid-call leaves its ledger row in doubt until it is looked up. "
            "Keep it under the orchestrator's stop timeout (docker-compose.yml gives the worker 30 s)."
        ),
    )
    send_look_up_after: SettingDuration = Field(
        timedelta(seconds=30),
        description=(
            "How long a send whose provider call may have succeeded (a timeout, a dropped "
            "connection) is left alone before it is looked up at the provider: longer than any "
            "provider call lasts, since a provider may take a request after the client gave up."
        ),
    )

    scoring_schedule: bool = Field(
        True, description="Workers create the Temporal Schedule `daily-scoring` (the daily scan)."
    )

    journeys_dir: Path = Path("journeys")
    templates_dir: Path = Path("templates")
    events_dir: Path = Field(Path("events"), description="Declared event types (events/declared.py).")
    customer_attributes_file: Path = Field(
        Path("customer_attributes.yaml"), description="Declared customer attributes (dsl/vocabulary.py)."
    )
    max_event_body_bytes: int = 1_000_000
    max_events_per_batch: int = 1_000

    # --- what the doors accept (api/, events/types.py)
    locales: list[str] = Field(
        ["en", "es"], description="Message languages a customer may have (templates exist for each)."
    )
    occurred_at_max_future: SettingDuration = Field(
        timedelta(days=1), description="How far ahead of now an event's occurred_at may lie."
    )
    occurred_at_max_past: SettingDuration = Field(
        timedelta(days=3650), description="How far back an event's occurred_at may lie."
    )

    # --- purpose governance (dsl/event_type_checks.py for safety triggers, dsl/template_checks.py
    # for templates)
    safety_event_types: list[str] = Field(
        ["outage.*"],
        description="Event types (glob patterns) that may trigger a journey with purpose `safety`.",
    )

    # --- personal data (privacy/): Temporal payloads and personal event fields are encrypted
    encryption_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Key id -> base64 of a 32-byte AES key, as JSON: {"2026-11": "..."}. Old ids stay '
        "listed so that what they encrypted can be read. Unset with the embedded Postgres: a key is "
        "generated once under `home`; unset with a configured database: api and worker refuse to start.",
    )
    encryption_key_id: str | None = Field(
        None, description="The key id new data is encrypted with (may be omitted when only one key is set)."
    )
    codec_server_port: int = Field(8234, description="Port of `gridjourney codec-server`.")
    codec_server_cors_origins: list[str] = Field(
        ["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Origins (the Temporal UI) allowed to call the codec server from a browser.",
    )
    # --- observability (gridjourney/observability, gridjourney/logs.py) ---------------------------
    metrics_port: int | None = Field(
        None,
        description="Port of the Prometheus /metrics endpoint of `gridjourney worker` and `gridjourney "
        "router` (the API serves GET /metrics on its own port). Unset: none.",
    )
    metrics_host: str = Field("127.0.0.1", description="Address the workers' /metrics endpoint binds.")
    temporal_metrics_port: int | None = Field(
        None,
        description="Port where the Temporal SDK's runtime serves its own Prometheus metrics (workflow "
        "and activity task latencies, polls, schedules) on metrics_host. Unset: not exported.",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP endpoint traces are exported to, e.g. http://otel-collector:4318. Unset: "
        "the standard OTEL_EXPORTER_OTLP_ENDPOINT if set, else no tracing.",
    )
    api_key_rate_per_second: float | None = Field(
        1000.0,
        gt=0,
        description="Write requests (POST /v1/events and other `events:write` operations; a batch is one "
        "request) per second one API key may make, per API process, unless the key has its own rate "
        "(`keys create --rate`); bursts of one second's worth. Beyond it: 429 with Retry-After. Unset: "
        "no limit.",
    )
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Seconds an API process trusts a key it has read (api/key_cache.py): a revocation, a "
        "rotation's end or a changed rate takes effect within this time. 0: read the key on every request.",
    )
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes `gridjourney api` serves with (uvicorn workers sharing the port); rate "
        "limits and the key cache are per process.",
    )
    log_level: str | None = Field(
        None,
        description="Level of the JSON-lines log (DEBUG, INFO, WARNING, ...). Unset: each command's own.",
    )

    # --- resilience (events/subscription.py, router/, api/routes/health.py)
    router_projections_wait: float = Field(
        30.0,
        description="Seconds the router waits for the projections to reach an event, then routes it anyway.",
    )
    router_election_interval: float = Field(
        1.0, description="Seconds between a standby router's attempts to take the leadership."
    )
    health_max_lag_positions: int = Field(
        1000, description="/healthz is degraded when a subscription is more events than this behind."
    )
    health_max_lag_seconds: float = Field(
        120.0, description="/healthz is degraded when a subscription's oldest unhandled event is older."
    )

    # --- cohort runs (workflows/cohort.py) ---------------------------------------------------------
    cohort_batch_size: int = Field(500, ge=1, le=10_000, description="Members per cohort batch activity.")
    cohort_concurrency: int = Field(
        8, ge=1, le=200, description="Batch activities one cohort step runs at once."
    )
    sms_rate_per_second: float | None = Field(
        None, gt=0, description="Texts per second across all send workers (Twilio's limit). Unset: none."
    )
    email_rate_per_second: float | None = Field(
        None, gt=0, description="Emails per second across all send workers. Unset: none."
    )
    push_rate_per_second: float | None = Field(
        None, gt=0, description="Push notifications per second across all send workers. Unset: none."
    )
    sms_concurrency: int = Field(
        32, ge=1, le=1_000, description="Twilio requests one cohort batch has in flight at once."
    )
    holiday_calendar: str = Field(
        US,
        description="Public holidays that are never DR like days, for a DR event whose run names no "
        "`holiday_calendar` of its own: a country code with an optional subdivision (US, GB-ENG, CA-ON).",
    )

    @field_validator("holiday_calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        return check_calendar(value)

    # --- weather (gridjourney/weather): degree-days for scoring --------------------------------------
    weather_stations: dict[str, str] = Field(
        default_factory=lambda: dict(SIMULATOR_STATIONS),
        description="Time zone or region -> weather station whose daily means stand for it, as JSON: "
        '{"Europe/London": "UKM00003772", "America/Chicago": "USW00094846"}. Default: the simulator\'s '
        "five zones and its stations (gridjourney/weather/stations.py).",
    )

    @field_validator("weather_stations")
    @classmethod
    def _known_stations(cls, value: dict[str, str]) -> dict[str, str]:
        return check_stations(value)

    # --- power outages (gridjourney/incidents) -----------------------------------------------------
    outage_dedup_window: SettingDuration = Field(
        timedelta(minutes=30),
        description="Incidents on the same transformer or feeder detected within this are one incident.",
    )

    # --- OpenADR 2.0b VEN (gridjourney/openadr) ----------------------------------------------------
    vtn_url: str | None = Field(
        None,
        description="The VTN's OpenADR endpoint, e.g. https://vtn.example/OpenADR2/Simple/2.0b. "
        "Unset: no VEN.",
    )
    ven_name: str = Field("gridjourney", description="This VEN's name at the VTN.")
    ven_poll_interval: SettingDuration = Field(
        timedelta(seconds=10), gt=timedelta(0), description="How often the VEN polls the VTN."
    )
    ven_cert: Path | None = Field(
        None, description="The VEN's TLS certificate (PEM); optional for a local VTN."
    )
    ven_key: Path | None = Field(None, description="The VEN's TLS private key (PEM).")
    vtn_ca_file: Path | None = Field(None, description="The CA that signed the VTN's certificate.")
    local_vtn: bool = Field(
        False,
        description="The embedded stack runs a local OpenADR VTN (openleadr) for the demo, "
        "and the VEN polls it.",
    )
    local_vtn_port: int = 8092


@lru_cache
def get_settings() -> Settings:
    return Settings()


def public_base_url(settings: Settings) -> str:
    """The URL providers reach the API at (no trailing slash). Unset with a configured database (a
    deployment, not the embedded stack): a warning, once, since providers cannot call the fallback."""
    if settings.public_base_url is not None:
        return settings.public_base_url.rstrip("/")
    host = "127.0.0.1" if settings.api_host in WILDCARD_HOSTS else settings.api_host
    fallback = f"http://{host}:{settings.api_port}"
    if settings.database_url is not None:
        _warn_unset_public_url(fallback)
    return fallback


@lru_cache
def _warn_unset_public_url(fallback: str) -> None:
    logging.getLogger(__name__).warning(
        "GRIDJOURNEY_PUBLIC_BASE_URL is unset: Twilio signatures are checked against %s and status "
        "callbacks and unsubscribe links point at it; set it to the URL providers call the API at",
        fallback,
    )
