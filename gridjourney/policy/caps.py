"""Frequency caps: at most `max` messages of a purpose on a channel (or on any) in a rolling window.

Pure: the counts come from the send ledger (activities/ledger.py `count_reserved`), read by
activities/eligibility.py under the customer's lock, so that two decisions cannot both take the last
place under a cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from gridjourney.dsl.durations import format_duration
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.policy.model import FrequencyCap, PurposeRules

FREQUENCY_CAP = "frequency_cap"


def counted_channel(cap: FrequencyCap) -> Channel | None:
    """The channel a cap counts; None: every channel."""
    return None if cap.channel == "any" else cap.channel


def window_start(cap: FrequencyCap, now: datetime) -> datetime:
    return now - cap.per


def applicable(rules: PurposeRules, channel: Channel) -> list[FrequencyCap]:
    """The caps a message on `channel` counts against; none when the purpose is exempt."""
    if "frequency_caps" in rules.exempt_from:
        return []
    return [cap for cap in rules.caps if cap.channel in (channel, "any")]


def describe(cap: FrequencyCap, purpose: Purpose) -> str:
    """E.g. `3 informational sms in 7d`, `5 marketing messages in 30d`."""
    what = "messages" if cap.channel == "any" else cap.channel
    return f"{cap.max} {purpose} {what} in {format_duration(cap.per)}"


def reached(
    rules: PurposeRules, purpose: Purpose, channel: Channel, used: Mapping[FrequencyCap, int]
) -> FrequencyCap | None:
    """The first cap one more message on `channel` would exceed, given the messages already counted
    under each cap (`used`); None when it may go."""
    for cap in applicable(rules, channel):
        if used.get(cap, 0) >= cap.max:
            return cap
    return None
