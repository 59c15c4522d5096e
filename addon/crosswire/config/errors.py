"""Config errors that point at file:line: the config is the product's user interface.

An error names the file, the line and the field, and says what is allowed there. Nothing here
ever formats a secret: messages are built from field paths, YAML positions and field names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError


class ConfigError(Exception):
    """An invalid config; the message is ready to show (file:line: field: what is allowed)."""


class LocatedError(ValueError):
    """A validator's error about another field than the one it runs on (``loc``)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


#: Union members pydantic names in an error's location; they are no field of the config.
_UNION_TAGS = {"str", "tuple[str, ...]", "function-after[_one_source(), KeyConfig]"}


def format_validation(
    exc: ValidationError, where: str, node: yaml.Node | None, root: type[BaseModel]
) -> str:
    """One ``file:line: field: message`` line per error; ``root`` is the top-level model
    (it says which fields an unknown one could have been)."""
    lines = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x in _UNION_TAGS))
        message = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, LocatedError):
            loc, message = ctx_error.loc, str(ctx_error)
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            message = f"unknown field; allowed here: {_allowed_fields(root, loc)}"
        elif err["type"] == "literal_error":
            message = f"{message} (got {err.get('input')!r})"
        lines.append(located(where, node, loc, message))
    return "\n".join(lines)


def located(where: str, node: yaml.Node | None, loc: Sequence[str | int], message: str) -> str:
    line = line_of(node, loc)
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    return f"{where}:{line}: {field or '<top>'}: {message}"


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """The 1-based line of the deepest YAML node along ``loc`` (the key's line for mappings)."""
    line = (node.start_mark.line + 1) if node is not None else 1
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    current = value_node
                    break
            else:
                return line
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and part < len(current.value)
        ):
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            return line
    return line


def _allowed_fields(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The field names allowed at ``loc`` (which ends at the unknown field)."""
    current: Any = root
    for part in loc[:-1]:
        current = _step(current, part)
        if current is None:
            return "see config/crosswire.yaml"
    if isinstance(current, type) and issubclass(current, BaseModel):
        return ", ".join(current.model_fields)
    return "see config/crosswire.yaml"


def _step(annotation: Any, part: str | int) -> Any:
    """The type one step into ``annotation`` (a model field, a dict value, a tuple item)."""
    for candidate in _walk_types(annotation):
        if (
            isinstance(candidate, type)
            and issubclass(candidate, BaseModel)
            and isinstance(part, str)
            and part in candidate.model_fields
        ):
            return candidate.model_fields[part].annotation
        origin = get_origin(candidate)
        args = get_args(candidate)
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
        if origin is tuple and isinstance(part, int) and args:
            return args[0]
    return None


def _walk_types(annotation: Any) -> Iterator[Any]:
    yield annotation
    if get_origin(annotation) in (dict, tuple):
        return
    for arg in get_args(annotation):
        yield from _walk_types(arg)
