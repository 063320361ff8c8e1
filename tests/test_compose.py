"""docker-compose.yml runs what exists: every `gridjourney ...` command it names parses against the
real CLI, every GRIDJOURNEY_* variable is a setting, and the one-shot steps (migrate, then publish) run
before the long-running services. Docker itself is not needed: the file is read as YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from gridjourney.cli import app
from gridjourney.config import Settings, public_base_url

REPO = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PREFIX = "GRIDJOURNEY_"
ONE_SHOT = ("migrate", "publish")
LONG_RUNNING = ("api", "worker", "router")


def _commands() -> dict[str, list[str]]:
    """Service → its gridjourney arguments (after the program name)."""
    found = {}
    for name, service in SERVICES.items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "gridjourney":
            found[name] = [str(arg) for arg in command[1:]]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # the `- NAME=value` form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def _resolve(args: list[str]) -> tuple[list[str], TyperCommand, list[str]]:
    """(the command path, the command, its own arguments) of a gridjourney invocation."""
    command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while isinstance(command, TyperGroup) and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    assert isinstance(command, TyperCommand), f"`gridjourney {' '.join(args)}` names no command"
    return path, command, rest


def test_the_compose_file_runs_gridjourney_commands() -> None:
    assert set(_commands()) == {*ONE_SHOT, *LONG_RUNNING, "codec-server", "standins"}


@pytest.mark.parametrize(("service", "args"), sorted(_commands().items()))
def test_every_command_exists_and_its_arguments_parse(service: str, args: list[str]) -> None:
    path, command, rest = _resolve(args)
    helped = CliRunner().invoke(app, [*path, "--help"])
    assert helped.exit_code == 0, f"{service}: {helped.output}"
    # Parsing without running: unknown options or missing arguments raise here.
    with command.make_context(" ".join(["gridjourney", *path]), list(rest)):
        pass
    for arg in rest:  # paths are relative to the image's WORKDIR, a copy of the repository
        if arg.endswith("/"):
            assert (REPO / arg).is_dir(), f"{service}: {arg} is not in the repository"
            assert re.search(rf"^COPY {arg.rstrip('/')} ", (REPO / "Dockerfile").read_text(), re.M), arg


def test_every_gridjourney_variable_is_a_setting() -> None:
    for name, service in SERVICES.items():
        for variable, value in _environment(service).items():
            if not variable.startswith(PREFIX):
                continue
            field = variable.removeprefix(PREFIX).lower()
            assert field in Settings.model_fields, (
                f"{name}: {variable} is not a setting (gridjourney/config.py)"
            )
            if "${" not in value:  # literal values must be valid too
                Settings.model_validate({field: value})


def test_migrate_then_publish_run_once_before_the_long_running_services() -> None:
    for name in ONE_SHOT:
        assert SERVICES[name].get("restart") == "no"
    assert SERVICES["publish"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for name in LONG_RUNNING:
        depends_on = SERVICES[name]["depends_on"]
        for step in ONE_SHOT:
            assert depends_on[step] == {"condition": "service_completed_successfully"}, (name, step)
    codec_server = SERVICES["codec-server"]["depends_on"]  # it reads API keys: after the migration
    assert codec_server["migrate"] == {"condition": "service_completed_successfully"}
    assert _commands()["migrate"] == ["db", "upgrade"]
    assert _commands()["publish"] == ["journeys", "publish", "journeys/"]


def test_routers_stand_by_for_each_other_and_workers_do_not_route() -> None:
    assert SERVICES["router"]["deploy"]["replicas"] >= 2
    assert _commands()["router"] == ["router"] and _commands()["worker"] == ["worker"]


def _mounts(service: str) -> dict[str, str]:
    """Host path (in the repository) -> path in the container, of a service's file mounts."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            found[source.removeprefix("./")] = target
    return found


def test_prometheus_and_grafana_get_the_repository_s_configuration() -> None:
    for service in ("prometheus", "grafana"):
        for source in _mounts(service):
            assert (REPO / source).exists(), f"{service}: {source} is not in the repository"
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    assert set(prometheus["rule_files"]) <= set(_mounts("prometheus").values())
    assert "./deploy/grafana/gridjourney.json" in [
        str(v).split(":")[0] for v in SERVICES["grafana"]["volumes"]
    ]
    # Prometheus scrapes the ports the processes serve their metrics on
    environment = _environment(SERVICES["worker"])
    ports = {
        job["job_name"]: config["port"]
        for job in prometheus["scrape_configs"]
        for config in job.get("dns_sd_configs", [])
    }
    assert ports["gridjourney-workers"] == int(environment["GRIDJOURNEY_METRICS_PORT"])
    assert ports["temporal-sdk"] == int(environment["GRIDJOURNEY_TEMPORAL_METRICS_PORT"])
    api_targets = [
        target
        for job in prometheus["scrape_configs"]
        for c in job.get("static_configs", [])
        for target in c["targets"]
    ]
    assert f"api:{Settings().api_port}" in api_targets


def test_the_provider_stand_ins_run_only_in_staging() -> None:
    assert SERVICES["standins"]["profiles"] == ["staging"]
    assert all(
        "profiles" not in SERVICES[name] for name in (*ONE_SHOT, *LONG_RUNNING, "prometheus", "grafana")
    )


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<word>[^}]*))?\}")


