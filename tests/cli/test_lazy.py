"""`gridjourney`'s subcommands are imported when they run (gridjourney/cli/lazy.py): the stand-ins
`--help` lists must say what the commands say, and a command must not pay for the others' imports."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import typer
from typer.testing import CliRunner

import gridjourney.cli
from gridjourney.cli import SUBCOMMANDS, app
from gridjourney.cli.lazy import LazySubcommand

runner = CliRunner()

# Imported by some commands only, each costing from a few tenths of a second to seconds at start.
HEAVY = ("pandas", "sklearn", "alembic", "opentelemetry.sdk", "temporalio.client", "sqlalchemy")


def _first_paragraph(text: str | None) -> str:
    return " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())


def test_each_stand_in_has_its_commands_help_line() -> None:
    for name, subcommand in SUBCOMMANDS.items():
        loaded = LazySubcommand(name, subcommand).load()
        assert loaded.name == name
        assert _first_paragraph(loaded.help) == _first_paragraph(subcommand.help), name


def test_every_command_group_of_the_cli_package_is_listed() -> None:
    listed = {(subcommand.module, subcommand.attribute) for subcommand in SUBCOMMANDS.values()}
    for module_info in pkgutil.iter_modules(gridjourney.cli.__path__, "gridjourney.cli."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if isinstance(value, typer.Typer) and module is not gridjourney.cli:
                assert (module_info.name, attribute) in listed, f"{module_info.name}.{attribute}"


def test_help_lists_every_command_and_runs_one() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    rows = {line.strip("│ ").split(" ", 1)[0] for line in result.output.splitlines()}
    assert set(SUBCOMMANDS) <= rows
    result = runner.invoke(app, ["policy", "--help"])
    assert result.exit_code == 0 and "validate" in result.output
    result = runner.invoke(app, ["keyz", "list"])
    assert result.exit_code == 2 and "Did you mean 'keys'?" in result.output


def _imported_after(*commands: list[str]) -> list[set[str]]:
    """The heavy modules one fresh interpreter has imported after running each command in turn."""
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from gridjourney.cli import app\n"
        f"for args in {list(commands)!r}:\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        f"    print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return [set(json.loads(line)) for line in done.stdout.splitlines()]


def test_a_command_imports_only_what_it_uses() -> None:
    imported = _imported_after(["--help"], ["policy", "--help"], ["sends", "--help"], ["db", "--help"])
    assert imported[0] == set() and imported[1] == set()
    # The ledger's commands read Postgres: neither pandas nor the models nor the migrations.
    assert "sqlalchemy" in imported[2] and not imported[2] & {"pandas", "sklearn", "alembic"}
    assert "alembic" in imported[3] and "pandas" not in imported[3]
