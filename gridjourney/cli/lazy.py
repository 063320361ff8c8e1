"""Subcommands imported only when they run.

Each command module imports what its commands need (pandas, alembic, scikit-learn, Temporal's
client...), and importing all of them took seconds before any command started. The top-level group
holds a stand-in per subcommand instead: it carries the name and help line that `gridjourney --help`
lists, and imports its module only when the subcommand is parsed (run, or asked for its own help).
tests/cli/test_lazy.py checks that each stand-in's help line is its command's.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand is defined: a Typer app (a command group) or a command function."""

    module: str
    attribute: str
    help: str

    def load(self, name: str) -> TyperCommand | TyperGroup:
        """The command Typer builds from the definition, as `add_typer`/`command` would."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        parent = typer.Typer(add_completion=False)
        if isinstance(target, typer.Typer):
            parent.add_typer(target, name=name)
        else:
            parent.command(name=name)(target)
        command = typer.main.get_group(parent).commands[name]
        assert isinstance(command, TyperCommand | TyperGroup)
        return command


class LazySubcommand(TyperCommand):
    """Stands for a subcommand in the group: its name and help line, nothing imported."""

    def __init__(self, name: str, subcommand: Subcommand) -> None:
        super().__init__(name, help=subcommand.help)
        self.subcommand = subcommand
        self._loaded: TyperCommand | TyperGroup | None = None

    def load(self) -> TyperCommand | TyperGroup:
        if self._loaded is None:
            assert self.name is not None
            self._loaded = self.subcommand.load(self.name)
        return self._loaded

    # Any: the context types are those of the click Typer vendors (typer._click), private to it.
    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        # The group invokes `sub_ctx.command`, so the real command parses and runs from here on.
        return self.load().make_context(info_name, args, parent=parent, **extra)


def lazy_group(subcommands: dict[str, Subcommand]) -> type[TyperGroup]:
    """A group class (for `typer.Typer(cls=...)`) that holds a stand-in for each of `subcommands`."""

    class LazyGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            for name, subcommand in subcommands.items():
                self.add_command(LazySubcommand(name, subcommand), name)

    return LazyGroup
