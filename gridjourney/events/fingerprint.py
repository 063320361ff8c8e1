"""The fingerprint of an event's content: what makes a repeated `event_id` the same event or a conflict.

Two appends with one `event_id` are the same event when their type, customer, time, source, payload and
schema version are equal; the digest is taken over a canonical JSON form (sorted keys, UTC time, the
payload as validated), so formatting differences of the sender do not count as a change.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

# One encoder for every event: json.dumps with these options builds a new one on each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_content(
    *,
    event_type: str,
    customer_id: str | None,
    occurred_at: datetime,
    source: str,
    payload: dict[str, Any],
    schema_version: int,
) -> bytes:
    content = {
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "source": source,
        "payload": payload,
        "schema_version": schema_version,
    }
    return _CANONICAL.encode(content).encode()


def fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
