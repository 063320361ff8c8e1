"""The utility's OpenADR 2.0b VEN: openleadr's client polls the VTN, and each event it hands over
becomes at most one dr.* event in the log (mapping.py), answered optIn (or optOut when refused).

Redeliveries append nothing: the appended event ids derive from (VTN id, event id, modification
number, kind), and the log is read before appending (a restarted VEN sees every event again). So the
VEN keeps no memory of its own to deduplicate: `handled` is only the last few outcomes, for the log
and for tests, and the answers openleadr's client remembers are trimmed to the events it still holds.
The log names an event `{vtn_id}:{event_id}` (mapping.dr_event_id_of): two VTNs may use one event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from openleadr import OpenADRClient
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.events.store import EventIdConflict, EventStore
from gridjourney.openadr.mapping import (
    Decision,
    OptType,
    Reading,
    Refusal,
    decide,
    dr_event_id_of,
    read_event,
)
from gridjourney.openadr.queries import recorded_dr_event

log = logging.getLogger(__name__)

APPEND_ATTEMPTS = 3
MAX_REGISTRATION_DELAY = 60.0
# How many outcomes `Ven.handled` keeps: a window on recent work, not what deduplicates.
RECENT_HANDLED = 256


def quiet_the_poll_scheduler() -> None:
    """openleadr's client polls through apscheduler, which logs two INFO lines a poll (about 17,000 a
    day at 10 s): only its warnings are news. A level set stricter by the operator stays."""
    for name in ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default"):
        scheduler_log = logging.getLogger(name)
        if scheduler_log.getEffectiveLevel() < logging.WARNING:
            scheduler_log.setLevel(logging.WARNING)


class VenConfigError(ValueError):
    """The VEN's settings are incomplete (no VTN URL, a certificate without its key or CA)."""


@dataclass(frozen=True)
class Handled:
    """One event the VEN was handed, and what it did (kept for the log and for tests)."""

    dr_event_id: str  # as the log names it: `{vtn_id}:{event_id}`
    modification_number: int
    outcome: str
    opt: OptType
    reason: str | None = None


def client_options(settings: Settings) -> dict[str, Any]:
    """openleadr client options from the settings: TLS client certificate, key and the VTN's CA, all
    three or none (a local VTN over loopback needs none)."""
    tls = (settings.ven_cert, settings.ven_key, settings.vtn_ca_file)
    if not any(tls):
        return {}
    if not all(tls):
        raise VenConfigError(
            "GRIDJOURNEY_VEN_CERT, GRIDJOURNEY_VEN_KEY and GRIDJOURNEY_VTN_CA_FILE go together: "
            "set all three for a VTN over TLS, or none"
        )
    return {
        "cert": str(settings.ven_cert),
        "key": str(settings.ven_key),
        "ca_file": str(settings.vtn_ca_file),
        "show_fingerprint": False,
    }


