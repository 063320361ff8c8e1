"""POST /webhooks/twilio/inbound and /status over HTTP: requests signed with the official twilio helper
for the configured public URL are accepted; tampered, re-addressed or unsigned ones get 403
problem+json and record nothing; bad parameters of a signed request get 422 naming them."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.policy.loader import PolicyErrors, load_policy
from gridjourney.policy.model import Policy
from tests.conftest import SHIPPED_POLICY
from tests.events.builders import new_event
from tests.projections.helpers import project

AUTH_TOKEN = "dev-auth-token"  # Settings' default, as in the README's curl
PUBLIC_URL = "http://127.0.0.1:8000"  # public_base_url(settings) when GRIDJOURNEY_PUBLIC_BASE_URL is unset
PHONE = "+15035550142"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def inbound_params(body: str, from_number: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": from_number,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
    }


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `params` to `path`, signed (by default) for exactly that URL and those parameters."""
    url = signed_url or PUBLIC_URL + path
    headers = FORM | {"X-Twilio-Signature": signature(url, signed_params or params)}
    return await client.post(path, content=urlencode(params), headers=headers)


async def add_customer(engine: AsyncEngine, locale: str = "en") -> None:
    consent = {"channel": "sms", "purpose": "informational", "granted": True}
    await project(
        engine,
        new_event("customer.created", "c-1", {"phone": PHONE, "locale": locale}),
        new_event("consent.changed", "c-1", consent, minute=1),
    )


async def logged_events(engine: AsyncEngine) -> list[str]:
    return [event.type for event in await EventStore(engine).read_after(0)]


async def test_a_signed_stop_is_confirmed_in_twiml_and_recorded(
    client: httpx.AsyncClient, engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine)
    response = await post_signed(client, "/webhooks/twilio/inbound", inbound_params("Stop"))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    expected = policy.replies.text("stop", "en", policy.program)
    assert response.text == (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{expected}</Message></Response>'
    )
    recorded = await logged_events(engine)
    assert recorded.count("consent.changed") == 1 + 3 and "suppression.added" in recorded


async def test_an_ordinary_reply_answers_empty_twiml(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await add_customer(engine)
    response = await post_signed(client, "/webhooks/twilio/inbound", inbound_params("thanks"))
    assert response.status_code == 200
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert (await logged_events(engine))[-1] == "message.received"


@pytest.mark.parametrize("tampering", ["body", "url", "query", "missing", "token"])
async def test_unsigned_or_tampered_requests_get_403_and_record_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, tampering: str
) -> None:
    await add_customer(engine)
    before = await logged_events(engine)
    path = "/webhooks/twilio/inbound"
    params = inbound_params("STOP")
    url = PUBLIC_URL + path
    if tampering == "body":  # signed for another text than the one sent
        response = await post_signed(client, path, params, signed_params=params | {"Body": "hello"})
    elif tampering == "url":  # signed for another endpoint
        response = await post_signed(client, path, params, signed_url=PUBLIC_URL + "/webhooks/twilio/status")
    elif tampering == "query":  # a query string added to what was signed
        headers = FORM | {"X-Twilio-Signature": signature(url, params)}
        response = await client.post(path + "?x=1", content=urlencode(params), headers=headers)
    elif tampering == "missing":
        response = await client.post(path, content=urlencode(params), headers=FORM)
    else:
        headers = FORM | {"X-Twilio-Signature": signature(url, params, token="another-token")}
        response = await client.post(path, content=urlencode(params), headers=headers)

    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:gridjourney:problem:invalid-signature"
    reason = "missing" if tampering == "missing" else "does not match"
    assert problem["errors"] == [{"field": "X-Twilio-Signature", "reason": reason}]
    assert await logged_events(engine) == before


async def test_status_callback_with_a_tampered_key_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "30006", "To": PHONE}
    signed_for = f"{PUBLIC_URL}/webhooks/twilio/status?key=run-1%3Awelcome%3Ac-1"
    headers = FORM | {"X-Twilio-Signature": signature(signed_for, params)}
    response = await client.post(
        "/webhooks/twilio/status?key=run-1%3Awelcome%3Ac-2", content=urlencode(params), headers=headers
    )
    assert response.status_code == 403
    assert await logged_events(engine) == []


async def test_a_signed_status_callback_is_recorded_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_customer(engine)
    key = "run-1:welcome:c-1"
    sent = {"idempotency_key": key, "channel": "sms", "template": "welcome_sms"}
    await project(engine, new_event("message.sent", "c-1", sent, minute=2))
    path = f"/webhooks/twilio/status?key={quote(key, safe='')}"
    params = {
        "MessageSid": "SM" + "2" * 32,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "To": PHONE,
    }

    first = await post_signed(client, path, params)
    again = await post_signed(client, path, params)

    assert first.status_code == 200, first.text
    assert first.json() == {
        "event_type": "message.undelivered",
        "recorded": True,
        "suppressed": "unreachable",
    }
    assert again.json() == {"event_type": "message.undelivered", "recorded": False, "suppressed": None}
    events = await EventStore(engine).read_after(0)
    [undelivered] = [event for event in events if event.type == "message.undelivered"]
    assert undelivered.payload["idempotency_key"] == key
    assert [event.type for event in events].count("suppression.added") == 1


