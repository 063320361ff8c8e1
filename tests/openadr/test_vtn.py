"""The local VTN: loopback only (it registers VENs without certificates), and a busy port is a clear
error naming the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridjourney.channels.standin_server import StandInPortBusy
from gridjourney.openadr.vtn import LocalVtn, local_vtn


def test_it_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        LocalVtn(host="0.0.0.0")


async def test_a_busy_port_names_the_setting() -> None:
    async with local_vtn() as first:
        with pytest.raises(StandInPortBusy, match="GRIDJOURNEY_LOCAL_VTN_PORT"):
            await LocalVtn(port=first.port).start()


async def test_modifying_or_cancelling_an_unknown_event_is_a_clear_error() -> None:
    vtn = LocalVtn()
    vtn.add_event(
        ven_name="v", program="ptr", start=datetime.now(UTC) + timedelta(hours=1), duration=timedelta(hours=1)
    )
    with pytest.raises(KeyError, match="no event evt-x for VEN v"):
        vtn.modify_event("evt-x", ven_name="v", level=2)
    with pytest.raises(KeyError, match="no event evt-x for VEN w"):
        vtn.cancel_event("evt-x", ven_name="w")


def test_versions_of_an_event_count_up() -> None:
    vtn = LocalVtn()
    event_id = vtn.add_event(
        ven_name="v", program="ptr", start=datetime.now(UTC) + timedelta(hours=1), duration=timedelta(hours=1)
    )
    assert vtn.modify_event(event_id, ven_name="v", duration=timedelta(hours=2)) == 1
    assert vtn.cancel_event(event_id, ven_name="v") == 2


def test_a_simple_level_outside_0_to_3_is_refused() -> None:
    vtn = LocalVtn()
    start = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ValueError, match=r"0, 1, 2 or 3, not 1\.5"):
        vtn.add_event(ven_name="v", program="ptr", start=start, duration=timedelta(hours=1), level=1.5)
    event_id = vtn.add_event(ven_name="v", program="ptr", start=start, duration=timedelta(hours=1), level=3)
    with pytest.raises(ValueError, match="not 4"):
        vtn.modify_event(event_id, ven_name="v", level=4)
