"""A local OpenADR 2.0b VTN (openleadr's server) for the demo, the tests and an operator trying DR by
hand: it schedules, modifies and cancels DR events for our VEN (from this process, or from
`gridjourney dr vtn-event` through openadr/vtn_operator.py) and records the VEN's optIn / optOut
answers.

It speaks plain HTTP and registers any VEN that asks, without certificates or fingerprint checks
(openleadr authenticates only requests that arrive over TLS). That is safe only because it listens on a
loopback address: `LocalVtn` refuses any other host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from openleadr import OpenADRServer, hooks, objects, utils

from gridjourney.channels.standin_server import bind_socket
from gridjourney.openadr.vtn_operator import operator_routes

log = logging.getLogger(__name__)

PATH_PREFIX = "/OpenADR2/Simple/2.0b"
MARKET_CONTEXT_BASE = "http://gridjourney.local/programs/"
# The local VTN's id: the VEN names its events `{LOCAL_VTN_ID}:{event id}` (mapping.dr_event_id_of).
LOCAL_VTN_ID = "GRIDJOURNEY-LOCAL-VTN"


# openleadr keeps the VEN lookup on a class shared by every server in the process, so one function
# answers for all local VTNs (one in the stack; tests may have two alive at once).
_VTNS: weakref.WeakSet[LocalVtn] = weakref.WeakSet()


def _ven_lookup(ven_id: str) -> dict[str, Any] | None:
    """A VEN no local VTN has registered is asked to register again (openleadr's reregistration)."""
    for vtn in list(_VTNS):
        found = vtn.registration(ven_id)
        if found is not None:
            return found
    return None


async def _record_answers(message_type: str, payload: dict[str, Any]) -> None:
    """openleadr hook (before_handle, process-wide): every oadrCreatedEvent a VEN sends a local VTN,
    redeliveries included, with its OpenADR response code."""
    if message_type != "oadrCreatedEvent":
        return
    ven_id = str(payload.get("ven_id"))
    for vtn in list(_VTNS):
        if vtn.registration(ven_id) is not None:
            vtn.answers.extend(
                OptAnswer(
                    ven_id=ven_id,
                    event_id=str(response["event_id"]),
                    modification_number=int(response["modification_number"]),
                    opt_type=str(response["opt_type"]),
                    response_code=int(response["response_code"]),
                )
                for response in payload.get("event_responses") or []
            )


hooks.register("before_handle", _record_answers)


def _check_level(signal_name: str, level: float) -> None:
    """openleadr's server cannot send a SIMPLE level other than 0-3, and then fails every poll of the
    VEN (its events go out together): refuse it here."""
    if signal_name == "SIMPLE" and level not in (0, 1, 2, 3):
        raise ValueError(f"a SIMPLE signal's level is 0, 1, 2 or 3, not {level}")


def _log_answer(ven_id: str, event_id: str, opt_type: str) -> None:
    """openleadr's per-event callback (it warns about events without one): the first answer, logged."""
    log.info("VEN %s answered %s to event %s", ven_id, opt_type, event_id)


@dataclass(frozen=True)
class OptAnswer:
    """A VEN's answer to one version of an event: optIn / optOut, and the OpenADR response code
    (200, or e.g. 460 "signal not supported")."""

    ven_id: str
    event_id: str
    modification_number: int
    opt_type: str
    response_code: int


class LocalVtn:
    """Serve with `start()` / `stop()` or `async with local_vtn(...)`; the VEN's URL is `url`."""

    def __init__(
        self,
        *,
        vtn_id: str = LOCAL_VTN_ID,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_interval: timedelta = timedelta(seconds=10),
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(
                f"the local VTN registers VENs without certificates: it serves loopback only, not {host}"
            )
        self.host = host
        self.port = port
        self.vtn_id = vtn_id
        self.answers: list[OptAnswer] = []
        self.registrations: dict[str, str] = {}  # ven_id -> registration id
        self.server = OpenADRServer(
            vtn_id=vtn_id,
            http_host=host,
            http_port=port,
            http_path_prefix=PATH_PREFIX,
            requested_poll_freq=poll_interval,
            ven_lookup=_ven_lookup,
            show_fingerprint=False,
        )
        self.server.add_handler("on_create_party_registration", self._register)
        # the operator's door (gridjourney dr vtn-event), beside the OpenADR routes
        self.server.app.add_routes(operator_routes(self))
        self._runner: web.AppRunner | None = None
        _VTNS.add(self)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH_PREFIX}"

    async def start(self) -> int:
        """Serve; the port bound (a busy port is a clear error naming GRIDJOURNEY_LOCAL_VTN_PORT)."""
        sock = bind_socket(self.host, self.port, "the local OpenADR VTN", "GRIDJOURNEY_LOCAL_VTN_PORT")
        self.port = int(sock.getsockname()[1])
        runner = web.AppRunner(self.server.app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
        log.info("local OpenADR VTN %s at %s", self.vtn_id, self.url)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- registration: any VEN, by name; its VEN id is its name, so events can wait for it -------------
    def _register(self, payload: dict[str, Any]) -> tuple[str, str]:
        ven_id = str(payload["ven_name"])
        registration_id = self.registrations.setdefault(ven_id, str(uuid.uuid4()))
        log.info("local VTN registered VEN %s", ven_id)
        return ven_id, registration_id

    def registration(self, ven_id: str) -> dict[str, Any] | None:
        registration_id = self.registrations.get(ven_id)
        if registration_id is None:
            return None
        return {"ven_id": ven_id, "ven_name": ven_id, "fingerprint": None, "registration_id": registration_id}

    # --- events -------------------------------------------------------------------------------------
    def add_event(
        self,
        *,
        ven_name: str,
        program: str,
        start: datetime,
        duration: timedelta,
        level: float = 1.0,
        event_id: str | None = None,
        signal_name: str = "SIMPLE",
        signal_type: str = "level",
    ) -> str:
        """Schedule an event for the VEN named `ven_name` (registered or not yet); its id. The market
        context names the program (http://gridjourney.local/programs/<program>)."""
        _check_level(signal_name, level)
        interval = objects.Interval(dtstart=start, duration=duration, signal_payload=level)
        added: str = self.server.add_event(
            ven_id=ven_name,
            signal_name=signal_name,
            signal_type=signal_type,
            intervals=[interval],
            event_id=event_id or f"evt-{uuid.uuid4().hex[:12]}",
            market_context=MARKET_CONTEXT_BASE + quote(program),
            callback=_log_answer,
        )
        # A SIMPLE signal's current value is 0 until the event is active (OpenADR); openleadr would
        # otherwise warn at every delivery that it corrects it.
        self._event(ven_name, added).event_signals[0].current_value = 0.0
        return added

    def modify_event(
        self,
        event_id: str,
        *,
        ven_name: str,
        start: datetime | None = None,
        duration: timedelta | None = None,
        level: float | None = None,
    ) -> int:
        """Change an event's period or level; its new modification number."""
        event = self._event(ven_name, event_id)
        signal = event.event_signals[0]
        interval = signal.intervals[0]
        interval.dtstart = start or interval.dtstart
        interval.duration = duration if duration is not None else interval.duration
        if level is not None:
            _check_level(signal.signal_name, level)
            interval.signal_payload = level
        event.active_period = utils.get_active_period_from_intervals(signal.intervals, as_dict=False)
        return self._modified(ven_name, event)

    def cancel_event(self, event_id: str, *, ven_name: str) -> int:
        """Cancel an event; its new modification number."""
        event = self._event(ven_name, event_id)
        event.event_descriptor.event_status = "cancelled"
        return self._modified(ven_name, event)

    def redeliver(self, ven_name: str) -> None:
        """Send the VEN all its events again at its next poll, as a VTN may."""
        self.server.events_updated[ven_name] = True

    def _event(self, ven_name: str, event_id: str) -> Any:
        event = utils.find_by(self.server.events.get(ven_name, []), "event_descriptor.event_id", event_id)
        if event is None:
            raise KeyError(f"the local VTN has no event {event_id} for VEN {ven_name}")
        return event

    def _modified(self, ven_name: str, event: Any) -> int:
        number: int = utils.increment_event_modification_number(event)
        event.event_descriptor.modification_date_time = datetime.now(UTC)
        self.server.events_updated[ven_name] = True
        return number

    async def answer_for(self, event_id: str, modification_number: int, *, within: float = 10.0) -> OptAnswer:
        """Wait for the VEN's answer to this version of the event."""
        async with asyncio.timeout(within):
            while True:
                for answer in self.answers:
                    if (answer.event_id, answer.modification_number) == (event_id, modification_number):
                        return answer
                await asyncio.sleep(0.02)


@asynccontextmanager
async def local_vtn(
    *,
    vtn_id: str = LOCAL_VTN_ID,
    host: str = "127.0.0.1",
    port: int = 0,
    poll_interval: timedelta = timedelta(seconds=10),
) -> AsyncIterator[LocalVtn]:
    vtn = LocalVtn(vtn_id=vtn_id, host=host, port=port, poll_interval=poll_interval)
    await vtn.start()
    try:
        yield vtn
    finally:
        await vtn.stop()