async def test_a_sent_status_is_acknowledged_and_not_recorded(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    params = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "sent", "To": PHONE}
    response = await post_signed(client, "/webhooks/twilio/status?key=k-1", params)
    assert response.status_code == 200
    assert response.json() == {"event_type": None, "recorded": False, "suppressed": None}
    assert await logged_events(engine) == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/webhooks/twilio/status", {"MessageSid": "SM" + "4" * 32, "MessageStatus": "delivered"}, "key"),
        (
            "/webhooks/twilio/status?key=k&key=j",
            {"MessageSid": "SM" + "4" * 32, "MessageStatus": "delivered"},
            "key",
        ),
        (
            "/webhooks/twilio/status?key=k",
            {"MessageSid": "SM" + "4" * 32, "MessageStatus": "Delivered!"},
            "MessageStatus",
        ),
        (
            "/webhooks/twilio/status?key=k",
            {"MessageSid": "SM" + "4" * 32, "MessageStatus": "failed", "ErrorCode": "x"},
            "ErrorCode",
        ),
        ("/webhooks/twilio/status?key=k", {"MessageSid": "nope", "MessageStatus": "delivered"}, "MessageSid"),
        (
            "/webhooks/twilio/inbound",
            {"MessageSid": "SM" + "4" * 32, "From": "0800 FLOWERS", "Body": "STOP"},
            "From",
        ),
        (
            "/webhooks/twilio/inbound",
            {"MessageSid": "SM" + "4" * 32, "From": PHONE, "Body": "STOP\x00"},
            "Body",
        ),
        ("/webhooks/twilio/inbound", {"From": PHONE, "Body": "STOP"}, "MessageSid"),
    ],
)
async def test_bad_parameters_of_a_signed_request_get_422_naming_them(
    client: httpx.AsyncClient, engine: AsyncEngine, path: str, params: dict[str, str], field: str
) -> None:
    response = await post_signed(client, path, params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert await logged_events(engine) == []


async def test_a_body_that_is_not_a_form_gets_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/twilio/inbound", json={"Body": "STOP"})
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"


@pytest.fixture
async def proxied_client(
    tmp_path: Path, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> AsyncIterator[httpx.AsyncClient]:
    """The API behind a proxy: Twilio calls the public URL, the API sees its own host."""
    settings = Settings(home=tmp_path / "home", public_base_url="https://hooks.utility.example/gj/")
    app: FastAPI = create_app(settings, engine, temporal_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5") as http:
        yield http


async def test_the_signature_is_checked_against_the_configured_public_url(
    proxied_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_customer(engine)
    path = "/webhooks/twilio/inbound"
    params = inbound_params("HELP")
    as_seen = await post_signed(proxied_client, path, params, signed_url="http://10.0.0.5" + path)
    assert as_seen.status_code == 403
    public = await post_signed(
        proxied_client, path, params, signed_url="https://hooks.utility.example/gj" + path
    )
    assert public.status_code == 200 and "Msg &amp; data rates may apply" in public.text


def policy_client(
    settings: Settings, policy_file: Path, temporal: TemporalClientProvider, engine: AsyncEngine
) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"policy_file": policy_file}), engine, temporal)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")


def break_policy(path: Path) -> None:
    """An edit that no longer loads (an unknown placeholder), saved with a new modification time."""
    text = path.read_text()
    path.write_text(text.replace("{program}: you are unsubscribed", "{programme}: you are unsubscribed"))
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


async def test_a_policy_broken_while_the_api_runs_still_answers_stop_with_the_last_good_one(
    tmp_path: Path,
    settings: Settings,
    engine: AsyncEngine,
    temporal_provider: TemporalClientProvider,
    policy: Policy,
) -> None:
    await add_customer(engine)
    policy_file = tmp_path / "policy.yaml"
    shutil.copyfile(SHIPPED_POLICY, policy_file)
    async with policy_client(settings, policy_file, temporal_provider, engine) as client:
        helped = await post_signed(client, "/webhooks/twilio/inbound", inbound_params("HELP"))
        assert helped.status_code == 200 and "Msg &amp; data rates may apply" in helped.text
        break_policy(policy_file)
        with pytest.raises(PolicyErrors):
            load_policy(policy_file)  # the file is really broken
        stopped = await post_signed(client, "/webhooks/twilio/inbound", inbound_params("STOP"))
    assert stopped.status_code == 200, stopped.text
    assert policy.replies.text("stop", "en", policy.program) in stopped.text
    assert "suppression.added" in await logged_events(engine)


async def test_a_policy_that_never_loaded_is_a_503_problem_not_a_500(
    tmp_path: Path, settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> None:
    await add_customer(engine)
    policy_file = tmp_path / "policy.yaml"
    shutil.copyfile(SHIPPED_POLICY, policy_file)
    break_policy(policy_file)
    async with policy_client(settings, policy_file, temporal_provider, engine) as client:
        response = await post_signed(client, "/webhooks/twilio/inbound", inbound_params("STOP"))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "{programme}" in response.json()["detail"]


# The README's tour: the signature of a curl STOP, computed with the twilio helper in one line.
README_SIGNATURE_COMMAND = (
    "from twilio.request_validator import RequestValidator as V; "
    "print(V('dev-auth-token').compute_signature('http://127.0.0.1:8000/webhooks/twilio/inbound', "
    "{'From': '+15035550142', 'To': '+15005550006', 'Body': 'STOP', "
    "'MessageSid': 'SM00000000000000000000000000000001'}))"
)


async def test_the_readme_one_liner_signs_a_stop_the_api_accepts(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_customer(engine, locale="es")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", README_SIGNATURE_COMMAND, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert process.returncode == 0
    params = {
        "From": "+15035550142",
        "To": "+15005550006",
        "Body": "STOP",
        "MessageSid": "SM00000000000000000000000000000001",
    }
    headers = FORM | {"X-Twilio-Signature": output.decode().strip()}
    response = await client.post("/webhooks/twilio/inbound", content=urlencode(params), headers=headers)
    assert response.status_code == 200, response.text
    assert "se canceló su suscripción" in response.text
