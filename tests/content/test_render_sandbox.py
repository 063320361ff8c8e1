"""The templates' sandbox (content/render.py `_Sandbox`) answers an attribute exactly as Jinja's
SandboxedEnvironment does, its shortcut for plain dicts included."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import StrictUndefined, Undefined
from jinja2.sandbox import SandboxedEnvironment

from gridjourney.content.render import _Sandbox

OURS, JINJAS = _Sandbox(undefined=StrictUndefined), SandboxedEnvironment(undefined=StrictUndefined)
NAMES = ["name", "items", "get", "keys", "__class__", "__init__", "mro", "__name__", "missing", "format"]


def answer(env: SandboxedEnvironment, obj: Any, name: str) -> tuple[str, Any]:
    found = env.getattr(obj, name)
    if isinstance(found, Undefined):
        return "undefined", (found._undefined_name, found._undefined_hint)
    if callable(found):  # a str's `format` comes wrapped anew on each look-up
        return "callable", type(found)
    return "value", found


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "obj",
    [
        {"name": "Ana", "items": "shadowed", "get": 1, "__class__": "x", "mro": 2},
        {},
        OrderedDict(name="Ana"),
        "text",
        None,
    ],
    ids=["dict", "empty", "dict_subclass", "str", "none"],
)
def test_an_attribute_is_the_sandboxs_own(obj: Any, name: str) -> None:
    assert answer(OURS, obj, name) == answer(JINJAS, obj, name)


IDENTIFIERS = st.from_regex(r"[A-Za-z_]\w{0,10}", fullmatch=True)


@given(keys=st.lists(st.text(max_size=8), max_size=5), name=IDENTIFIERS)
def test_any_dict_key_reads_as_the_sandbox_reads_it(keys: list[str], name: str) -> None:
    obj = {key: f"value of {key}" for key in [*keys, name][: len(keys) + len(name) % 2]}
    assert answer(OURS, obj, name) == answer(JINJAS, obj, name)


def test_templates_print_the_same() -> None:
    source = "{{ c.name }}|{{ c.items is defined }}|{{ c.get('x', 'd') }}|{{ c.nested.deep }}"
    context = {"c": {"name": "<Ana>", "x": 1, "nested": {"deep": "yes"}}}
    assert OURS.from_string(source).render(context) == JINJAS.from_string(source).render(context)
