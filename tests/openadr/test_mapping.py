"""The OpenADR event -> dr.* event mapping, on event dicts shaped as openleadr's client hands them over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gridjourney.openadr.mapping import (
    MAX_DR_EVENT_ID,
    Cancellation,
    NormalOperation,
    Recorded,
    Refusal,
    Window,
    decide,
    dr_event_id_of,
    event_id_for,
    program_of,
    read_event,
)

NOW = datetime(2026, 7, 14, 9, 0, tzinfo=UTC)
START = datetime(2026, 7, 14, 17, 0, tzinfo=UTC)


def oadr_event(
    *,
    event_id: str = "evt-1",
    modification_number: int = 0,
    status: str = "far",
    start: Any = START,
    duration: Any = timedelta(hours=3),
    signals: list[dict[str, Any]] | None = None,
    market_context: str = "http://utility.example/programs/Peak%20Time%20Rewards",
) -> dict[str, Any]:
    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": modification_number,
            "event_status": status,
            "market_context": market_context,
        },
        "active_period": {"dtstart": start, "duration": duration},
        "event_signals": signals
        if signals is not None
        else [
            simple_signal(
                (START, timedelta(hours=1), 1.0), (START + timedelta(hours=1), timedelta(hours=2), 3.0)
            )
        ],
        "response_required": "always",
    }


def simple_signal(
    *intervals: tuple[datetime, timedelta, float], current_value: float = 0.0
) -> dict[str, Any]:
    return {
        "signal_name": "SIMPLE",
        "signal_type": "level",
        "current_value": current_value,
        "intervals": [{"dtstart": s, "duration": d, "signal_payload": p} for s, d, p in intervals],
    }


def test_a_live_event_reads_as_its_window_program_and_level() -> None:
    assert read_event(oadr_event(modification_number=2), now=NOW) == Window(
        dr_event_id="evt-1",
        program="Peak Time Rewards",
        start=START,
        end=START + timedelta(hours=3),
        signal_level=1.0,  # the first interval's: the event has not started (currentValue is 0 until then)
        modification_number=2,
    )


def test_an_active_event_reads_the_level_in_force_now() -> None:
    reading = read_event(oadr_event(), now=START + timedelta(hours=1, minutes=30))
    assert isinstance(reading, Window)
    assert reading.signal_level == 3.0


def test_without_intervals_the_current_value_is_the_level() -> None:
    signal = simple_signal(current_value=2.0)
    reading = read_event(oadr_event(signals=[signal]), now=NOW)
    assert isinstance(reading, Window)
    assert reading.signal_level == 2.0


def test_a_cancelled_event_reads_as_a_cancellation() -> None:
    assert read_event(oadr_event(status="cancelled", modification_number=3), now=NOW) == Cancellation(
        "evt-1", 3
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"signals": [{**simple_signal(), "signal_name": "x-price-tier"}]},
            "unknown signal name 'x-price-tier'",
        ),
        ({"signals": [{**simple_signal(), "signal_name": "ELECTRICITY_PRICE"}]}, "unknown signal name"),
        ({"signals": [{**simple_signal(), "signal_type": "price"}]}, "unknown signal type 'price'"),
        ({"signals": []}, "the event has no signal"),
        ({"signals": ["SIMPLE"]}, "a malformed signal"),
        ({"duration": timedelta(0)}, "the active period has no duration"),
        ({"duration": None}, "the active period has no duration"),
        ({"duration": timedelta(hours=-1)}, "the active period ends before it starts"),
        ({"start": None}, "the active period has no start time"),
        ({"start": datetime(2026, 7, 14, 17, 0)}, "the active period has no start time"),  # no zone
        ({"start": NOW - timedelta(hours=4)}, "the event has ended already"),
        ({"event_id": ""}, "the event has no event id"),
        ({"modification_number": -1}, "bad modification number -1"),
        ({"signals": [{**simple_signal(), "current_value": None}]}, "no level"),
    ],
)
def test_an_event_this_ven_cannot_act_on_is_refused_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    reading = read_event(oadr_event(**changes), now=NOW)
    assert isinstance(reading, Refusal)
    assert reason in reading.reason


@pytest.mark.parametrize(
    ("market_context", "program"),
    [
        ("http://utility.example/programs/Peak%20Time%20Rewards", "Peak Time Rewards"),
        ("http://utility.example/programs/ptr/", "ptr"),
        ("oadr://critical-peak", "critical-peak"),
        ("ptr", "ptr"),
    ],
)
def test_the_program_is_the_market_contexts_last_segment(market_context: str, program: str) -> None:
    assert program_of(market_context) == program


def window(modification_number: int = 0, **changes: Any) -> Window:
    values: dict[str, Any] = {
        "dr_event_id": "evt-1",
        "program": "ptr",
        "start": START,
        "end": START + timedelta(hours=3),
        "signal_level": 2.0,
        "modification_number": modification_number,
    }
    return Window(**(values | changes))


def test_a_new_event_is_scheduled_and_opted_in() -> None:
    decision = decide(window(), None, vtn_id="VTN", now=NOW)
    assert (decision.outcome, decision.opt) == ("scheduled", "optIn")
    assert decision.event is not None
    assert decision.event.type == "dr.event_scheduled"
    assert decision.event.event_id == event_id_for("VTN", "evt-1", 0, "scheduled")
    assert decision.event.source == "openadr"
    assert decision.event.payload == {
        "dr_event_id": "VTN:evt-1",
        "program": "ptr",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=3)).isoformat(),
        "signal_level": 2.0,
        "modification_number": 0,
    }


def test_an_event_first_seen_at_a_later_modification_is_scheduled_with_that_number() -> None:
    decision = decide(window(4), None, vtn_id="VTN", now=NOW)
    assert decision.event is not None
    assert (decision.event.type, decision.event.payload["modification_number"]) == ("dr.event_scheduled", 4)


def test_a_higher_modification_number_is_a_modification() -> None:
    decision = decide(window(2), Recorded(modification_number=1, cancelled=False), vtn_id="VTN", now=NOW)
    assert decision.event is not None
    assert decision.event.type == "dr.event_modified"
    assert "program" not in decision.event.payload
    assert decision.event.event_id == event_id_for("VTN", "evt-1", 2, "modified")


@pytest.mark.parametrize("modification_number", [0, 1])
def test_a_redelivery_appends_nothing_and_stays_opted_in(modification_number: int) -> None:
    recorded = Recorded(modification_number=1, cancelled=False)
    decision = decide(window(modification_number), recorded, vtn_id="VTN", now=NOW)
    assert (decision.event, decision.outcome, decision.opt) == (None, "duplicate", "optIn")


def test_a_cancellation_is_appended_once() -> None:
    first = decide(Cancellation("evt-1", 2), Recorded(1, cancelled=False), vtn_id="VTN", now=NOW)
    assert first.event is not None
    assert first.event.type == "dr.event_cancelled"
    assert first.event.payload["dr_event_id"] == "VTN:evt-1"
    again = decide(Cancellation("evt-1", 2), Recorded(1, cancelled=True), vtn_id="VTN", now=NOW)
    assert (again.event, again.outcome) == (None, "duplicate")


def test_a_cancelled_event_is_not_brought_back() -> None:
    decision = decide(window(3), Recorded(2, cancelled=True), vtn_id="VTN", now=NOW)
    assert (decision.event, decision.opt, decision.outcome) == (None, "optOut", "refused")


def test_a_refusal_appends_nothing_and_opts_out() -> None:
    decision = decide(Refusal("evt-1", 0, "unknown signal name 'x'"), None, vtn_id="VTN", now=NOW)
    assert (decision.event, decision.opt, decision.reason) == (None, "optOut", "unknown signal name 'x'")


def test_values_the_event_types_cannot_hold_are_refused_naming_the_field() -> None:
    decision = decide(window(program="p" * 101), None, vtn_id="VTN", now=NOW)
    assert (decision.event, decision.opt) == (None, "optOut")
    assert "program" in (decision.reason or "")
    high = decide(window(signal_level=-1.0), None, vtn_id="VTN", now=NOW)
    assert "signal_level" in (high.reason or "")


def test_event_ids_differ_by_vtn_event_modification_and_kind() -> None:
    ids = {
        event_id_for("VTN", "evt-1", 0, "scheduled"),
        event_id_for("VTN-2", "evt-1", 0, "scheduled"),
        event_id_for("VTN", "evt-2", 0, "scheduled"),
        event_id_for("VTN", "evt-1", 1, "scheduled"),
        event_id_for("VTN", "evt-1", 0, "cancelled"),
    }
    assert len(ids) == 5
    assert event_id_for("VTN", "evt-1", 0, "scheduled") == event_id_for("VTN", "evt-1", 0, "scheduled")


def test_the_log_names_an_event_by_its_vtn_so_two_vtns_sharing_an_event_id_make_two_events() -> None:
    first = decide(window(), None, vtn_id="VTN-A", now=NOW)
    other = decide(window(), None, vtn_id="VTN-B", now=NOW)
    assert first.event is not None and other.event is not None
    assert (first.event.payload["dr_event_id"], other.event.payload["dr_event_id"]) == (
        "VTN-A:evt-1",
        "VTN-B:evt-1",
    )
    modified = decide(window(1), Recorded(0, cancelled=False), vtn_id="VTN-A", now=NOW)
    cancelled = decide(Cancellation("evt-1", 2), Recorded(1, cancelled=False), vtn_id="VTN-A", now=NOW)
    assert modified.event is not None and cancelled.event is not None
    assert modified.event.payload["dr_event_id"] == cancelled.event.payload["dr_event_id"] == "VTN-A:evt-1"


def test_a_namespaced_id_too_long_for_the_event_types_is_a_stable_digest() -> None:
    long_vtn, long_event = "V" * 60, "e" * 60
    named = dr_event_id_of(long_vtn, long_event)
    assert named.startswith("oadr:") and len(named) <= MAX_DR_EVENT_ID
    assert named == dr_event_id_of(long_vtn, long_event)
    assert named != dr_event_id_of(long_vtn, "e" * 59 + "f")
    assert dr_event_id_of("V" * 49, "e" * 50) == "V" * 49 + ":" + "e" * 50  # 100: fits as it is
    decision = decide(window(dr_event_id=long_event), None, vtn_id=long_vtn, now=NOW)
    assert decision.event is not None
    assert decision.event.payload["dr_event_id"] == named


def test_an_event_at_level_0_throughout_is_normal_operation() -> None:
    level_0 = simple_signal(
        (START, timedelta(hours=1), 0.0), (START + timedelta(hours=1), timedelta(hours=2), 0)
    )
    assert read_event(oadr_event(signals=[level_0], modification_number=1), now=NOW) == NormalOperation(
        "evt-1", 1
    )
    assert read_event(oadr_event(signals=[simple_signal(current_value=0.0)]), now=NOW) == NormalOperation(
        "evt-1", 0
    )
    # level 0 at first, then 2: it asks for something
    rising = simple_signal(
        (START, timedelta(hours=1), 0.0), (START + timedelta(hours=1), timedelta(hours=2), 2)
    )
    reading = read_event(oadr_event(signals=[rising]), now=NOW)
    assert isinstance(reading, Window)
    assert reading.signal_level == 0.0
    # back to 0 for the rest of an active event: nothing more is asked
    falling = simple_signal(
        (START, timedelta(hours=1), 2.0), (START + timedelta(hours=1), timedelta(hours=2), 0)
    )
    ended = read_event(oadr_event(signals=[falling]), now=START + timedelta(hours=1, minutes=5))
    assert ended == NormalOperation("evt-1", 0)


def test_a_new_event_at_level_0_appends_nothing_and_a_later_level_schedules_it() -> None:
    normal = decide(NormalOperation("evt-1", 0), None, vtn_id="VTN", now=NOW)
    assert (normal.event, normal.opt, normal.outcome) == (None, "optIn", "normal")
    raised = decide(window(1), None, vtn_id="VTN", now=NOW)
    assert raised.event is not None
    assert (raised.event.type, raised.event.payload["modification_number"]) == ("dr.event_scheduled", 1)


def test_a_scheduled_event_brought_down_to_level_0_is_cancelled_for_customers_once() -> None:
    lowered = decide(NormalOperation("evt-1", 2), Recorded(1, cancelled=False), vtn_id="VTN", now=NOW)
    assert (lowered.opt, lowered.outcome) == ("optIn", "cancelled")
    assert lowered.event is not None
    assert lowered.event.type == "dr.event_cancelled"
    assert lowered.event.payload == {"dr_event_id": "VTN:evt-1", "reason": "level 0 (normal operation)"}
    again = decide(NormalOperation("evt-1", 2), Recorded(1, cancelled=True), vtn_id="VTN", now=NOW)
    stale = decide(NormalOperation("evt-1", 1), Recorded(1, cancelled=False), vtn_id="VTN", now=NOW)
    assert (again.event, again.outcome) == (None, "normal")
    assert (stale.event, stale.outcome) == (None, "duplicate")


# --- a hostile or careless VTN: every event is read as something, never an exception ----------------
LAST_HOUR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"start": LAST_HOUR}, "past the last date"),
        ({"duration": timedelta(days=7, seconds=1)}, "lasts more than 7 days"),
        ({"start": NOW + timedelta(days=367)}, "starts more than 366 days ahead"),
        ({"duration": timedelta(days=999_999_999)}, "past the last date"),
        ({"start": datetime(1, 1, 1, tzinfo=UTC), "duration": timedelta(hours=1)}, "ended already"),
        ({"signals": [simple_signal((START, timedelta(hours=3), float("nan")))]}, "not a finite number"),
        ({"signals": [simple_signal((START, timedelta(hours=3), float("inf")))]}, "not a finite number"),
        ({"signals": [simple_signal((START, timedelta(hours=3), 10**400))]}, "not a finite number"),
        ({"signals": [simple_signal(current_value=float("nan"))]}, "not a finite number"),
        ({"signals": [simple_signal((START, timedelta(hours=3), True))]}, "not a number"),
        ({"modification_number": True}, "bad modification number True"),
        ({"event_id": "evt\x00-1"}, "event id contains a NUL"),
        ({"event_id": "evt-\ud800"}, "event id contains a lone UTF-16 surrogate"),
        ({"event_id": "e" * 10_000 + "\ud800"}, "lone UTF-16 surrogate"),
    ],
)
def test_a_hostile_event_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    reading = read_event(oadr_event(**changes), now=NOW)
    assert isinstance(reading, Refusal), reading
    assert reason in reading.reason
    # What the VEN logs and keeps of it is printable, storable text (ven.py Handled).
    decision = decide(reading, None, vtn_id="VTN", now=NOW)
    assert (decision.event, decision.opt) == (None, "optOut")
    named = dr_event_id_of("VTN", reading.dr_event_id)
    assert "\x00" not in named and named.encode("utf-8") and len(named) <= MAX_DR_EVENT_ID


def test_a_level_that_is_not_a_number_in_a_later_interval_refuses_the_event() -> None:
    signal = simple_signal(
        (START, timedelta(hours=1), 1.0), (START + timedelta(hours=1), timedelta(hours=2), 1e999)
    )
    reading = read_event(oadr_event(signals=[signal]), now=NOW)
    assert isinstance(reading, Refusal) and "not a finite number" in reading.reason
