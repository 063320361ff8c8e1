"""`column IN (values)` as `column = ANY(:values)`: one array parameter, whatever the number of values.

An expanded IN renders one parameter per value, so a batch's statement is new text for every size,
and psycopg parses (and cannot prepare) a statement over 50 parameters on each execution. With one
array parameter the text is the same for any batch: SQLAlchemy compiles it once, psycopg parses it
once and prepares it once per connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement


def any_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """The rows whose `column` is one of `values` (none when `values` is empty)."""
    return column == any_(literal(list(values), ARRAY(column.type)))
