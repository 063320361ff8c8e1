"""A database that cannot be reached, told in one line: the first thing an operator runs (`db status`)
should not answer a stopped Postgres with two hundred lines of driver traceback."""

from __future__ import annotations

from collections.abc import Iterator


def unreachable_database(error: BaseException) -> str | None:
    """The driver's reason when `error` (or an exception it wraps or groups) is a failure to reach
    the database at all, else None. psycopg marks such failures by having no SQLSTATE: the server
    never answered, so it is no error of a statement."""
    import psycopg

    for cause in _causes(error):
        if isinstance(cause, psycopg.OperationalError) and cause.sqlstate is None:
            return " ".join(str(cause).split())
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
