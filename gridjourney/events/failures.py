"""How a subscription judges a handler's error: transient (retry later, never set the event aside) or
caused by the event (set it aside as a dead letter), and how the error is described without the data.
"""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
from pydantic import ValidationError

from gridjourney.outages import outage

MAX_DESCRIPTION = 1000


class Interrupted(Exception):
    """A handler gave up on its batch because its subscription is stopping: the batch is not done,
    so its checkpoint must not move, and nothing is wrong with its events."""


def is_transient(error: BaseException) -> bool:
    """True for failures of a dependency (database connection, serialization conflict, timeout,
    Temporal unavailable): the same event will probably succeed later, so it must not be set aside."""
    if isinstance(error, Interrupted | ConnectionError | TimeoutError) or outage(error) is not None:
        return True
    cause = error.__cause__
    return cause is not None and cause is not error and is_transient(cause)


def describe(error: BaseException) -> str:
    """The error's class and message, without the values it was raised about.

    Database errors give only the server's primary message (their DETAIL line and SQLAlchemy's
    rendering quote row values); validation errors give each field and rule, never the input.
    """
    original = error.orig if isinstance(error, sqlalchemy.exc.StatementError) else None
    if isinstance(original, psycopg.Error):
        primary = original.diag.message_primary or str(original).splitlines()[0]
        text = f"{type(original).__name__}: {primary}"
    elif isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(root)'}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        text = f"ValidationError: {problems}"
    elif isinstance(error, sqlalchemy.exc.StatementError):
        text = f"{type(error).__name__}: {type(original).__name__ if original else 'statement failed'}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_DESCRIPTION]
