"""The append-only event store in Postgres.

Appends are serialized by a transaction-scoped advisory lock, so positions become visible in the
order they were assigned: a reader that remembers the last position it saw can never skip an event
committed late by a concurrent writer. Appends are idempotent on `event_id`.

A customer's personal fields are sealed with that customer's data key as they are appended, and
opened as they are read (gridjourney/privacy/): readers see plain payloads, the table never holds them.
Once a customer is erased their sealed fields read null, and appending for them raises CustomerErased.

Serialized appends cost one commit (a WAL flush) each, so one store instance groups the appends
its callers make concurrently into one transaction (group commit): while a transaction is being
written, the next callers queue; they are written together as soon as it commits. Each caller still
gets its own results, and only after its events are durable.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_json
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, any_, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import events
from gridjourney.events.fingerprint import canonical_content, fingerprint
from gridjourney.events.fingerprint import content as compact_content
from gridjourney.events.models import AppendResult, NewEvent, StoredEvent, append_result
from gridjourney.events.types import validate_payload
from gridjourney.observability.metrics import count_appended
from gridjourney.observability.tracing import current_traceparent
from gridjourney.privacy import customer_keys, fields
from gridjourney.privacy.customer_keys import CustomerErased
from gridjourney.privacy.keyring import Keyring, process_keyring

__all__ = ["CheckedEvent", "CustomerErased", "EventIdConflict", "EventStore"]

# Arbitrary constant naming the "event log append" lock; NOTIFY channel woken on every commit.
APPEND_LOCK_KEY = 0x6A6F75726E6579
NOTIFY_CHANNEL = "gridjourney_events"


# Rows written in one grouped transaction at most (a single larger request is still written whole).
GROUP_COMMIT_MAX_ROWS = 2000

# The append's statements take the rows as parallel arrays (one per column, named by its plural),
# so their text is the same for any number of events: compiled once by SQLAlchemy, prepared once per
# connection by psycopg.
_EVENT_IDS = bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True)))
_KNOWN = select(events.c.event_id, events.c.position, events.c.fingerprint).where(
    events.c.event_id == any_(_EVENT_IDS)
)
_COLUMNS = (
    "event_id",
    "type",
    "customer_id",
    "occurred_at",
    "source",
    "payload",
    "schema_version",
    "fingerprint",
    "traceparent",
)
# The columns written as the event gives them (the payload is sealed and the fingerprint made first).
_PLAIN_COLUMNS = tuple(name for name in _COLUMNS if name not in ("payload", "fingerprint"))
_NEW = (
    func.unnest(
        _EVENT_IDS,
        bindparam("types", type_=ARRAY(String)),
        bindparam("customer_ids", type_=ARRAY(String)),
        bindparam("occurred_ats", type_=ARRAY(DateTime(timezone=True))),
        bindparam("sources", type_=ARRAY(String)),
        cast(bindparam("payloads", type_=ARRAY(Text)), ARRAY(JSONB)),
        bindparam("schema_versions", type_=ARRAY(Integer)),
        bindparam("fingerprints", type_=ARRAY(String)),
        bindparam("traceparents", type_=ARRAY(String)),
    )
    .table_valued(*_COLUMNS, with_ordinality="n")
    .render_derived(name="new")
)
# The append lock and the readers' wake-up in one statement (a round trip less per append): a NOTIFY
# is delivered when its transaction commits, wherever it stands in it, and never if it rolls back. An
# append of duplicates only wakes the readers for nothing new.
_LOCK_AND_NOTIFY = text("SELECT pg_advisory_xact_lock(:key), pg_notify(:channel, '')").bindparams(
    key=APPEND_LOCK_KEY, channel=NOTIFY_CHANNEL
)
_READ_AFTER = (
    select(events)
    .where(events.c.position > bindparam("position", type_=BigInteger))
    .order_by(events.c.position)
    .limit(bindparam("limit", type_=Integer))
)
_TYPES_AFTER = (
    select(events.c.position, events.c.type)
    .where(events.c.position > bindparam("position", type_=BigInteger))
    .order_by(events.c.position)
    .limit(bindparam("limit", type_=Integer))
)
_AT_POSITIONS = (
    select(events)
    .where(events.c.position == any_(bindparam("positions", type_=ARRAY(BigInteger))))
    .order_by(events.c.position)
)
# Positions are drawn in the order the rows come: the request's order. Only they are returned (the
# i-th smallest is the i-th row's): loading each row's event_id back made a UUID object per event.
_INSERT = (
    insert(events)
    .from_select(list(_COLUMNS), select(*(_NEW.c[name] for name in _COLUMNS)).order_by(_NEW.c.n))
    .returning(events.c.position)
)


class EventIdConflict(ValueError):
    """An `event_id` already names an event with other content: the new content is refused, not dropped."""

    def __init__(self, event_id: uuid.UUID, position: int | None) -> None:
        where = f"at position {position}" if position is not None else "earlier in the same request"
        super().__init__(f"event_id {event_id} was already used for an event with other content ({where})")
        self.event_id = event_id
        self.position = position


@dataclass(frozen=True)
class CheckedEvent:
    """An event whose payload a door has validated already: `payload` is what validate_payload
    (events/types.py) returned for it, and the store writes it without validating it again."""

    event: NewEvent
    payload: dict[str, Any]


@dataclass(frozen=True)
class _NewRow:
    """A validated event before it is written: its row holds the plain payload until it is sealed."""

    values: dict[str, Any]
    content: bytes  # compact content (events/fingerprint.py), fingerprinted when written

    def first_form_content(self) -> bytes:
        """The content as rows written before the compact form were fingerprinted."""
        values = self.values
        return canonical_content(
            event_type=values["type"],
            customer_id=values["customer_id"],
            occurred_at=values["occurred_at"],
            source=values["source"],
            payload=values["payload"],
            schema_version=values["schema_version"],
        )


@dataclass(frozen=True)
class _Sealed:
    """What an append writes of each row beside its plain values: the payload with its personal fields
    sealed (as JSON text), and the fingerprint (keyed by the customer's data key when it has a customer).
    Made before the append lock is taken; a row whose customer's key changed meanwhile is made again."""

    payloads: list[str]
    fingerprints: list[str]
    keys: dict[str, bytes]

    @classmethod
    def of(cls, new_rows: list[_NewRow], keys: dict[str, bytes]) -> _Sealed:
        sealed = cls([""] * len(new_rows), [""] * len(new_rows), keys)
        sealed.make(new_rows, range(len(new_rows)))
        return sealed

    def make(self, new_rows: list[_NewRow], indexes: Iterable[int]) -> None:
        """Seal and fingerprint the rows at `indexes` with their customers' keys in `self.keys`."""
        keys = self.keys
        personal = fields.PERSONAL_FIELDS
        for index in indexes:
            row = new_rows[index]
            values = row.values
            customer_id = values["customer_id"]
            payload = values["payload"]
            if customer_id is None:
                self.fingerprints[index] = fingerprint(row.content)
            else:
                key = keys[customer_id]
                # Most events hold no personal field: their payload is written as it is, not copied.
                event_type = values["type"]
                if event_type in personal:
                    payload = fields.seal(event_type, customer_id, payload, key)
                self.fingerprints[index] = fields.keyed_fingerprint(row.content, key)
            # Sent as JSON text (pydantic_core's encoder, several times faster than json.dumps)
            self.payloads[index] = to_json(payload).decode()

    def first_form_fingerprint(self, row: _NewRow) -> str:
        customer_id = row.values["customer_id"]
        content = row.first_form_content()
        return (
            fingerprint(content)
            if customer_id is None
            else fields.keyed_fingerprint(content, self.keys[customer_id])
        )


@dataclass
class _PendingAppend:
    rows: list[_NewRow]
    done: asyncio.Future[list[AppendResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Single(_PendingAppend):
    """A request to be written in a transaction of its own (after its group failed)."""

    def __init__(self, item: _PendingAppend) -> None:
        super().__init__(item.rows, item.done)


class EventStore:
    def __init__(self, engine: AsyncEngine, keyring: Keyring | None = None) -> None:
        """`keyring` wraps the customers' data keys; by default the process's (from its settings)."""
        self.engine = engine
        self._keyring = keyring
        self._queue: list[_PendingAppend] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def keyring(self) -> Keyring:
        return self._keyring if self._keyring is not None else process_keyring()

    async def append(self, new_events: Sequence[NewEvent | CheckedEvent]) -> list[AppendResult]:
        """Validate every payload, then append all events in one transaction (all or nothing).

        Raises UnknownEventType or pydantic.ValidationError before anything is written, EventIdConflict
        or CustomerErased and writes nothing. Returns once the events are committed, possibly together
        with other callers' (group commit).
        """
        rows = _rows(new_events)
        if not rows:
            return []
        pending = _PendingAppend(rows)
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        # shield: a cancelled caller must not cancel the transaction that also carries others' events
        return await asyncio.shield(pending.done)

    async def _write_queued(self) -> None:
        while self._queue:
            group: list[_PendingAppend] = []
            size = 0
            while self._queue and (
                not group
                or (
                    not isinstance(group[0], _Single)
                    and not isinstance(self._queue[0], _Single)
                    and size + len(self._queue[0].rows) <= GROUP_COMMIT_MAX_ROWS
                )
            ):
                group.append(self._queue.pop(0))
                size += len(group[-1].rows)
            try:
                async with self.engine.begin() as conn:
                    results = await self._append_rows(conn, [row for item in group for row in item.rows])
            except Exception as error:
                if len(group) == 1:
                    group[0].done.set_exception(error)
                else:
                    # One caller's rows must not fail the others': write each request on its own.
                    self._queue[:0] = [_Single(item) for item in group]
                continue
            _count_fresh([row for item in group for row in item.rows], results)
            start = 0
            for item in group:
                if not item.done.done():
                    item.done.set_result(results[start : start + len(item.rows)])
                start += len(item.rows)

    async def append_in(
        self, conn: AsyncConnection, new_events: Sequence[NewEvent | CheckedEvent]
    ) -> list[AppendResult]:
        """Append inside the caller's transaction on `conn`, so the events commit (or roll back) with the
        caller's own writes. The append lock is held until that transaction ends: keep it short."""
        rows = _rows(new_events)
        if not rows:
            return []
        results = await self._append_rows(conn, rows)
        # Counted as written: a caller's transaction that rolls back afterwards is rare (and retried).
        _count_fresh(rows, results)
        return results

    async def _append_rows(self, conn: AsyncConnection, new_rows: list[_NewRow]) -> list[AppendResult]:
        # The per-event work (unwrapping the customers' keys, sealing, fingerprints, JSON) comes before
        # the append lock, so that another process's append can hold the lock meanwhile; under it, only
        # what must be there: the erasure re-check, the new keys, the duplicates and the insert.
        customer_ids = {row.values["customer_id"] for row in new_rows} - {None}
        prepared = await customer_keys.prepare_keys(conn, self.keyring, customer_ids)
        sealed = _Sealed.of(new_rows, prepared.keys)
        ids = [row.values["event_id"] for row in new_rows]
        columns: dict[str, list[Any]] = {
            f"{name}s": [row.values[name] for row in new_rows] for name in _PLAIN_COLUMNS
        }
        # The sealed lists themselves: a row sealed again below is written as sealed again.
        columns["payloads"] = sealed.payloads
        columns["fingerprints"] = sealed.fingerprints

        await conn.execute(_LOCK_AND_NOTIFY)
        replaced = await customer_keys.confirm_keys(conn, self.keyring, prepared)
        if replaced:  # another append created these customers' keys meanwhile: seal with theirs
            sealed.make(
                new_rows, (i for i, row in enumerate(new_rows) if row.values["customer_id"] in replaced)
            )
        found = (await conn.execute(_KNOWN, {"event_ids": ids})).all()
        # Keyed by the UUIDs' integers: a UUID hashes in Python code, several times per event.
        existing = {row.event_id.int: (row.position, row.fingerprint) for row in found}
        # Each event_id's first row in this request: its index, or -1 when the log held it already.
        first: dict[int, int] = dict.fromkeys(existing, -1)
        fresh: list[int] = []
        for index, event_id in enumerate(ids):
            number = event_id.int
            earlier = first.get(number)
            if earlier is None:
                first[number] = index
                fresh.append(index)
                continue
            # A repeat: of a row in the log, or of an earlier row of this request.
            known = existing[number][1] if earlier < 0 else sealed.fingerprints[earlier]
            # Rows written before fingerprints existed (None) cannot be compared: they stay duplicates.
            if known is not None and not self._same(
                known, sealed, new_rows[index], index, from_log=earlier < 0
            ):
                raise EventIdConflict(event_id, existing[number][0] if earlier < 0 else None)
        positions: dict[int, int] = {number: position for number, (position, _) in existing.items()}
        if fresh:
            if len(fresh) < len(new_rows):  # only the rows not written yet
                columns = {name: [column[index] for index in fresh] for name, column in columns.items()}
            drawn = sorted((await conn.execute(_INSERT, columns)).scalars())
            for index, position in zip(fresh, drawn, strict=True):
                positions[ids[index].int] = position
        # An event repeated inside one batch: the first copy wrote it, the later ones are duplicates.
        return [
            append_result(event_id, positions[event_id.int], first[event_id.int] != index)
            for index, event_id in enumerate(ids)
        ]

    @staticmethod
    def _same(known: str, sealed: _Sealed, row: _NewRow, index: int, *, from_log: bool) -> bool:
        """Whether a repeat's fingerprint matches `known`: in either form for a row of the log."""
        if known == sealed.fingerprints[index]:
            return True
        return from_log and known == sealed.first_form_fingerprint(row)

    async def read_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        """Events with a position greater than `position`, in order."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(_READ_AFTER, {"position": position, "limit": limit})
            return await self.opened(conn, list(rows))

    async def read_wanted_after(
        self, position: int, wanted: Callable[[str], bool], limit: int = 500
    ) -> tuple[list[StoredEvent], int | None, int]:
        """Among the `limit` events after `position`, those whose type is `wanted`, in order; the
        position of the last of the `limit` looked at (None when there is no event after `position`);
        and how many were looked at.
        Only the wanted rows are fetched whole and opened: a reader of a few types skips the rest (a
        cohort send's message events) for the price of their position and type."""
        async with self.engine.connect() as conn:
            seen = list(await conn.execute(_TYPES_AFTER, {"position": position, "limit": limit}))
            if not seen:
                return [], None, 0
            positions = [row.position for row in seen if wanted(row.type)]
            rows = list(await conn.execute(_AT_POSITIONS, {"positions": positions})) if positions else []
            return await self.opened(conn, rows), seen[-1].position, len(seen)

    async def read_customer(self, customer_id: str, limit: int = 1000) -> list[StoredEvent]:
        query = (
            select(events).where(events.c.customer_id == customer_id).order_by(events.c.position).limit(limit)
        )
        async with self.engine.connect() as conn:
            return await self.opened(conn, list(await conn.execute(query)))

    async def get(self, event_id: uuid.UUID) -> StoredEvent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(events).where(events.c.event_id == event_id))).first()
            return None if row is None else (await self.opened(conn, [row]))[0]

    async def opened(self, conn: AsyncConnection, rows: list[Row[Any]]) -> list[StoredEvent]:
        """Rows of the events table as events, their personal fields opened (null once erased)."""
        sealed = [row for row in rows if fields.has_sealed_fields(row.type, row.payload)]
        keys = await customer_keys.keys_for_reading(conn, self.keyring, {row.customer_id for row in sealed})
        out: list[StoredEvent] = []
        for row in rows:
            event = StoredEvent.model_validate(row._mapping)
            if row.customer_id in keys:
                payload = fields.open_sealed(row.type, row.customer_id, row.payload, keys[row.customer_id])
                event = event.model_copy(update={"payload": payload})
            out.append(event)
        return out

    async def head(self) -> int:
        """The position of the newest event (0 when the log is empty)."""
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.coalesce(func.max(events.c.position), 0)))).scalar_one()
            )


