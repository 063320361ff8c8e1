"""The four journeys in journeys/ validate cleanly against templates/, and their texts fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridjourney.content.preview import preview_sms
from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import load_journey_with_positions
from gridjourney.dsl.schema import STEP_KINDS, JourneyDefinition, SendStep

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ROOT / "journeys"
TEMPLATES = ROOT / "templates"
NAMES = ["onboarding", "high_bill_alert", "dr_event", "outage_notice", "usage_spike"]


def load(name: str) -> JourneyDefinition:
    path = JOURNEYS / f"{name}.yaml"
    loaded = load_journey_with_positions(path.read_text(), str(path))
    assert check_journey(loaded.definition, loaded.positions, TEMPLATES) == []
    return loaded.definition


@pytest.mark.parametrize("name", NAMES)
def test_journey_validates_cleanly(name: str) -> None:
    assert load(name).id == name


def test_every_step_kind_is_used() -> None:
    used = {kind for name in NAMES for step in load(name).steps for kind in STEP_KINDS if hasattr(step, kind)}
    assert used == set(STEP_KINDS)


@pytest.mark.parametrize("name", NAMES)
def test_every_send_has_english_and_spanish_and_fits_two_segments(name: str) -> None:
    definition = load(name)
    for step in definition.steps:
        if not isinstance(step, SendStep):
            continue
        for channel in step.send.channels:
            for locale in ("en", "es"):
                assert (TEMPLATES / channel / locale / f"{step.send.template}.j2").is_file()
        if "sms" in step.send.channels:
            previews = preview_sms(
                TEMPLATES, step.send.template, definition.trigger[0].event, definition.id, marketing=True
            )
            assert {p.template_path.split("/")[1] for p in previews} == {"en", "es"}
            for preview in previews:
                assert 1 <= preview.segments <= 2, preview
                if definition.purpose != "safety":
                    assert preview.warning is None, preview
