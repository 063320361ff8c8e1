"""The unsubscribe pages (GET /u/{token} and the page its POST answers) may not be framed: another
site could lay the one button under a decoy and have the customer click it (clickjacking). Their
policy lets them load nothing, post only back to themselves, and keep the token from referrers."""

from __future__ import annotations

import re

import httpx

from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.config import Settings
from tests.api.test_unsubscribe import ONE_CLICK, emailed_link, standin  # noqa: F401 (the fixture)


def policy(response: httpx.Response) -> dict[str, str]:
    directives = (
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";")
    )
    return {name: value for name, value in directives}


def assert_unframeable(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-frame-options"] == "DENY"
    csp = policy(response)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["default-src"] == "'none'" and csp["form-action"] == "'self'"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    # What the page holds keeps to that policy: no script, nothing loaded, a form posting to itself.
    assert "<script" not in response.text and not re.search(r"\s(src|href|action)=", response.text)


async def test_the_unsubscribe_pages_cannot_be_framed(
    client: httpx.AsyncClient,
    settings: Settings,
    standin: SendGridStandIn,  # noqa: F811 (the fixture)
) -> None:
    path = await emailed_link(settings, standin, "marketing")
    page = await client.get(path)
    assert_unframeable(page)
    assert '<form method="post">' in page.text
    done = await client.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert_unframeable(done)
    assert "no longer receive" in done.text