def _interpolated(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`."""

    def replace(found: re.Match[str]) -> str:
        name, op, word = found["name"], found["op"], found["word"] or ""
        given = variables.get(name)
        missing = given is None or (given == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and missing:
            raise ValueError(f"{name}: {word}")
        if op is not None and op.endswith("-") and missing:
            return word
        return given or ""

    return _VARIABLE.sub(replace, value)


def _settings_of(service: str, variables: dict[str, str]) -> Settings:
    """The settings the service's processes read, as compose and gridjourney/config.py would (an empty
    variable is an unset setting)."""
    fields = {}
    for variable, value in _environment(SERVICES[service]).items():
        given = _interpolated(value, variables)
        if variable.startswith(PREFIX) and given != "":
            # a mapping or list setting is JSON in the environment (pydantic-settings decodes it)
            fields[variable.removeprefix(PREFIX).lower()] = json.loads(given) if given[0] in "{[" else given
    return Settings.model_validate(fields)


def _env_file(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


ENCRYPTION = {"GRIDJOURNEY_ENCRYPTION_KEYS": '{"2026-11": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}'}
PRODUCTION = {
    **ENCRYPTION,
    "GRIDJOURNEY_PUBLIC_BASE_URL": "https://gridjourney.example",
    "GRIDJOURNEY_TWILIO_ACCOUNT_SID": "AC0123",
    "GRIDJOURNEY_TWILIO_AUTH_TOKEN": "token",
}
GRIDJOURNEY_PROCESSES = (*LONG_RUNNING, "codec-server")


def test_the_home_is_one_shared_volume_the_image_s_user_owns() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    [home] = re.findall(r"^ENV GRIDJOURNEY_HOME=(\S+)$", dockerfile, re.M)
    [user] = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    setup = dockerfile[: dockerfile.index(f"USER {user}")]  # done as root, before the switch
    assert re.search(rf"mkdir -p {home}\b", setup) and re.search(rf"chown {user}:{user} {home}\b", setup)
    mounts = {name: [str(v) for v in SERVICES[name].get("volumes", [])] for name in _commands()}
    for name in (*GRIDJOURNEY_PROCESSES, "standins"):  # each may write a generated key there
        [volume] = [mount.split(":")[0] for mount in mounts[name] if mount.split(":")[1] == home]
        assert volume == "gridjourney-home" and volume in COMPOSE["volumes"], name


def test_every_process_gets_the_providers_settings() -> None:
    passed = {
        "GRIDJOURNEY_PUBLIC_BASE_URL",
        "GRIDJOURNEY_VAPID_PRIVATE_KEY",
        "GRIDJOURNEY_SENDGRID_API_KEY",
        "GRIDJOURNEY_SENDGRID_WEBHOOK_PUBLIC_KEY",
        "GRIDJOURNEY_TWILIO_ACCOUNT_SID",
        "GRIDJOURNEY_TWILIO_AUTH_TOKEN",
        "GRIDJOURNEY_TWILIO_BASE_URL",
        "GRIDJOURNEY_SENDGRID_BASE_URL",
    }
    for name in GRIDJOURNEY_PROCESSES:
        assert passed <= set(_environment(SERVICES[name])), name
    settings = _settings_of("api", PRODUCTION)
    assert public_base_url(settings) == "https://gridjourney.example"
    assert settings.twilio_base_url == "https://api.twilio.com" and settings.vapid_private_key is None
    assert settings.twilio_auth_token.get_secret_value() == "token"


@pytest.mark.parametrize(
    "required",
    ["GRIDJOURNEY_PUBLIC_BASE_URL", "GRIDJOURNEY_TWILIO_AUTH_TOKEN", "GRIDJOURNEY_ENCRYPTION_KEYS"],
)
def test_production_refuses_to_start_without_a_required_setting(required: str) -> None:
    for left_out in ({}, {required: ""}):
        with pytest.raises(ValueError, match=f"^{required}: set {required}"):
            _settings_of("api", {**{k: v for k, v in PRODUCTION.items() if k != required}, **left_out})


def test_the_staging_env_file_points_the_providers_at_the_stand_ins() -> None:
    staging = {**_env_file(REPO / "deploy/compose/staging.env"), **ENCRYPTION}
    published = {int(str(port).split(":")[1]) for port in SERVICES["standins"]["ports"]}
    stand_ins = _settings_of("standins", staging)
    for name in GRIDJOURNEY_PROCESSES:
        settings = _settings_of(name, staging)
        for base_url in (settings.twilio_base_url, settings.sendgrid_base_url):
            url = urlsplit(base_url or "")
            assert url.hostname == "standins" and url.port in published, (name, base_url)
        # Twilio's stand-in signs with the credentials the API checks, to the URL the API knows as its own
        assert settings.twilio_account_sid == stand_ins.twilio_account_sid
        assert settings.twilio_auth_token == stand_ins.twilio_auth_token
        url = urlsplit(public_base_url(settings))
        assert (url.hostname, url.port) == ("api", settings.api_port)
        assert public_base_url(settings) == public_base_url(stand_ins)
        # unset: the API verifies SendGrid's events with the stand-in's key in the shared home
        assert settings.sendgrid_webhook_public_key is None
        assert settings.push_local_endpoints  # the push stand-in is on compose's private network


def _pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text()
    return {
        name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", text, re.M)
    }


def test_the_image_installs_the_development_pins_without_the_development_tools() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"--require-hashes -r requirements-prod\.lock", dockerfile)
    development, production = _pins("requirements.lock"), _pins("requirements-prod.lock")
    assert {name: development.get(name) for name in production} == production
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "schemathesis"):
        assert tool in development and tool not in production, tool
