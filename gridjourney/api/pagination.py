"""Keyset pagination: `limit` and an opaque `cursor` (the sort key of the last item, base64url JSON)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from gridjourney.api.deps import KnownQueryParameters
from gridjourney.api.problems import FieldError, invalid

T = TypeVar("T")

MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")

    @classmethod
    def of(cls, rows: Sequence[T], limit: int, cursor_key: Callable[[T], dict[str, Any]]) -> Self:
        """The first `limit` of `rows`, fetched as `limit + 1`: one more means another page, whose
        cursor is `cursor_key` of the last item shown."""
        items = list(rows[:limit])
        return cls(
            items=items, next_cursor=encode_cursor(cursor_key(items[-1])) if len(rows) > limit else None
        )


class PageParams(BaseModel):
    limit: int
    cursor: dict[str, Any] | None


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, required: tuple[str, ...]) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, dict) or any(name not in key for name in required):
        raise invalid(
            "the cursor is not one this API returned", [FieldError(field="cursor", reason="malformed")]
        )
    return key


def page_params(
    _known: KnownQueryParameters,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> tuple[int, str | None]:
    return limit, cursor


PageQuery = Annotated[tuple[int, str | None], Depends(page_params)]


def cursor_time(value: Any) -> datetime:
    """A timestamp out of a decoded cursor."""
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid(
            "the cursor is not one this API returned", [FieldError(field="cursor", reason="malformed")]
        ) from None


def decode_time_cursor(cursor: str, id_name: str) -> tuple[datetime, Any]:
    """The (timestamp, id) keyset of a listing newest first: a cursor `{"at": ..., id_name: ...}`."""
    key = decode_cursor(cursor, ("at", id_name))
    return cursor_time(key["at"]), key[id_name]
