from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gridjourney.channels.twilio_standin import TwilioStandIn

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "standin-test-token"


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    async with TwilioStandIn("127.0.0.1", 0, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as running:
        yield running
