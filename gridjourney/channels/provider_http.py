"""The aiohttp session a provider call goes through, set up for a send worker's thousands of calls.

Every caller bounds the whole call with `asyncio.timeout` (channels/sms.py, channels/push.py), so the
session keeps no timeouts of its own: aiohttp's default (5 minutes in total, 30 s to connect) armed
and cancelled two timer handles per request for a bound that could never be reached first. Provider
APIs set no cookies a sender needs, so the jar neither stores nor filters any.
"""

from __future__ import annotations

import aiohttp

from gridjourney.observability.provider_calls import provider_trace_config

NO_SESSION_TIMEOUT = aiohttp.ClientTimeout()  # total, connect, sock_read, sock_connect: all None


def provider_session(provider: str) -> aiohttp.ClientSession:
    """A session for calls to `provider` (the metrics' label: twilio, webpush) whose deadline the
    caller sets (inside a running event loop)."""
    # the trace config measures each call's latency (and traces it when tracing is on)
    return aiohttp.ClientSession(
        timeout=NO_SESSION_TIMEOUT,
        cookie_jar=aiohttp.DummyCookieJar(),
        trace_configs=[provider_trace_config(provider)],
    )
