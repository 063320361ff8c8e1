"""Which template sources a journey version pins when it is published (dsl/registry.py stores them):
those its sends and cohort notices render from (content/pinned.py `send_paths` and `collect`). Kept
apart from the registry so that `journeys validate` can say what publishing would refuse without
reaching for the database's modules."""

from __future__ import annotations

from pathlib import Path

from gridjourney.content.pinned import PinProblem, collect, send_paths
from gridjourney.content.render import text_environment
from gridjourney.dsl.loader import JourneyError, JourneyErrors, LoadedJourney
from gridjourney.dsl.template_checks import sends


def pin_templates(loaded: LoadedJourney, templates_dir: Path | None) -> dict[str, str]:
    """The sources the journey's sends render from (every locale, the email's HTML part and layout,
    what they include, extend or import), by path; {} without a templates folder. Raises
    JourneyErrors, each at its send's `template`, for a template that cannot be pinned."""
    if templates_dir is None:
        return {}
    environment = text_environment(templates_dir)
    sources: dict[str, str] = {}
    errors: list[JourneyError] = []
    reported: set[str] = set()  # a template two sends use is reported once, at the first
    for use in sends(loaded.definition, None, set()):
        for channel in dict.fromkeys(use.send.channels):
            found, problems = collect(environment, send_paths(templates_dir, channel, use.send.template))
            sources.update(found)
            for problem in problems:
                if problem.where not in reported:
                    reported.add(problem.where)
                    errors.append(_pin_error(loaded, (*use.path, "template"), problem))
    if errors:
        raise JourneyErrors(errors)
    return sources


def _pin_error(loaded: LoadedJourney, path: tuple[str | int, ...], problem: PinProblem) -> JourneyError:
    return loaded.positions.error(path, str(problem), problem.hint)
