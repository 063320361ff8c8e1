"""docker-compose.yml runs what exists: every `gridjourney ...` command it names parses against the
real CLI, every GRIDJOURNEY_* variable is a setting, and the one-shot steps (migrate, then publish) run
before the long-running services. Docker itself is not needed: the file is read as YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from gridjourney.cli import app
from gridjourney.config import Settings

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
