"""Property-based: any text given to the journey loader gives a journey or JourneyErrors, never another
exception, and every error has a position."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridjourney.dsl.loader import JourneyErrors, LoadedJourney, load_journey_with_positions

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Fragments a journey is made of, so that generated files get past the YAML layer into the schema.
KEYS = ["id", "name", "purpose", "trigger", "event", "steps", "send", "wait", "channels", "template", "when"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["3d", "9:30", "sms", "informational", "safety", "bill.projection_updated", "2025-02-30"]
    ),
)
DATA = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
YAML_NOISE = st.sampled_from(
    [
        "&a ",
        "*a ",
        "<<: ",
        "- ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        "\n  ",
        "!!python/object ",
        "%YAML 1.1\n",
        "---\n",
        "\t",
        "\x00",
        "\ufeff",
        "'",
        '"',
        "#",
    ]
)


def loads_or_refuses(text: str) -> None:
    try:
        assert isinstance(load_journey_with_positions(text, "p.yaml"), LoadedJourney)
    except JourneyErrors as errors:
        assert errors.errors
        assert all(
            error.line >= 1 and error.column >= 1 and error.file == "p.yaml" for error in errors.errors
        )


@FAST
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    loads_or_refuses(text)


@FAST
@given(st.lists(YAML_NOISE | st.sampled_from(KEYS) | st.text(max_size=5), max_size=40).map("".join))
def test_yaml_shaped_noise(text: str) -> None:
    loads_or_refuses(text)


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), DATA, min_size=1, max_size=6))
def test_journey_shaped_documents(document: dict[str, Any]) -> None:
    loads_or_refuses(yaml.safe_dump(document, allow_unicode=True))
