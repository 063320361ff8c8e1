"""Published journey versions: immutable rows of `journey_versions`. All SQL about journeys is here.

Publishing validates and compiles the YAML, then stores it as version max+1 unless a version with
the same content hash exists (then that version is returned and nothing is written; this holds for
an older version too, since (journey_id, content_hash) is unique: re-publishing an earlier text
gives back that earlier version). Concurrent publishes of one journey are serialised by a
transaction-scoped advisory lock.

Publishing also pins the templates the journey sends (content/pinning.py says which): their sources
are stored once per sha256 in `template_sources` and the version's paths in
`journey_version_templates`, written with the version. The content hash covers them, so a template
edit publishes a new version, and a send renders from its run's version's pinned sources
(`pinned_templates`). A version without pinned templates (published before pinning, or without a
templates folder) renders from the folder.

A journey may be retired (journey_retirements): no new runs start on it until it is reinstated, a new
version published meanwhile included (retirement belongs to the journey, not to a version). Runs
already going carry on. `all_latest` is what new runs start on; `latest_with_retired` adds the retired
journeys, whose running runs the router still signals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.content.pinned import PinnedTemplates, source_sha256
from gridjourney.content.pinning import pin_templates
from gridjourney.db.tables import (
    journey_retirements,
    journey_version_templates,
    journey_versions,
    template_sources,
)
from gridjourney.dsl.compiler import check_journey, definition_hash, successors
from gridjourney.dsl.loader import JourneyErrors, LoadedJourney, load_journey_with_positions
from gridjourney.dsl.schema import CompiledJourney


@dataclass(frozen=True)
class TemplateChanges:
    """How a new version's pinned templates differ from the version before it (paths, sorted)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class PublishResult:
    journey_id: str
    version: int
    content_hash: str
    created: bool
    templates: TemplateChanges = field(default_factory=TemplateChanges)
    """Against the latest version before it; empty when nothing was stored."""


@dataclass(frozen=True)
class PinnedTemplate:
    path: str
    sha256: str


@dataclass(frozen=True)
class VersionInfo:
    journey_id: str
    version: int
    content_hash: str
    published_at: datetime
    name: str | None
    purpose: str
    retired_at: datetime | None = None
    """When the journey (every version of it) was retired; None: active."""

    @property
    def state(self) -> str:
        return "active" if self.retired_at is None else "retired"


@dataclass(frozen=True)
class Retirement:
    journey_id: str
    retired_at: datetime
    retired_by: str


@dataclass(frozen=True)
class LatestJourneys:
    """The latest version of every journey: `active` start new runs, `retired` do not (their running
    runs still hear their events)."""

    active: list[CompiledJourney]
    retired: list[CompiledJourney]


def prepare(
    source_yaml: str,
    filename: str,
    templates_dir: Path | None,
    *,
    safety_event_types: Sequence[str] | None = None,
) -> CompiledJourney:
    """Load, check and compile (version 0 until stored); raises JourneyErrors. No database needed."""
    return compile_loaded(
        load_journey_with_positions(source_yaml, filename),
        templates_dir,
        safety_event_types=safety_event_types,
    )


def compile_loaded(
    loaded: LoadedJourney, templates_dir: Path | None, *, safety_event_types: Sequence[str] | None = None
) -> CompiledJourney:
    """Check and compile a journey already loaded (version 0 until stored); raises JourneyErrors."""
    errors = check_journey(
        loaded.definition, loaded.positions, templates_dir, safety_event_types=safety_event_types
    )
    if errors:
        raise JourneyErrors(errors)
    return CompiledJourney(
        journey_id=loaded.definition.id,
        version=0,
        content_hash=definition_hash(loaded.definition),
        definition=loaded.definition,
        successors=successors(loaded.definition),
    )


def prepare_version(
    loaded: LoadedJourney, templates_dir: Path | None, *, safety_event_types: Sequence[str] | None = None
) -> tuple[CompiledJourney, dict[str, str]]:
    """What publishing stores: the compiled journey and its pinned template sources. Raises
    JourneyErrors."""
    compiled = compile_loaded(loaded, templates_dir, safety_event_types=safety_event_types)
    return compiled, pin_templates(loaded, templates_dir)


