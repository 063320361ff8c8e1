"""espi_xml: the undeclared-prefix repair reads the file with expat, not regexes over its bytes, so
hostile files of megabytes parse or are refused in one linear pass (they once took hours: a regex
rescanned to the end for every unterminated `<!--`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from gridjourney.metering import espi_xml
from gridjourney.metering.espi_xml import ATOM_NS, ESPI_NS, KNOWN_PREFIXES, PATH_SHOWN, parse_xml
from gridjourney.metering.greenbutton import GreenButtonError

MB = 1_000_000
# Far beyond what a linear parse of a few MB needs (well under a second), far below what the
# quadratic scan took (an 80 KB file took 10 s, so 2 MB would take hours): a bound, not a measurement.
GENEROUS_S = 120
CHILD = """
import json, sys
from gridjourney.metering.espi_xml import parse_xml
from gridjourney.metering.errors import GreenButtonError
try:
    root, notes = parse_xml(sys.stdin.buffer.read())
    print(json.dumps({"root": root.tag, "notes": notes}))
except GreenButtonError as exc:
    print(json.dumps({"refused": [exc.element, exc.reason, exc.line]}))
"""


def _parsed_in_a_child(data: bytes) -> dict[str, object]:
    """parse_xml's outcome, in its own process so that a runaway parse is stopped (the regex engine does
    not hear pytest-timeout's signal)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=data, capture_output=True, timeout=GENEROUS_S, check=True
    )
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


def _prefixed_elsewhere(size: int) -> bytes:
    """Prefixes each declared on one element and used (undeclared) on a later one."""
    count = size // 60
    declared = b"".join(b'<p%d:a xmlns:p%d="urn:p%d"/>' % (i, i, i) for i in range(count))
    return b"<feed>" + declared + b"".join(b"<p%d:b/>" % i for i in range(count)) + b"</feed>"


