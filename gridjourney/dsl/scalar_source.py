"""Where each character of a YAML string value stands in the file, so that an error about a name inside
an expression can point at that name (dsl/pointing.py) however the string is written: plain, quoted
with escapes (`\\"`, `\\u00e9`, `''`), over several lines, or as a literal (`|`) or folded (`>`) block.

The YAML parser gives only where a value starts. This reads the value again from the file's lines,
following YAML's rules for each style, and keeps the result only when the text read is the value the
parser gave: anything it does not follow (an explicit block indentation, a tag or anchor before the
value) gives None, and the error stays at the value's start.
"""

from __future__ import annotations

from collections.abc import Iterator

Place = tuple[int, int]  # (line, column), both from 0

# YAML's one-character escapes in double quotes (\x, \u and \U take hex digits: _HEX_DIGITS)
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def value_places(lines: list[str], line: int, column: int, value: str) -> list[Place] | None:
    """Where each character of `value`, the string that starts at `line`:`column` (from 1), stands in
    `lines`; None when the file there does not read as `value`. The line breaks a block scalar ends
    with have no place (nothing after them is asked for)."""
    if not 0 < line <= len(lines) or not 0 < column <= len(lines[line - 1]):
        return None
    start = (line - 1, column - 1)
    indicator = lines[start[0]][start[1]]
    if indicator in "|>":
        read = _block(lines, start, folded=indicator == ">")
    else:
        read = _flow(lines, start, indicator if indicator in "'\"" else None)
    places: list[Place] = []
    text: list[str] = []
    for character, place in read:
        if len(text) == len(value):
            break
        text.append(character)
        places.append(place)
    got = "".join(text)
    if got != value[: len(got)] or value[len(got) :].strip("\n"):
        return None
    return places


def _flow(lines: list[str], start: Place, quote: str | None) -> Iterator[tuple[str, Place]]:
    """A plain, single- or double-quoted scalar, folded over lines as YAML folds it: the blanks around a
    line break go, the break reads as a space, each empty line as a line break."""
    row, col = start[0], start[1] + (quote is not None)
    while row < len(lines):
        text = lines[row]
        joined = False  # an escaped line break: the next line follows with no space
        while col < len(text):
            character = text[col]
            if quote == '"' and character == "\\":
                if col + 1 == len(text):
                    joined = True
                    break
                code = text[col + 1]
                digits = _HEX_DIGITS.get(code)
                if digits is not None:
                    try:
                        yield chr(int(text[col + 2 : col + 2 + digits], 16)), (row, col)
                    except ValueError:
                        return
                    col += 2 + digits
                    continue
                if code not in _ESCAPES:
                    return
                yield _ESCAPES[code], (row, col)
                col += 2
                continue
            if character == quote:
                if quote == "'" and text[col + 1 : col + 2] == "'":
                    yield "'", (row, col)
                    col += 2
                    continue
                return
            if not text[col:].strip():  # the blanks before a line break
                break
            yield character, (row, col)
            col += 1
        end = (row, len(text))
        row += 1
        empty = 0
        while row < len(lines) and not lines[row].strip():
            empty += 1
            row += 1
        if not joined:
            for character in "\n" * empty or " ":
                yield character, end
        if row < len(lines):
            col = len(lines[row]) - len(lines[row].lstrip(" \t"))


def _block(lines: list[str], start: Place, *, folded: bool) -> Iterator[tuple[str, Place]]:
    """A literal (`|`) or folded (`>`) block: its lines at the first line's indentation, each break
    kept (literal) or, between two lines not indented further, read as a space (folded)."""
    header = lines[start[0]][start[1] + 1 :].split("#")[0].strip()
    if any(character.isdigit() for character in header):  # an explicit indentation: not followed
        return
    body = [(row, lines[row]) for row in range(start[0] + 1, len(lines))]
    indent = next((len(text) - len(text.lstrip(" ")) for _, text in body if text.strip()), None)
    if indent is None:
        return
    previous: bool | None = None  # whether the last line was indented further (None: no line yet)
    empty = 0
    for row, text in body:
        if not text.strip():
            empty += 1
            continue
        if len(text) - len(text.lstrip(" ")) < indent:
            return
        further = text[indent] in " \t"
        end = (row - 1, len(lines[row - 1]))
        if previous is None:
            breaks = "\n" * empty
        elif folded and not previous and not further:
            breaks = "\n" * empty or " "
        else:
            breaks = "\n" * (empty + 1)
        yield from ((character, end) for character in breaks)
        yield from ((text[col], (row, col)) for col in range(indent, len(text)))
        previous, empty = further, 0
