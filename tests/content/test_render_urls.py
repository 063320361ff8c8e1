"""A push template's `URL:` line holds no whitespace of any kind (content/render.py split_url)."""

from __future__ import annotations

import pytest

from gridjourney.content import TemplateProblem
from gridjourney.content.render import split_url


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2028", "\x1c", "\u3000"])
def test_a_url_holding_whitespace_is_refused(space: str) -> None:
    with pytest.raises(TemplateProblem, match="the `URL:` line"):
        split_url(f"URL: https://cascadepower.example/a{space}b\nBody", "push/en/t.j2")


def test_a_url_without_whitespace_is_taken_off_the_body() -> None:
    assert split_url("URL: /bills?id=1\n\nSee your bill.", "push/en/t.j2") == (
        "/bills?id=1",
        "See your bill.",
    )
