"""VAPID tokens (RFC 8292), one per push service, reused for as long as they are valid.

A token names the push service's origin (`aud`) and an expiry (`exp`, at most 24 hours ahead), not
the message: every push to the same service may carry the same one. Signing one per message was an
ECDSA signature each (about 0.4 ms); a cohort of 20,000 pushes through a handful of services now
signs a handful. A token is renewed `renew_before` its expiry, so none goes out about to expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from py_vapid import Vapid

TOKEN_LIFETIME = timedelta(hours=12)
RENEW_BEFORE = timedelta(hours=1)


@dataclass(frozen=True)
class _Token:
    headers: dict[str, str]
    renew_at: float


class VapidTokens:
    """The `Authorization` header for a push endpoint, signed once per origin and period."""

    def __init__(
        self,
        vapid: Vapid,
        subject: str,
        *,
        lifetime: timedelta = TOKEN_LIFETIME,
        renew_before: timedelta = RENEW_BEFORE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if renew_before >= lifetime:
            raise ValueError("a VAPID token must be renewed before it expires")
        self.vapid = vapid
        self.subject = subject
        self.signed = 0  # tokens signed so far
        self._lifetime = lifetime.total_seconds()
        self._renew_before = renew_before.total_seconds()
        self._clock = clock
        self._tokens: dict[str, _Token] = {}

    def headers(self, endpoint: str) -> dict[str, str]:
        """A copy of the headers that authorize a push to `endpoint`."""
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = self._clock()
        token = self._tokens.get(origin)
        if token is None or now >= token.renew_at:
            expires = int(now + self._lifetime)
            claims = {"sub": self.subject, "aud": origin, "exp": expires}
            token = _Token(headers=dict(self.vapid.sign(claims)), renew_at=expires - self._renew_before)
            self._tokens[origin] = token
            self.signed += 1
        return dict(token.headers)
