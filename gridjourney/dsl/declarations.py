"""Reading a declaration file (events/*.yaml, customer_attributes.yaml) into a pydantic model, with
every problem located as `file:line:column`, as journey files are (dsl/loader.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gridjourney.content.template_source import NotUtf8, read_text
from gridjourney.dsl.loader import Positions, compose_with_positions, did_you_mean
from gridjourney.file_errors import FileError, FileErrors, located_in

Model = TypeVar("Model", bound=BaseModel)


class DeclarationError(FileError):
    """A problem in a declaration file, at its line and column."""


class DeclarationErrors(FileErrors[DeclarationError]):
    """Declaration files that cannot be used; `errors` holds every problem found."""


def declaration_text(path: Path) -> str:
    """A declaration file's text; raises DeclarationErrors when it is not UTF-8 or cannot be read."""
    try:
        return read_text(path)
    except NotUtf8 as error:
        raise DeclarationErrors(
            [DeclarationError(str(path), error.line, error.column, error.reason, error.hint)]
        ) from None
    except OSError as error:
        reason = f"cannot read the file: {error.strerror or error}"
        raise DeclarationErrors([DeclarationError(str(path), 1, 1, reason)]) from None


def read_declaration(text: str, filename: str, hint: str) -> tuple[dict[str, Any], Positions]:
    """The file as a mapping, and where each of its values is; raises DeclarationErrors. `hint` is
    shown with problems that have no better one (where the format is described)."""
    data, positions, problems = compose_with_positions(text, filename)
    if problems:
        raise DeclarationErrors(
            DeclarationError(p.file, p.line, p.column, p.message, p.hint) for p in problems
        )
    if not isinstance(data, dict):
        raise DeclarationErrors([at(positions, (), "the file must be a mapping", hint)])
    return data, positions


def validate_at(
    data: Any, path: tuple[str | int, ...], positions: Positions, model: type[Model], hint: str
) -> Model | list[DeclarationError]:
    """The value at `path` of a file's data validated as `model`, or its problems, each located."""
    value = data
    for part in path:
        value = value[part]
    try:
        return model.model_validate(value)
    except ValidationError as error:
        return _located(error, value, path, positions, model, hint)


def at(positions: Positions, path: tuple[str | int, ...], message: str, hint: str) -> DeclarationError:
    found = positions.error(path, message, hint)
    return DeclarationError(found.file, found.line, found.column, message, hint)


def key_at(positions: Positions, path: tuple[str | int, ...], message: str, hint: str) -> DeclarationError:
    found = positions.error(path, message, hint, key=True)
    return DeclarationError(found.file, found.line, found.column, message, hint)


def _located(
    error: ValidationError,
    data: Any,
    prefix: tuple[str | int, ...],
    positions: Positions,
    model: type[BaseModel],
    hint: str,
) -> list[DeclarationError]:
    found = []
    for item in error.errors(include_url=False):
        inner, rest = located_in(item["loc"], data)
        path = (*prefix, *inner)
        where = ".".join(str(p) for p in path) or "the file"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            name = rest[-1] if rest else path[-1]
            found.append(at(positions, path, f"`{name}` is required here", f"add `{name}:` to this mapping"))
        elif item["type"] == "extra_forbidden":
            name = str(path[-1])
            allowed = _keys_at(model, inner)
            found.append(
                key_at(positions, path, f"unknown key `{name}`", did_you_mean(name, allowed, "keys"))
            )
        elif item["type"] == "literal_error":
            choices = re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected", "")))
            given = str(item["input"])
            found.append(
                at(
                    positions,
                    path,
                    f"{where}: `{given}` is not allowed",
                    did_you_mean(given, choices, "use one of"),
                )
            )
        else:
            found.append(at(positions, path, f"{where}: {message}", hint))
    return list(dict.fromkeys(found))


def _keys_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The keys allowed in the mapping holding path[-1]: the fields of the model found there."""
    current: Any = model
    for part in path[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[str(part)].annotation
        else:
            current = _value_model(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _value_model(annotation: Any) -> Any:
    """The model of a dict's values or a list's items (dict[str, Field] → Field)."""
    args = getattr(annotation, "__args__", ())
    return args[-1] if args else None