def version_hash(definition_digest: str, templates: Mapping[str, str]) -> str:
    """A version's content hash: its definition's, and each pinned template's path and sha256 (none
    pinned: the definition's alone, as before pinning)."""
    if not templates:
        return definition_digest
    lines = [definition_digest, *(f"{path} {source_sha256(templates[path])}" for path in sorted(templates))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


async def publish(
    engine: AsyncEngine,
    source_yaml: str,
    filename: str,
    templates_dir: Path | None,
    *,
    safety_event_types: Sequence[str] | None = None,
) -> PublishResult:
    loaded = load_journey_with_positions(source_yaml, filename)
    compiled, templates = prepare_version(loaded, templates_dir, safety_event_types=safety_event_types)
    return await store(engine, source_yaml, compiled, templates)


async def store(
    engine: AsyncEngine,
    source_yaml: str,
    compiled: CompiledJourney,
    templates: Mapping[str, str] | None = None,
) -> PublishResult:
    """Store a compiled journey as its next version, with its pinned `templates` (path → source),
    unless this content (the definition and the templates) is already stored."""
    journey_id = compiled.journey_id
    templates = templates or {}
    digest = version_hash(compiled.content_hash, templates)
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"journey:{journey_id}"}
        )
        existing = await conn.scalar(
            select(journey_versions.c.version).where(
                journey_versions.c.journey_id == journey_id, journey_versions.c.content_hash == digest
            )
        )
        if existing is not None:
            return PublishResult(journey_id, existing, digest, created=False)
        current = await conn.scalar(
            select(func.max(journey_versions.c.version)).where(journey_versions.c.journey_id == journey_id)
        )
        version = (current or 0) + 1
        stored = compiled.model_copy(update={"version": version, "content_hash": digest})
        await conn.execute(
            journey_versions.insert().values(
                journey_id=journey_id,
                version=version,
                content_hash=digest,
                source_yaml=source_yaml,
                compiled=stored.model_dump(mode="json"),
            )
        )
        pins = {path: source_sha256(source) for path, source in templates.items()}
        before = await _pins(conn, journey_id, current) if current else {}
        await _store_pins(conn, journey_id, version, templates, pins)
    return PublishResult(journey_id, version, digest, created=True, templates=_changes(before, pins))


async def _store_pins(
    conn: Any, journey_id: str, version: int, templates: Mapping[str, str], pins: Mapping[str, str]
) -> None:
    if not pins:
        return
    # A source another version pinned already is stored once (its sha256 is the key).
    await conn.execute(
        insert(template_sources)
        .values([{"sha256": pins[path], "source": templates[path]} for path in sorted(pins)])
        .on_conflict_do_nothing(index_elements=[template_sources.c.sha256])
    )
    await conn.execute(
        journey_version_templates.insert().values(
            [
                {"journey_id": journey_id, "version": version, "path": path, "sha256": pins[path]}
                for path in sorted(pins)
            ]
        )
    )


async def _pins(conn: Any, journey_id: str, version: int) -> dict[str, str]:
    t = journey_version_templates.c
    rows = await conn.execute(
        select(t.path, t.sha256).where(t.journey_id == journey_id, t.version == version).order_by(t.path)
    )
    return {row.path: row.sha256 for row in rows}


def _changes(before: Mapping[str, str], after: Mapping[str, str]) -> TemplateChanges:
    return TemplateChanges(
        added=sorted(after.keys() - before.keys()),
        changed=sorted(path for path in after.keys() & before.keys() if after[path] != before[path]),
        removed=sorted(before.keys() - after.keys()),
    )


async def pinned_templates(engine: AsyncEngine, journey_id: str, version: int) -> dict[str, str]:
    """The template sources `version` pinned, by path ({}: none, it renders from the folder)."""
    t, s = journey_version_templates.c, template_sources.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.path, s.source)
            .join_from(journey_version_templates, template_sources, t.sha256 == s.sha256)
            .where(t.journey_id == journey_id, t.version == version)
        )
        return {row.path: row.source for row in rows}


async def version_templates(engine: AsyncEngine, journey_id: str, version: int) -> PinnedTemplates | None:
    """What `version`'s messages render from (content/render.py accepts it where it takes a folder);
    None: it pinned none, its messages read the templates folder."""
    sources = await pinned_templates(engine, journey_id, version)
    return PinnedTemplates(sources, f"{journey_id} version {version}") if sources else None


async def version_pins(engine: AsyncEngine, journey_id: str) -> dict[int, list[PinnedTemplate]]:
    """Each version's pinned templates (path and sha256, by path); a version without any is absent."""
    t = journey_version_templates.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.version, t.path, t.sha256).where(t.journey_id == journey_id).order_by(t.version, t.path)
        )
        pins: dict[int, list[PinnedTemplate]] = {}
        for row in rows:
            pins.setdefault(row.version, []).append(PinnedTemplate(row.path, row.sha256))
    return pins


def _compiled(row: Any) -> CompiledJourney:
    return CompiledJourney.model_validate(row.compiled)


