"""Unsubscribe tokens: signed with secrets derived from the encryption keys, readable after a key
rotation while the old key stays listed, refused when altered; using one records the revocation
under the customer's lock."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime

import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.inbound.unsubscribe import (
    InvalidUnsubscribeToken,
    Unsubscribe,
    UnsubscribeLinks,
    link_secrets,
    record_unsubscribe,
    unsubscribe_links,
)


def key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


def test_a_token_names_customer_channel_and_purpose() -> None:
    links = UnsubscribeLinks([b"s"], "https://gj.example/")
    url = links.url("C-1001", "email", "marketing")
    assert url.startswith("https://gj.example/u/")
    token = url.removeprefix("https://gj.example/u/")
    assert links.read(token) == Unsubscribe("C-1001", "email", "marketing")
    assert "/" not in token and "?" not in token  # one path segment


def test_links_sent_before_tokens_stopped_compressing_still_read() -> None:
    """Tokens were itsdangerous's URL-safe ones, compressed when that was shorter; now never
    compressed. Short ones come out byte for byte as before, and compressed ones still read."""
    secrets = [b"old-secret", b"active-secret"]
    links = UnsubscribeLinks(secrets, "https://gj.example")
    before = URLSafeSerializer(secrets, salt="gridjourney.unsubscribe")
    assert links.token("C-1001", "email", "marketing") == before.dumps(["C-1001", "email", "marketing"])
    long_id = "C-" + "1001" * 20  # long enough that the old tokens compressed it
    compressed = before.dumps([long_id, "email", "marketing"])
    assert compressed.startswith(".")
    assert links.read(compressed) == Unsubscribe(long_id, "email", "marketing")
    assert not links.token(long_id, "email", "marketing").startswith(".")
    assert links.read(links.token(long_id, "email", "marketing")) == Unsubscribe(
        long_id, "email", "marketing"
    )


def test_links_survive_a_key_rotation_while_the_old_key_is_listed() -> None:
    old, new = key(), key()
    before = Settings(encryption_keys={"k1": old}, encryption_key_id="k1")
    token = unsubscribe_links(before).token("c1", "email", "informational")
    rotated = Settings(encryption_keys={"k1": old, "k2": new}, encryption_key_id="k2")
    assert unsubscribe_links(rotated).read(token) == Unsubscribe("c1", "email", "informational")
    assert unsubscribe_links(rotated).token("c1", "email", "informational") != token  # k2 signs now
    dropped = Settings(encryption_keys={"k2": new}, encryption_key_id="k2")
    with pytest.raises(InvalidUnsubscribeToken):
        unsubscribe_links(dropped).read(token)


def test_every_process_of_a_deployment_agrees_on_the_secret() -> None:
    """The worker signs, the API reads: two Settings of the same keys give the same secrets."""
    keys = {"k1": key()}
    worker = Settings(encryption_keys=keys, encryption_key_id="k1")
    api = Settings(encryption_keys=keys, encryption_key_id="k1")
    assert link_secrets(worker) == link_secrets(api)
    token = unsubscribe_links(worker).token("c1", "sms", "safety")
    assert unsubscribe_links(api).read(token) == Unsubscribe("c1", "sms", "safety")
    other = Settings(encryption_keys={"k1": key()}, encryption_key_id="k1")
    with pytest.raises(InvalidUnsubscribeToken):
        unsubscribe_links(other).read(token)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: (
            base64.urlsafe_b64encode(json.dumps(["c2", "email", "marketing"]).encode()).decode().rstrip("=")
            + "."
            + token.split(".")[1]
        ),
        lambda token: token.split(".")[0],
        lambda token: "",
    ],
)
def test_an_altered_token_is_refused(tamper: object) -> None:
    links = UnsubscribeLinks([b"s"], "https://gj.example")
    token = links.token("c1", "email", "marketing")
    assert callable(tamper)
    with pytest.raises(InvalidUnsubscribeToken, match="altered"):
        links.read(tamper(token))


def test_a_signed_token_of_another_shape_is_refused() -> None:
    links = UnsubscribeLinks([b"s"], "https://gj.example")
    serializer = links._serializer  # the same signer, other content: as an older or newer version might
    for content in (["c1", "fax", "marketing"], ["c1", "email"], ["bad id!", "email", "marketing"], {"c": 1}):
        with pytest.raises(InvalidUnsubscribeToken, match="names no customer"):
            links.read(str(serializer.dumps(content)))


async def test_an_unsubscribe_waits_for_the_lock_send_decisions_hold(engine: AsyncEngine) -> None:
    """A send decision holds the customer's lock (activities/ledger.py) from reading consent to
    reserving the send: a revocation must not be recorded in between."""
    store = EventStore(engine)
    request = Unsubscribe("c1", "email", "marketing")
    async with engine.begin() as deciding:
        await ledger.lock_customer(deciding, "c1")
        click = asyncio.create_task(record_unsubscribe(store, request, datetime.now(UTC)))
        await asyncio.sleep(0.5)
        assert not click.done()  # waiting for the decision's transaction
        assert [e.type for e in await store.read_customer("c1")] == []
    assert await asyncio.wait_for(click, timeout=10) is True
    [event] = await store.read_customer("c1")
    assert event.type == "consent.changed" and event.payload["granted"] is False
    assert await record_unsubscribe(store, request, datetime.now(UTC)) is False  # already revoked
