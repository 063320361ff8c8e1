"""Reading a Prometheus exposition in tests: one sample's value by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sample's value; 0 for a series not exported (yet), as Prometheus treats a missing counter."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}
