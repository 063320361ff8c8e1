"""When an outage's new estimated time of restoration (ETR) is worth a message.

Customers are told of an ETR change only when the estimate moved by more than a margin since the one
they were last told, and at most once per period: a storm's estimates move every few minutes, and a
text for each would be noise. Pure (no I/O), so the cohort workflow may call it in its code.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_MORE_THAN = timedelta(minutes=30)
DEFAULT_AT_MOST_EVERY = timedelta(hours=1)


def etr_notice_due(
    last_notified_etr: datetime | None,
    last_notified_at: datetime | None,
    new_etr: datetime | None,
    now: datetime,
    more_than: timedelta | None = DEFAULT_MORE_THAN,
    at_most_every: timedelta | None = DEFAULT_AT_MOST_EVERY,
) -> bool:
    """Whether to notify `new_etr`, given the ETR last notified (None: none yet) and when.

    The first estimate is always due; a later one only when it differs from the last notified by more
    than `more_than` (either way: later or sooner) and the last notice is at least `at_most_every`
    old. `more_than` None: any move is enough; `at_most_every` None: no rate limit. No new estimate,
    or the same one again, is never due.
    """
    if new_etr is None:
        return False
    if last_notified_etr is None:
        return True
    if abs(new_etr - last_notified_etr) <= (more_than or timedelta(0)):
        return False
    return at_most_every is None or last_notified_at is None or now - last_notified_at >= at_most_every
