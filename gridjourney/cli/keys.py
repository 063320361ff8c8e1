"""`gridjourney keys create|list|rotate|revoke`: API keys for integrations and operators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import (
    SCOPES,
    ApiKeyInfo,
    create_key,
    list_keys,
    revoke_key,
    rotate_key,
    validate_name,
    validate_rate,
    validate_scopes,
)
from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url

keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(operation: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=1)
        try:
            return await operation(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key, e.g. billing-integration.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"Repeat for several: {', '.join(SCOPES)} (admin implies all)."),
    ],
    expires_in_days: Annotated[
        float | None,
        typer.Option(
            "--expires-in-days",
            max=36_500.0,
            help="The key stops working after this many days, fractions allowed (0.5: 12 hours); more "
            "than 0, at most 100 years.",
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help="Write requests per second for this key, a batch counting as one: 0.01 (one every "
            "100 s) to 100000 (default: the configured rate).",
        ),
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    try:
        validate_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    try:
        validate_scopes(scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from None
    try:
        validate_rate(rate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rate") from None
    if expires_in_days is not None and not expires_in_days > 0:  # 0 would make a key dead on arrival
        raise typer.BadParameter(
            f"{expires_in_days:g} is not more than 0 days (leave it out for a key that never expires)",
            param_hint="--expires-in-days",
        )
    expires_at = None if expires_in_days is None else datetime.now(UTC) + timedelta(days=expires_in_days)
    key_id, key = _run(
        lambda engine: create_key(engine, name, scope, expires_at=expires_at, rate_per_second=rate)
    )
    console.print(f"created key [bold]{key_id}[/] ({name}; scopes: {', '.join(sorted(set(scope)))})")
    _print_once(key)


def _print_once(key: str) -> None:
    console.print("Store it now; it cannot be shown again:", style="yellow")
    print(key)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""  # a space to fold at


def _ends(info: ApiKeyInfo, now: datetime) -> str:
    """When the key stops (stopped) working, and why: a revocation wins over an expiry."""
    if info.revoked_at is not None:
        return f"revoked {_when(info.revoked_at)}"
    if info.expires_at is not None:
        return f"{'expired' if info.expires_at <= now else 'expires'} {_when(info.expires_at)}"
    return ""


@keys_app.command("list")
def list_() -> None:
    """List keys (never their secrets), with each one's rate of write requests."""
    keys = _run(list_keys)
    if not keys:
        console.print("no API keys yet: gridjourney keys create --name NAME --scope SCOPE")
        return
    # Fixed widths but the name's, one space between columns and none at the edges, so that rich never
    # drops a column: at 80 columns the dates fold (date, then time) and the name takes what is left.
    # The key id is what `keys revoke` takes: whole on one line at any width; a scope is never split.
    key_width = max(len(info.key_id) for info in keys)
    scopes_width = max(len(scope) for scope in SCOPES)
    rates = ["default" if info.rate_per_second is None else f"{info.rate_per_second:g}" for info in keys]
    rate_width = max(len(rate) for rate in rates)
    left = console.width - key_width - scopes_width - rate_width - 7  # 7 separators
    wide = left - (16 + 16 + 24) >= 12  # the dates on one line and a name of 12 or more
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    table.add_column("key id", no_wrap=True, width=key_width)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("scopes", width=scopes_width)
    for moment, width in (("created", 16), ("last used", 16), ("ends", 24)):
        table.add_column(moment, overflow="fold", width=width if wide else 10)
    table.add_column("rate/s", justify="right", no_wrap=True, width=rate_width)
    now = datetime.now(UTC)
    for info, rate in zip(keys, rates, strict=True):
        row = (_when(info.created_at), _when(info.last_used_at), _ends(info, now), rate)
        table.add_row(info.key_id, info.name, " ".join(info.scopes), *row)
    console.print(table)
    default = get_settings().api_key_rate_per_second
    console.print("rate/s: a key's write requests per second (a batch is one), per API process")
    shown = "(unset: no limit)" if default is None else f"{default:g}"
    console.print(f"default: GRIDJOURNEY_API_KEY_RATE_PER_SECOND={shown}")


@keys_app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after gj_).")],
    grace_minutes: Annotated[
        float,
        typer.Option(
            "--grace-minutes",
            min=0.0,
            max=43_200.0,
            help="The old key keeps working this long (0: stops now; at most 30 days).",
        ),
    ] = 0.0,
) -> None:
    """Replace a key by a new one with the same name, scopes, expiry and rate; print the new key once."""

    async def rotate_and_read(engine: AsyncEngine) -> tuple[str, str, ApiKeyInfo, ApiKeyInfo] | None:
        rotated = await rotate_key(engine, key_id, timedelta(minutes=grace_minutes))
        if rotated is None:
            return None
        keys = {info.key_id: info for info in await list_keys(engine)}
        return rotated[0], rotated[1], keys[key_id], keys[rotated[0]]

    done = _run(rotate_and_read)
    if done is None:
        console.print(f"no active key {key_id!r}", style="red")
        raise typer.Exit(1)
    new_id, key, old, successor = done
    ends = _rotated_ends(old, successor, grace_minutes)
    # soft_wrap: one line whatever the terminal (under CI, 80 columns), as scripts read it
    console.print(f"rotated {key_id} to [bold]{new_id}[/]; the old key stops {ends}", soft_wrap=True)
    _print_once(key)


def _rotated_ends(old: ApiKeyInfo, successor: ApiKeyInfo, grace_minutes: float) -> str:
    """When the rotated key stops, as stored: now, after the grace asked, or at its own expiry when
    that comes sooner (the successor keeps the expiry the old key had)."""
    if old.revoked_at is not None or old.expires_at is None:
        return "now"
    at = f"{old.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if old.expires_at == successor.expires_at:
        return f"at its own expiry, {at}, sooner than the {grace_minutes:g} minutes asked"
    return f"in {grace_minutes:g} minute{'' if grace_minutes == 1 else 's'}, at {at}"


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after gj_).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    if not _run(lambda engine: revoke_key(engine, key_id)):
        console.print(f"no active key {key_id!r}", style="red")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