class Ven:
    """Run with `run(stop)` (the embedded stack) or `async with running_ven(...)` (tests, the CLI)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        vtn_url: str | None = None,
        poll_interval: timedelta | None = None,
        append_backoff: float = 0.5,
    ) -> None:
        url = vtn_url or settings.vtn_url
        if not url:
            raise VenConfigError("no VTN to poll: set GRIDJOURNEY_VTN_URL (or GRIDJOURNEY_LOCAL_VTN=true)")
        self.vtn_url = url
        self.ven_name = settings.ven_name
        self.poll_interval = poll_interval or settings.ven_poll_interval
        self.append_backoff = append_backoff  # seconds before the first retry of a failed append
        self.options = client_options(settings)
        self.engine = engine
        self.store = EventStore(engine)
        self.registered = asyncio.Event()
        self.vtn_id: str | None = None
        self.handled: deque[Handled] = deque(maxlen=RECENT_HANDLED)
        self._client: Any = None

    async def run(self, stop: asyncio.Event) -> None:
        """Register with the VTN (retrying while it is unreachable or refuses), then poll until `stop`."""
        quiet_the_poll_scheduler()
        delay = min(self.poll_interval.total_seconds(), 1.0)
        while not stop.is_set():
            client = self._new_client()
            self._client = client
            try:
                await client.run()
            except Exception:
                # openleadr raises on some malformed VTN answers during registration: retry as if down.
                log.exception("registering with the VTN at %s failed", self.vtn_url)
            if client.registration_id is not None:
                self.registered.set()
                log.info("VEN %s registered at %s as %s", self.ven_name, self.vtn_url, client.ven_id)
                try:
                    await stop.wait()
                finally:
                    await client.stop()
                    self.registered.clear()
                return
            await self._close(client)
            log.warning("the VTN at %s did not register this VEN; retrying in %.0fs", self.vtn_url, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, MAX_REGISTRATION_DELAY)

    def _new_client(self) -> Any:
        client = OpenADRClient(ven_name=self.ven_name, vtn_url=self.vtn_url, **self.options)
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        client.add_hook("after_parse_xml", self._after_parse)
        return client

    @staticmethod
    async def _close(client: Any) -> None:
        if client.scheduler.running:
            client.scheduler.shutdown()
        if client.client_session is not None:
            await client.client_session.close()

    def _after_parse(self, message_type: str, payload: dict[str, Any]) -> None:
        """Note the VTN's id, and poll at our interval: openleadr's client polls at the frequency the
        VTN requests in its registration answer, so the setting replaces it there."""
        if payload.get("vtn_id"):
            self.vtn_id = str(payload["vtn_id"])
        if message_type == "oadrCreatedPartyRegistration":
            payload["requested_oadr_poll_freq"] = self.poll_interval

    async def _on_event(self, event: dict[str, Any]) -> OptType:
        """openleadr's on_event and on_update_event: a new event, or a new modification of one."""
        now = datetime.now(UTC)
        self._trim_answers()
        reading = read_event(event, now=now)
        vtn_id = self.vtn_id or self.vtn_url
        decision = await self._record(reading, vtn_id, now)
        handled = Handled(
            dr_event_id_of(vtn_id, reading.dr_event_id),
            reading.modification_number,
            decision.outcome,
            decision.opt,
            decision.reason,
        )
        self.handled.append(handled)
        if decision.outcome == "refused":
            log.warning(
                "OpenADR event %s (modification %d) refused, answered %s: %s",
                handled.dr_event_id,
                handled.modification_number,
                handled.opt,
                handled.reason,
            )
        else:
            log.info(
                "OpenADR event %s (modification %d): %s, answered %s",
                handled.dr_event_id,
                handled.modification_number,
                handled.outcome,
                handled.opt,
            )
        return decision.opt

    async def _record(self, reading: Reading, vtn_id: str, now: datetime) -> Decision:
        if isinstance(reading, Refusal):
            return decide(reading, None, vtn_id=vtn_id, now=now)  # nothing to look up or append
        attempt = 1
        while True:
            try:
                async with self.engine.connect() as conn:
                    recorded = await recorded_dr_event(conn, dr_event_id_of(vtn_id, reading.dr_event_id))
                decision = decide(reading, recorded, vtn_id=vtn_id, now=now)
                if decision.event is not None:
                    await self.store.append([decision.event])
                return decision
            except EventIdConflict:
                # The same (VTN, event, modification, kind) was appended at another time: already recorded.
                return Decision(None, "optIn", "duplicate")
            except Exception:
                if attempt >= APPEND_ATTEMPTS:
                    self._forget(reading.dr_event_id)
                    raise  # openleadr answers optOut; the event is forgotten so a redelivery retries
                log.exception("recording OpenADR event %s failed; retrying", reading.dr_event_id)
                await asyncio.sleep(self.append_backoff * attempt)
                attempt += 1

    def _trim_answers(self) -> None:
        """Drop the answers openleadr's client remembers for events it no longer holds: it drops
        ended events itself but keeps their answers for good. A redelivery of a dropped event reaches
        the handler again, and the log answers it."""
        client = self._client
        if client is None:
            return
        held = {e["event_descriptor"]["event_id"] for e in client.received_events}
        for event_id in [event_id for event_id in client.responded_events if event_id not in held]:
            del client.responded_events[event_id]

    def _forget(self, dr_event_id: str) -> None:
        """Drop the event from the client's memory: openleadr answers a redelivery of a modification it
        has seen from memory, without calling the handler again."""
        if self._client is not None:
            self._client.received_events[:] = [
                e for e in self._client.received_events if e["event_descriptor"]["event_id"] != dr_event_id
            ]


@contextlib.asynccontextmanager
async def running_ven(
    engine: AsyncEngine,
    settings: Settings,
    *,
    vtn_url: str | None = None,
    poll_interval: timedelta | None = None,
    append_backoff: float = 0.5,
    register_within: float = 30.0,
) -> AsyncIterator[Ven]:
    """A VEN polling the VTN while the block runs; it has registered when the block starts."""
    ven = Ven(engine, settings, vtn_url=vtn_url, poll_interval=poll_interval, append_backoff=append_backoff)
    stop = asyncio.Event()
    task = asyncio.create_task(ven.run(stop), name="openadr-ven")
    registered = asyncio.create_task(ven.registered.wait())
    try:
        done, _ = await asyncio.wait(
            {task, registered}, timeout=register_within, return_when=asyncio.FIRST_COMPLETED
        )
        if registered not in done:
            raise TimeoutError(f"the VEN did not register at {ven.vtn_url} within {register_within:.0f}s")
        yield ven
    finally:
        registered.cancel()
        stop.set()
        await task
