"""`gridjourney policy validate|schema`: check the compliance policy file, and print its JSON Schema
(for editors, and for checking the file with any JSON Schema validator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridjourney.config import get_settings
from gridjourney.policy.loader import PolicyErrors, load_policy
from gridjourney.policy.model import Policy

policy_app = typer.Typer(
    help="Validate and inspect the compliance policy (policy.yaml).", no_args_is_help=True
)


@policy_app.command()
def validate(
    file: Annotated[
        Path | None, typer.Argument(help="The policy file (default: GRIDJOURNEY_POLICY_FILE, policy.yaml).")
    ] = None,
) -> None:
    """Check a policy file: YAML, schema, windows, purposes, caps, senders.

    Every problem is printed as file:line:column: message (hint: ...). Exit status 1 on any error.
    """
    path = file if file is not None else get_settings().policy_file
    try:
        policy = load_policy(path)
    except PolicyErrors as errors:
        for error in errors.errors:
            typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}: OK ({summary(policy)})")


def summary(policy: Policy) -> str:
    """E.g. `default zone America/Chicago; marketing 08:00-21:00, 3 caps; ...; safety exempt from ...`."""
    parts = [f"default zone {policy.default_time_zone}"]
    for purpose, rules in policy.purposes.items():
        hours = ", ".join(str(w) for w in rules.sending_hours)
        if "quiet_hours" in rules.exempt_from:
            hours = "any hour"
        count = len(rules.caps)
        caps = f"{count} cap{'' if count == 1 else 's'}"
        if "frequency_caps" in rules.exempt_from:
            caps = "never capped"
        parts.append(f"{purpose}: {rules.consent}, {hours}, {caps}")
    return "; ".join(parts)


def policy_schema() -> dict[str, Any]:
    document = Policy.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "gridjourney compliance policy"
    return document


@policy_app.command()
def schema() -> None:
    """Print the JSON Schema of the policy file (point your editor's YAML support at it)."""
    typer.echo(json.dumps(policy_schema(), indent=2))
