"""Reading the text of a file a person writes (a template, a journey, a declaration): UTF-8, with an
optional byte-order mark, and a located error when it is not.

A template saved as Latin-1 or Windows-1252 (a Word curly quote is the byte 0x92) is refused as
`file:line:column: not UTF-8 (byte 0x92)`, never a UnicodeDecodeError traceback. The templates'
loader raises that as a TemplateError, which every caller of Jinja already handles: the compiler
reports it, and a send gives up with a permanent `template_error` instead of retrying. So is a
template nested deeper than Jinja's recursive parser and code generator can follow (BoundedCompilation).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from types import CodeType, TracebackType

from jinja2 import Environment, FileSystemLoader, TemplateError, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.loaders import split_template_path


class NotUtf8(ValueError):
    """A file whose bytes are not UTF-8 text; `line` and `column` (1-based) are the first bad byte's."""

    def __init__(self, file: str, line: int, column: int, byte: int) -> None:
        self.file, self.line, self.column, self.byte = file, line, column, byte
        super().__init__(f"{file}:{line}:{column}: not UTF-8 (byte 0x{byte:02x})")

    @property
    def reason(self) -> str:
        return f"not UTF-8 (byte 0x{self.byte:02x})"

    hint = "save the file as UTF-8 (in most editors: Save with Encoding, UTF-8)"


class TemplateUnreadable(TemplateError):
    """A template file that exists but cannot be read as text (not UTF-8, or an OS error): `where`
    is `line:column` of the first bad byte, or empty; the message is the reason alone."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.where = f"{line}:{column}" if line is not None else ""


def decode_text(data: bytes, file: str) -> str:
    """`data` as text (a leading byte-order mark dropped); raises NotUtf8 at the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        # the column in characters, as editors count them (the line's valid part decodes)
        column = len(before[line_start:].decode("utf-8-sig", errors="replace")) + 1
        raise NotUtf8(file, line, column, data[error.start]) from None


def _line_column(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def read_text(path: Path | str) -> str:
    """The file's text, its line ends made `\\n` as Python's text files make them; raises NotUtf8, or
    OSError when it cannot be read."""
    return decode_text(Path(path).read_bytes(), str(path)).replace("\r\n", "\n").replace("\r", "\n")


class TemplateFiles(FileSystemLoader):
    """FileSystemLoader whose templates may start with a byte-order mark, and whose template that is
    not UTF-8 is a TemplateUnreadable naming its line and column."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        try:
            source, filename, uptodate = super().get_source(environment, template)
        except UnicodeDecodeError:
            raise self._unreadable(template) from None
        except TemplateNotFound:  # an OSError too
            raise
        except OSError as error:  # e.g. no permission to read it
            raise TemplateUnreadable(f"cannot be read: {error.strerror or error}") from None
        source = source.removeprefix("\ufeff")
        if "\x00" in source:  # no message may carry one (a database refuses it as text)
            line, column = _line_column(source, source.index("\x00"))
            raise TemplateUnreadable("contains a NUL character (\\u0000)", line, column)
        return source, filename, uptodate

    def _unreadable(self, template: str) -> TemplateUnreadable:
        for folder in self.searchpath:
            filename = posixpath.join(folder, *split_template_path(template))
            if os.path.isfile(filename):
                try:
                    read_text(filename)
                except NotUtf8 as error:
                    return TemplateUnreadable(error.reason, error.line, error.column)
                except OSError as error:
                    return TemplateUnreadable(f"cannot be read: {error.strerror or error}")
        return TemplateUnreadable("not UTF-8")


# What a template too deeply nested for Jinja's recursive parser and code generator is told.
TOO_DEEP = "nested too deeply for a template (brackets, operators or blocks inside one another)"


class BoundedCompilation(Environment):
    """Jinja's parser, code generator and Python's compiler recurse once or more per level of
    nesting: a template of a few thousand `(` or `-` exhausts the stack. Here that is a
    TemplateSyntaxError like any other, not a RecursionError escaping every caller."""

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        try:
            return super()._parse(source, name, filename)
        except RecursionError:
            raise TemplateSyntaxError(TOO_DEEP, 1, name, filename) from None

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        try:
            return super()._generate(source, name, filename, defer_init=defer_init)
        except RecursionError:
            raise TemplateSyntaxError(TOO_DEEP, 1, name, filename) from None

    def _compile(self, source: str, filename: str) -> CodeType:
        try:
            return super()._compile(source, filename)
        except (RecursionError, MemoryError, SyntaxError):  # Python's own limits on the generated code
            raise TemplateSyntaxError(TOO_DEEP, 1, None, filename) from None


def located(name: str, error: BaseException) -> str:
    """`name:line` (or `name:line:column`, or `name`) for a template error: the line Jinja gives
    (syntax), or the line of the template its rendering failed on (from the traceback Jinja rewrites
    to point at templates)."""
    if isinstance(error, TemplateUnreadable):
        return f"{name}:{error.where}" if error.where else name
    line = getattr(error, "lineno", None) or _template_line(error.__traceback__, name)
    return f"{name}:{line}" if line else name


def _template_line(trace: TracebackType | None, name: str) -> int | None:
    """The line of the innermost traceback frame in the template file `name`."""
    line = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename.endswith(name):
            line = trace.tb_lineno
        trace = trace.tb_next
    return line
