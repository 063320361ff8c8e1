"""The ETR notice rule: moved by more than the margin, at most once per period, first estimate always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gridjourney.incidents.etr import etr_notice_due

NOW = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
ETR = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def test_the_first_estimate_is_always_due_and_no_estimate_never() -> None:
    assert etr_notice_due(None, None, ETR, NOW)
    assert etr_notice_due(None, NOW - minutes(1), ETR, NOW)  # a detected notice without an ETR came first
    assert not etr_notice_due(None, None, None, NOW)
    assert not etr_notice_due(ETR, HOUR_AGO, None, NOW)


def test_an_estimate_must_move_by_more_than_the_margin_either_way() -> None:
    assert not etr_notice_due(ETR, HOUR_AGO, ETR + minutes(30), NOW)  # exactly the margin: not more
    assert etr_notice_due(ETR, HOUR_AGO, ETR + minutes(31), NOW)
    assert not etr_notice_due(ETR, HOUR_AGO, ETR - minutes(30), NOW)
    assert etr_notice_due(ETR, HOUR_AGO, ETR - minutes(31), NOW)  # sooner counts too
    assert etr_notice_due(ETR, HOUR_AGO, ETR + minutes(11), NOW, more_than=minutes(10))


def test_at_most_one_notice_per_period() -> None:
    moved = ETR + minutes(90)
    assert not etr_notice_due(ETR, NOW - minutes(59), moved, NOW)
    assert etr_notice_due(ETR, NOW - minutes(60), moved, NOW)
    assert etr_notice_due(ETR, NOW - minutes(16), moved, NOW, at_most_every=minutes(15))


def test_none_drops_a_condition_but_the_same_estimate_is_never_due() -> None:
    assert etr_notice_due(ETR, NOW, ETR + minutes(1), NOW, more_than=None, at_most_every=None)
    assert not etr_notice_due(ETR, NOW, ETR, NOW, more_than=None, at_most_every=None)
    assert not etr_notice_due(ETR, NOW, ETR + minutes(31), NOW, more_than=None)  # the rate still holds


offsets = st.integers(min_value=-600, max_value=600).map(minutes)


@given(last_moved=offsets, elapsed=st.integers(min_value=0, max_value=600).map(minutes), move=offsets)
def test_due_exactly_when_moved_beyond_the_margin_and_the_period_has_passed(
    last_moved: timedelta, elapsed: timedelta, move: timedelta
) -> None:
    last_etr = ETR + last_moved
    due = etr_notice_due(last_etr, NOW - elapsed, last_etr + move, NOW)
    assert due == (abs(move) > minutes(30) and elapsed >= minutes(60))


def test_a_move_held_back_by_the_rate_limit_is_told_at_the_next_update_after_the_period() -> None:
    """The caller remembers the ETR it last told, not the last one it received: an estimate held
    back by the hourly limit still counts as news against what the customers were told."""
    told_etr, told_at = ETR, NOW
    told: list[tuple[int, datetime]] = []
    # (minutes after NOW, new estimate): 19:00 comes too soon after the last notice; 19:10 moved
    # only 10 minutes from 19:00 but 70 from the 18:00 the customers know.
    updates = [(10, ETR + minutes(60)), (70, ETR + minutes(70)), (80, ETR + minutes(75))]
    for at, new_etr in updates:
        if etr_notice_due(told_etr, told_at, new_etr, NOW + minutes(at)):
            told_etr, told_at = new_etr, NOW + minutes(at)
            told.append((at, new_etr))
    assert told == [(70, ETR + minutes(70))]