def _deep(size: int) -> bytes:
    return b"<feed><espi:x/>" + b"<a>" * (size // 7) + b"</a>" * (size // 7) + b"</feed>"


HOSTILE: dict[str, tuple[Callable[[int], bytes], str]] = {
    # The reviewer's file, grown: an undeclared prefix, then `<!--` after `<!--`.
    "unterminated comments": (lambda n: b"<feed><x:y/>" + b"<!--" * (n // 4), "refused"),
    "one comment never closed": (lambda n: b"<feed><espi:y/><!--" + b"a" * n, "refused"),
    "unterminated PIs": (lambda n: b"<feed><x:y/>" + b"<?pi " * (n // 5), "refused"),
    "deep nesting": (
        lambda n: b"<feed><espi:x/>" + b"<a>" * (n // 7) + b"</a>" * (n // 7) + b"</feed>",
        "parsed",
    ),
    "deep nesting never closed": (lambda n: b"<feed><espi:x/>" + b"<a>" * (n // 3), "refused"),
    "many prefixes": (_prefixed_elsewhere, "parsed"),
}


@pytest.mark.parametrize("size", [2 * MB, 5 * MB])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_of_megabytes_parse_or_are_refused_in_one_pass(case: str, size: int) -> None:
    make, expected = HOSTILE[case]
    outcome = _parsed_in_a_child(make(size))
    if expected == "parsed":
        assert outcome["root"] == f"{{{ATOM_NS}}}feed", outcome
        assert isinstance(outcome["notes"], list) and outcome["notes"]
    else:
        refused = outcome["refused"]
        assert isinstance(refused, list), outcome
        element, reason, line = refused
        assert "malformed XML" in reason and "column" in reason and line == 1, outcome
        assert len(element) < 100  # the innermost elements, not a path of a million names


def test_the_reviewers_file_is_refused_with_its_position() -> None:
    with pytest.raises(GreenButtonError) as refused:
        parse_xml(b"<feed><x:y/>" + b"<!--" * 20_000)
    assert (refused.value.element, refused.value.line) == ("feed", 1)
    assert refused.value.reason == "malformed XML: not well-formed (invalid token) at column 21"


def test_a_deep_refusal_names_only_the_innermost_elements() -> None:
    with pytest.raises(GreenButtonError) as refused:
        parse_xml(b"<feed><espi:x/>" + b"<a>" * 10_000)
    assert refused.value.element == "…/" + "/".join(["a"] * PATH_SHOWN)


def test_a_tree_deeper_than_python_recurses_is_read_by_place() -> None:
    depth = sys.getrecursionlimit() * 3
    root, notes = parse_xml(
        b"<feed><espi:x/><entry><content>" + b"<a>" * depth + b"</a>" * depth + b"</content></entry></feed>"
    )
    innermost = root
    while len(innermost):
        innermost = innermost[-1]
    assert innermost.tag == f"{{{ESPI_NS}}}a"
    assert notes[-1].startswith(f"{depth + 3} elements had no namespace")


def test_comments_cdata_and_text_do_not_count_as_prefixes_used() -> None:
    # Only element and attribute names use prefixes: what a comment, a PI, CDATA or text says is not
    # markup (a regex over the bytes took <z:w> in CDATA for an element and refused prefix z).
    data = (
        b"<?xml version='1.0'?><!-- <q:r/> --><feed><espi:v>1</espi:v>"
        b"<?pi <s:t/>?><![CDATA[ <z:w> ]]>see u:v = 1 <i k:j='2'/></feed>"
    )
    with pytest.raises(GreenButtonError) as refused:
        parse_xml(data)
    assert refused.value.element == "prefix k"  # the attribute's prefix, the only unknown one used
    root, notes = parse_xml(data.replace(b"k:j", b"xsi:j"))
    assert notes[:2] == [
        "undeclared namespace prefix espi: read as http://naesb.org/espi",
        "undeclared namespace prefix xsi: read as http://www.w3.org/2001/XMLSchema-instance",
    ]
    assert root.find(f"{{{ESPI_NS}}}v") is not None
    assert root.find(f"{{{ATOM_NS}}}i").attrib == {f"{{{KNOWN_PREFIXES['xsi']}}}j": "2"}  # type: ignore[union-attr]


def test_a_uri_declared_elsewhere_is_declared_again_as_written() -> None:
    root, _ = parse_xml(b'<feed><m:a xmlns:m="urn:x?a=1&amp;b=&quot;2&quot;"/><m:b/></feed>')
    assert root[1].tag == '{urn:x?a=1&b="2"}b'


def test_the_root_is_found_after_a_byte_order_mark_declaration_and_comments() -> None:
    data = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- <espi:no/> -->\n<feed><espi:v/></feed>'
    root, notes = parse_xml(data)
    assert root[0].tag == f"{{{ESPI_NS}}}v" and notes[0].startswith("undeclared namespace prefix espi")


def test_a_doctype_is_refused_also_when_prefixes_need_repair() -> None:
    for data in (
        b'<!DOCTYPE feed [<!ENTITY a "aaaa">]><feed><espi:v>&a;</espi:v></feed>',
        b"<!DOCTYPE feed><feed><espi:v/></feed>",
    ):
        with pytest.raises(GreenButtonError) as refused:
            parse_xml(data)
        assert refused.value.element == "DOCTYPE"


def test_prefixes_are_repaired_only_where_the_bytes_can_take_the_declaration() -> None:
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><feed><espi:v/></feed>'.encode("utf-16")
    with pytest.raises(GreenButtonError) as refused:
        parse_xml(utf16)
    assert refused.value.element == "document" and "only in UTF-8" in refused.value.reason
    declared = (
        '<?xml version="1.0" encoding="UTF-16"?><feed xmlns:espi="http://naesb.org/espi"><espi:v/></feed>'
    )
    root, notes = parse_xml(declared.encode("utf-16"))
    assert root[0].tag == f"{{{ESPI_NS}}}v" and not any("prefix" in note for note in notes)


def test_more_elements_than_any_green_button_file_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each element costs a tree ~160 bytes: 64 MB of `<a/>` would take 2.6 GB. The limit, made small here.
    monkeypatch.setattr(espi_xml, "MAX_ELEMENTS", 100)
    root, _ = parse_xml(b"<feed>" + b"<a/>" * 99 + b"</feed>")
    assert len(root) == 99
    for data in (
        b"<feed>" + b"<a/>" * 100 + b"</feed>",
        b"<feed><espi:x/>" + b"<a>" * 100 + b"</a>" * 100 + b"</feed>",  # in the prefix repair's pass
    ):
        with pytest.raises(GreenButtonError) as refused:
            parse_xml(data)
        assert refused.value.element == "document" and "more than 100 elements" in refused.value.reason