def _count_fresh(rows: list[_NewRow], results: list[AppendResult]) -> None:
    """The metrics of the rows this append wrote (observability/metrics.py), not of its duplicates."""
    count_appended(row.values for row, result in zip(rows, results, strict=True) if not result.duplicate)


def _rows(new_events: Sequence[NewEvent | CheckedEvent]) -> list[_NewRow]:
    """The rows to insert, every payload validated first (a CheckedEvent's by its door; nothing is
    written if one is refused)."""
    rows: list[_NewRow] = []
    traceparent = current_traceparent()  # the router continues this trace (router/router.py)
    for item in new_events:
        if isinstance(item, CheckedEvent):
            event, payload = item.event, item.payload
        else:
            event, payload = item, validate_payload(item.type, item.payload)
        content = compact_content(
            event_type=event.type,
            customer_id=event.customer_id,
            occurred_at=event.occurred_at,
            source=event.source,
            payload=payload,
            schema_version=event.schema_version,
        )
        values = {
            "event_id": event.event_id,
            "type": event.type,
            "customer_id": event.customer_id,
            "occurred_at": event.occurred_at,
            "source": event.source,
            "payload": payload,
            "schema_version": event.schema_version,
            "traceparent": traceparent,
        }
        rows.append(_NewRow(values, content))
    return rows
