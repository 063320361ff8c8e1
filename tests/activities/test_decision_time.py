"""The time a send is judged at: the wall clock, or a Temporal server clock that is ahead of it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from gridjourney.activities import decision_time


def _scheduled_at(moment: datetime) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, current_attempt_scheduled_time=moment)
    return environment


def test_a_time_skipping_server_ahead_of_the_wall_clock_sets_the_time() -> None:
    # a deferral to 09:00 fires at 09:00 server time while the wall clock still reads 22:00
    ahead = datetime.now(UTC) + timedelta(hours=11)
    assert _scheduled_at(ahead).run(decision_time) == ahead


def test_a_task_that_waited_in_the_queue_is_judged_at_the_wall_clock() -> None:
    before = datetime.now(UTC)
    judged = _scheduled_at(before - timedelta(minutes=5)).run(decision_time)
    assert before <= judged <= datetime.now(UTC)


def test_outside_an_activity_it_is_the_wall_clock() -> None:
    before = datetime.now(UTC)
    assert before <= decision_time() <= datetime.now(UTC)
