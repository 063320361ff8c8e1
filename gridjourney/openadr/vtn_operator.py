"""The local VTN's operator door: schedule, modify and cancel a DR event on the running local VTN
(openadr/vtn.py), as `gridjourney dr vtn-event` does (gridjourney/cli/dr.py).

openleadr's server has no API of its own to add events from outside the process, so the local VTN
serves these routes beside the OpenADR ones, under OPERATOR_PATH:

    POST /gridjourney/vtn/events              {"ven_name", "program", "start", "duration_seconds",
                                               "level"?, "event_id"?}       -> 201 {"event_id", ...}
    POST /gridjourney/vtn/events/{id}/modify  {"ven_name", "start"?, "duration_seconds"?, "level"?}
    POST /gridjourney/vtn/events/{id}/cancel  {"ven_name"}

Each answers the event id and its modification number (the VEN sees the change at its next poll); a
bad field is a 400 and an unknown event a 404, with {"detail": ...}. Like the VTN's registration,
the door has no credentials: the local VTN listens on loopback only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gridjourney.openadr.vtn import LocalVtn

OPERATOR_PATH = "/gridjourney/vtn/events"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadField(ValueError):
    pass


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadField(f"{name}: a non-empty string is required")
    return value


def _start(body: dict[str, Any]) -> datetime | None:
    value = body.get("start")
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise BadField(f"start: not an ISO 8601 time: {value!r}") from error
    if start.tzinfo is None:
        raise BadField(f"start: give the UTC offset (e.g. {value}Z or {value}+01:00)")
    return start


def _duration(body: dict[str, Any]) -> timedelta | None:
    value = body.get("duration_seconds")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadField(f"duration_seconds: a positive number, not {value!r}")
    return timedelta(seconds=float(value))


def _level(body: dict[str, Any]) -> float | None:
    value = body.get("level")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadField(f"level: a number, not {value!r}")
    return float(value)


def _or_one(level: float | None) -> float:
    return 1.0 if level is None else level  # a new event's level unless given


def _answer(event_id: str, modification_number: int, status: int = 200) -> web.Response:
    return web.json_response(
        {"event_id": event_id, "modification_number": modification_number}, status=status
    )


def _guarded(handler: Handler) -> Handler:
    """A bad field is 400, an unknown event 404, each naming what is wrong."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (BadField, ValueError) as error:
            return web.json_response({"detail": str(error)}, status=400)
        except KeyError as error:
            return web.json_response({"detail": str(error.args[0])}, status=404)

    return guarded


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise BadField("the body is not JSON") from error
    if not isinstance(body, dict):
        raise BadField("the body is not a JSON object")
    return body


def operator_routes(vtn: LocalVtn) -> list[web.RouteDef]:
    async def schedule(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        start, duration = _start(body), _duration(body)
        if start is None or duration is None:
            raise BadField("start and duration_seconds are required")
        event_id = body.get("event_id")
        event_id = _text(body, "event_id") if event_id is not None else None
        added = vtn.add_event(
            ven_name=_text(body, "ven_name"),
            program=_text(body, "program"),
            start=start,
            duration=duration,
            level=_or_one(_level(body)),
            event_id=event_id,
        )
        return _answer(added, 0, status=201)

    async def modify(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        event_id = request.match_info["event_id"]
        number = vtn.modify_event(
            event_id,
            ven_name=_text(body, "ven_name"),
            start=_start(body),
            duration=_duration(body),
            level=_level(body),
        )
        return _answer(event_id, number)

    async def cancel(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        event_id = request.match_info["event_id"]
        return _answer(event_id, vtn.cancel_event(event_id, ven_name=_text(body, "ven_name")))

    return [
        web.post(OPERATOR_PATH, _guarded(schedule)),
        web.post(OPERATOR_PATH + "/{event_id}/modify", _guarded(modify)),
        web.post(OPERATOR_PATH + "/{event_id}/cancel", _guarded(cancel)),
    ]
