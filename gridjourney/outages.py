"""Which exceptions of the database and Temporal clients mean "the dependency is down" rather than a
bug. One answer for every caller: the API turns an outage into a 503 with Retry-After
(api/problems.py), a subscription retries the batch later instead of setting its events aside
(events/failures.py)."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
from temporalio.service import RPCError, RPCStatusCode

_TEMPORAL_DOWN = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
    }
)


def outage(exc: BaseException) -> str | None:
    """The dependency whose outage `exc` shows ("database", "temporal"), or None for other errors."""
    # Connection refused or lost, a pool with no free connection, a statement cancelled by the server.
    database_down = (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.TimeoutError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.DisconnectionError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
    )
    if isinstance(exc, database_down):
        return "database"
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    if isinstance(exc, RPCError) and exc.status in _TEMPORAL_DOWN:
        return "temporal"
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return "temporal"  # temporalio's error when the server cannot be reached
    return None