async def get(engine: AsyncEngine, journey_id: str, version: int) -> CompiledJourney | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(journey_versions.c.compiled).where(
                    journey_versions.c.journey_id == journey_id, journey_versions.c.version == version
                )
            )
        ).first()
    return _compiled(row) if row is not None else None


async def latest(engine: AsyncEngine, journey_id: str) -> CompiledJourney | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(journey_versions.c.compiled)
                .where(journey_versions.c.journey_id == journey_id)
                .order_by(journey_versions.c.version.desc())
                .limit(1)
            )
        ).first()
    return _compiled(row) if row is not None else None


async def get_source(engine: AsyncEngine, journey_id: str, version: int) -> str | None:
    async with engine.connect() as conn:
        result = await conn.scalar(
            select(journey_versions.c.source_yaml).where(
                journey_versions.c.journey_id == journey_id, journey_versions.c.version == version
            )
        )
    return str(result) if result is not None else None


def _with_retirement(query: Any) -> Any:
    return query.add_columns(journey_retirements.c.retired_at).outerjoin(
        journey_retirements, journey_retirements.c.journey_id == journey_versions.c.journey_id
    )


def _latest_rows() -> Any:
    return _with_retirement(
        select(journey_versions)
        .ext(distinct_on(journey_versions.c.journey_id))
        .order_by(journey_versions.c.journey_id, journey_versions.c.version.desc())
    )


def _info(row: Any) -> VersionInfo:
    definition = row.compiled["definition"]
    return VersionInfo(
        journey_id=row.journey_id,
        version=row.version,
        content_hash=row.content_hash,
        published_at=row.published_at,
        name=definition.get("name"),
        purpose=definition["purpose"],
        retired_at=row.retired_at,
    )


async def list_journeys(engine: AsyncEngine) -> list[VersionInfo]:
    """Each published journey's latest version, by journey id."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_latest_rows())).all()
    return [_info(row) for row in rows]


async def list_versions(engine: AsyncEngine, journey_id: str) -> list[VersionInfo]:
    """Every version of one journey, oldest first ([] if it was never published)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                _with_retirement(select(journey_versions))
                .where(journey_versions.c.journey_id == journey_id)
                .order_by(journey_versions.c.version)
            )
        ).all()
    return [_info(row) for row in rows]


async def latest_with_retired(engine: AsyncEngine) -> LatestJourneys:
    """The latest version of every journey, retired ones apart: one query, so the router reading it
    for each batch sees a retirement at its next batch without a query per event."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_latest_rows())).all()
    return LatestJourneys(
        active=[_compiled(row) for row in rows if row.retired_at is None],
        retired=[_compiled(row) for row in rows if row.retired_at is not None],
    )


async def all_latest(engine: AsyncEngine) -> list[CompiledJourney]:
    """The latest version of every journey not retired: what new entries start on."""
    return (await latest_with_retired(engine)).active


async def _published(conn: Any, journey_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(journey_versions.c.journey_id == journey_id))))


async def retirement(engine: AsyncEngine, journey_id: str) -> Retirement | None:
    """The journey's retirement; None while it is active (or was never published)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(journey_retirements).where(journey_retirements.c.journey_id == journey_id)
            )
        ).first()
    return Retirement(row.journey_id, row.retired_at, row.retired_by) if row is not None else None


async def retire(engine: AsyncEngine, journey_id: str, retired_by: str) -> tuple[Retirement, bool] | None:
    """Retire a published journey: (its retirement, whether this call retired it; False: it already
    was, and the first retirement stands). None: no such journey."""
    async with engine.begin() as conn:
        if not await _published(conn, journey_id):
            return None
        inserted = (
            await conn.execute(
                insert(journey_retirements)
                .values(journey_id=journey_id, retired_by=retired_by)
                .on_conflict_do_nothing(index_elements=[journey_retirements.c.journey_id])
                .returning(journey_retirements)
            )
        ).first()
        row = (
            inserted
            or (
                await conn.execute(
                    select(journey_retirements).where(journey_retirements.c.journey_id == journey_id)
                )
            ).one()
        )
    return Retirement(row.journey_id, row.retired_at, row.retired_by), inserted is not None


async def reinstate(engine: AsyncEngine, journey_id: str) -> bool | None:
    """Make a retired journey start new runs again: whether it was retired (False: it was active).
    None: no such journey."""
    async with engine.begin() as conn:
        if not await _published(conn, journey_id):
            return None
        deleted = await conn.execute(
            journey_retirements.delete().where(journey_retirements.c.journey_id == journey_id)
        )
    return bool(deleted.rowcount)
