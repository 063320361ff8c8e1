"""Each character of a YAML string stands where the file has it, in every style PyYAML reads: the
value and its start come from PyYAML itself."""

from __future__ import annotations

import pytest
import yaml

from gridjourney.dsl.scalar_source import value_places

STYLES = [
    "when: customer.segment == 'flat'  # a comment",
    "when: customer.segment\n  == 'flat'\n\n  and x",
    'when: "a \\"b\\" \\\\ \\t \\u00e9\\x41\\U0001F600 c"',
    'when: "line one  \n   line two\n\n\n  three \\\n   joined"',
    "when: 'it''s ''quoted''\n  over lines'",
    "when: [x, \"y \\\"z\\\"\", 'w''v']",
    'when: {a: "b\\"c", d: e f}',
    "when: |\n  first\n    indented\n\n  last\n",
    "when: |-\n  first\n  second\nnext: 1\n",
    "when: >\n  folded\n  words\n\n  paragraph\n    more\n  back\n",
    "when: >+\n  kept\n\n",
]


def _scalars(document: str) -> list[yaml.ScalarNode]:
    found: list[yaml.ScalarNode] = []
    pending = [yaml.compose(document)]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.ScalarNode):
            found.append(node)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            pending.extend(part for pair in node.value for part in pair)
    return found


@pytest.mark.parametrize("document", STYLES)
def test_each_character_stands_where_the_file_has_it(document: str) -> None:
    lines = document.splitlines()
    for node in _scalars(document):
        value = node.value
        places = value_places(lines, node.start_mark.line + 1, node.start_mark.column + 1, value)
        assert places is not None, (document, value)
        assert len(places) == len(value.rstrip("\n")) or len(places) == len(value)
        assert places == sorted(places)
        for character, (line, column) in zip(value, places, strict=False):
            if character.isalnum() and character.isascii():
                # an escape (\x41) stands at its backslash
                assert lines[line][column] in (character, "\\"), (document, value, character, line, column)


def test_a_value_the_file_does_not_read_as_has_no_places() -> None:
    lines = ['when: "customer.segment"']
    assert value_places(lines, 1, 7, "customer.segmnet") is None
    assert value_places(lines, 1, 7, "customer.segment") is not None
    assert value_places(lines, 2, 1, "x") is None
    assert value_places(lines, 1, 40, "x") is None


def test_what_it_does_not_follow_has_no_places() -> None:
    tagged = "when: !!str customer.segment"
    [node] = [n for n in _scalars(tagged) if n.value != "when"]
    assert value_places([tagged], 1, node.start_mark.column + 1, node.value) is None
    explicit = "when: |2\n    indented\n".splitlines()
    assert value_places(explicit, 1, 7, "  indented\n") is None
