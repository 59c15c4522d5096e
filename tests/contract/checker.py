"""A strict structural check of JSON values against an SDK's Python type annotations.

The provider SDKs describe their wire formats as TypedDicts (openai, anthropic request params)
or pydantic models (everything else). Neither validates the way the real APIs do: pydantic
ignores unknown keys of TypedDicts and of ``extra="allow"`` models, it validates ``Iterable``
fields lazily (never, in practice), and the SDKs' open enums accept any string. So this module
walks the annotations itself and reports every value the SDK does not describe:

* a key the type does not declare (by its wire name: pydantic aliases, ``PropertyInfo`` aliases);
* a required key that is missing (``Required``/``total``, pydantic fields without a default);
* a scalar of the wrong JSON type, a literal or enum value outside the declared set;
* a union none of whose members fits (the error of the closest member is reported).

Free-form slots (``object``, ``Any``, ``Dict[str, object]``) accept anything. When a union mixes
a free-form mapping with a typed struct (ollama's ``Union[Mapping[str, Any], Message]``), the
mapping is ignored: otherwise it would let any object through. ``overrides`` replaces a type by
another where the SDK's Python type is not the wire type (a class with a custom serializer).
"""

from __future__ import annotations

import collections.abc
import datetime
import enum
import functools
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic
import typing_extensions

_NONE = type(None)
_LIST_ORIGINS = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Iterable,
    collections.abc.Sequence,
    collections.abc.Collection,
)
_MAPPING_ORIGINS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_UNION_ORIGINS = (typing.Union, types.UnionType)


@dataclass(frozen=True)
class Struct:
    """What a TypedDict or a model says about one JSON object."""

    name: str
    fields: Mapping[str, Any]  # wire name → annotation
    required: frozenset[str]
    #: The SDK declares the object open (``__pydantic_extra__: Dict[str, Any]``, as mistralai's
    #: usage does): unknown keys are part of its contract.
    open: bool = False


@dataclass
class Checker:
    """Checks values against annotations; ``overrides`` maps SDK types to wire types."""

    overrides: Mapping[Any, Any] = field(default_factory=dict)
    #: Classes never accepted (SDK fallbacks such as mistral's UnrecognizedStr).
    reject: tuple[type, ...] = ()
    #: Ignore a union's free-form mapping member when it also has a typed struct member.
    strict_unions: bool = False

    def check(self, value: Any, annotation: Any, path: str = "$") -> list[str]:
        return self._check(value, annotation, path)

    # ---- dispatch ----------------------------------------------------------------------

    def _check(self, value: Any, tp: Any, path: str) -> list[str]:
        tp = self._resolve(tp)
        if tp in (Any, object, typing_extensions.Any):
            return []
        if tp is _NONE or tp is None:
            return [] if value is None else [f"{path}: expected null, got {_show(value)}"]
        origin = typing.get_origin(tp)
        if origin in _UNION_ORIGINS:
            return self._union(value, typing.get_args(tp), path)
        if origin in (typing.Literal, typing_extensions.Literal):
            allowed = typing.get_args(tp)
            if any(value == a and type(value) is type(a) for a in allowed):
                return []
            return [f"{path}: {_show(value)} is not one of {list(allowed)}"]
        if origin in _MAPPING_ORIGINS or tp in _MAPPING_ORIGINS:
            return self._mapping(value, tp, path)
        if origin in _LIST_ORIGINS or tp in _LIST_ORIGINS:
            return self._list(value, tp, path)
        if isinstance(tp, type):
            return self._class(value, tp, path)
        return [f"{path}: cannot check annotation {tp!r}"]

    def _resolve(self, tp: Any) -> Any:
        """Strip Annotated, follow type aliases, apply overrides."""
        while True:
            if tp in self.overrides:
                tp = self.overrides[tp]
                continue
            origin = typing.get_origin(tp)
            if origin is typing.Annotated or origin is typing_extensions.Annotated:
                tp = typing.get_args(tp)[0]
                continue
            if origin in (typing.Required, typing.NotRequired, typing.ReadOnly):
                tp = typing.get_args(tp)[0]
                continue
            if isinstance(tp, typing.TypeAliasType | typing_extensions.TypeAliasType):
                tp = tp.__value__
                continue
            if isinstance(origin, typing.TypeAliasType | typing_extensions.TypeAliasType):
                try:
                    tp = origin.__value__[typing.get_args(tp)]
                except TypeError:
                    tp = origin.__value__
                continue
            if isinstance(tp, typing.NewType):
                tp = tp.__supertype__
                continue
            return tp

    # ---- containers --------------------------------------------------------------------

    def _union(self, value: Any, members: tuple[Any, ...], path: str) -> list[str]:
        resolved = [self._resolve(m) for m in members]
        if self.strict_unions and any(_is_struct(m) for m in resolved):
            resolved = [m for m in resolved if not _is_free_mapping(m)]
        best: tuple[tuple[int, int], list[str]] | None = None
        for member in resolved:
            errors = self._check(value, member, path)
            if not errors:
                return []
            rank = (self._distance(value, member), len(errors))
            if best is None or rank < best[0]:
                best = (rank, errors)
        assert best is not None
        return best[1]

    def _distance(self, value: Any, member: Any) -> int:
        """How clearly a union member is the wrong one: 2 = wrong JSON kind or a
        discriminating literal (``type``, ``role``…) differs, 0 = plausibly meant."""
        kinds = self._kinds(member)
        if kinds is not None and _kind(value) not in kinds:
            return 3
        struct = self._struct(member)
        if struct is None:
            return 1
        for name, ann in struct.fields.items():
            inner = self._resolve(ann)
            if typing.get_origin(inner) in (typing.Literal, typing_extensions.Literal):
                if name in value and value[name] not in typing.get_args(inner):
                    return 2
                if name not in value and name in struct.required:
                    return 1
        return 0

    def _kinds(self, tp: Any) -> set[str] | None:
        """The JSON kinds a type accepts (None: cannot tell cheaply)."""
        tp = self._resolve(tp)
        origin = typing.get_origin(tp)
        if tp is _NONE or tp is None:
            return {"null"}
        if origin in _UNION_ORIGINS:
            found: set[str] = set()
            for member in typing.get_args(tp):
                kinds = self._kinds(member)
                if kinds is None:
                    return None
                found |= kinds
            return found
        if origin in (typing.Literal, typing_extensions.Literal):
            return {_kind(a) for a in typing.get_args(tp)}
        if origin in _MAPPING_ORIGINS or tp in _MAPPING_ORIGINS or self._struct(tp) is not None:
            return {"object"}
        if origin in _LIST_ORIGINS or tp in _LIST_ORIGINS:
            return {"array"}
        if tp is bool:
            return {"boolean"}
        if tp in (int, float):
            return {"number"}
        if isinstance(tp, type) and (issubclass(tp, str) or tp in (bytes, datetime.datetime)):
            return {"string"}
        return None

    def _mapping(self, value: Any, tp: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {_show(value)}"]
        args = typing.get_args(tp)
        if len(args) != 2:
            return []
        errors: list[str] = []
        for k, v in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: key {k!r} is not a string")
            errors += self._check(v, args[1], f"{path}.{k}")
        return errors

    def _list(self, value: Any, tp: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_show(value)}"]
        args = typing.get_args(tp)
        if typing.get_origin(tp) is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return [f"{path}: expected {len(args)} items, got {len(value)}"]
            return [
                e
                for i, (v, a) in enumerate(zip(value, args, strict=True))
                for e in self._check(v, a, f"{path}[{i}]")
            ]
        item = args[0] if args else Any
        return [e for i, v in enumerate(value) for e in self._check(v, item, f"{path}[{i}]")]

    # ---- classes -----------------------------------------------------------------------

    def _class(self, value: Any, tp: type, path: str) -> list[str]:
        if self.reject and issubclass(tp, self.reject):
            return [f"{path}: {_show(value)} is not a value the SDK knows"]
        struct = self._struct(tp)
        if struct is not None:
            return self._object(value, struct, path)
        if isinstance(tp, type) and issubclass(tp, pydantic.RootModel):
            return self._check(value, tp.model_fields["root"].annotation, path)
        if issubclass(tp, enum.Enum):
            values = {m.value for m in tp}
            if isinstance(value, str | int | float | bool) and value in values:
                return []
            if _case_insensitive(tp) and isinstance(value, str) and value.upper() in tp.__members__:
                return []
            return [f"{path}: {_show(value)} is not one of {sorted(map(str, values))}"]
        if tp is bool:
            return (
                []
                if isinstance(value, bool)
                else [f"{path}: expected a boolean, got {_show(value)}"]
            )
        if tp is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else [f"{path}: expected an integer, got {_show(value)}"]
        if tp is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return [] if ok else [f"{path}: expected a number, got {_show(value)}"]
        if tp in (str, bytes, datetime.datetime, datetime.date) or issubclass(tp, str):
            # bytes travel as base64 text, timestamps as ISO-8601 text.
            return (
                [] if isinstance(value, str) else [f"{path}: expected a string, got {_show(value)}"]
            )
        return [f"{path}: cannot check class {tp.__qualname__}"]

    def _object(self, value: Any, struct: Struct, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected {struct.name} object, got {_show(value)}"]
        errors = [
            f"{path}.{key}: unknown field (not in {struct.name})"
            for key in value
            if key not in struct.fields and not struct.open
        ]
        errors += [
            f"{path}.{key}: required field missing (in {struct.name})"
            for key in sorted(struct.required)
            if key not in value
        ]
        for key, v in value.items():
            if key in struct.fields:
                errors += self._check(v, struct.fields[key], f"{path}.{key}")
        return errors

    def _struct(self, tp: Any) -> Struct | None:
        if not isinstance(tp, type):
            return None
        if typing_extensions.is_typeddict(tp):
            return _typeddict_struct(tp)
        if issubclass(tp, pydantic.BaseModel) and not issubclass(tp, pydantic.RootModel):
            return _model_struct(tp)
        return None


@functools.cache
def _typeddict_struct(tp: type) -> Struct:
    module = sys.modules.get(tp.__module__)
    hints = typing.get_type_hints(
        tp, globalns=vars(module) if module else None, include_extras=True
    )
    totality = _totality(tp)
    fields: dict[str, Any] = {}
    required: set[str] = set()
    for name, ann in hints.items():
        wire = _property_alias(ann) or name
        fields[wire] = ann
        origin = typing.get_origin(ann)
        if origin in (typing.Required, typing_extensions.Required) or (
            origin not in (typing.NotRequired, typing_extensions.NotRequired)
            and totality.get(name, True)
        ):
            required.add(wire)
    return Struct(tp.__qualname__, fields, frozenset(required))


def _totality(tp: type) -> dict[str, bool]:
    """Each key's ``total=`` from the TypedDict that declares it. ``__required_keys__`` cannot
    be trusted: under ``from __future__ import annotations`` (as the SDKs are written) the
    ``Required[...]`` inside a string annotation is invisible to the TypedDict machinery."""
    out: dict[str, bool] = {}
    for base in getattr(tp, "__orig_bases__", ()):
        if isinstance(base, type) and typing_extensions.is_typeddict(base):
            out.update(_totality(base))
    inherited = set(out)
    for name in tp.__annotations__:
        if name not in inherited:
            out[name] = bool(getattr(tp, "__total__", True))
    return out


@functools.cache
def _model_struct(tp: type[pydantic.BaseModel]) -> Struct:
    fields: dict[str, Any] = {}
    required: set[str] = set()
    for name, info in tp.model_fields.items():
        wire = info.serialization_alias or info.alias or name
        ann: Any = info.annotation
        if info.metadata:
            ann = typing.Annotated[ann, *info.metadata]
        fields[wire] = ann
        if info.is_required():
            required.add(wire)
    declared_open = any(
        "__pydantic_extra__" in getattr(c, "__annotations__", {}) for c in tp.__mro__
    )
    return Struct(tp.__qualname__, fields, frozenset(required), open=declared_open)


def _property_alias(ann: Any) -> str | None:
    """The wire name an openai/anthropic ``PropertyInfo(alias=...)`` gives a TypedDict key."""
    while typing.get_origin(ann) in (typing.Required, typing.NotRequired, typing.ReadOnly):
        ann = typing.get_args(ann)[0]
    if typing.get_origin(ann) is typing.Annotated:
        for meta in ann.__metadata__:
            alias = getattr(meta, "alias", None)
            if type(meta).__name__ == "PropertyInfo" and isinstance(alias, str):
                return alias
    return None


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and (
        typing_extensions.is_typeddict(tp) or issubclass(tp, pydantic.BaseModel)
    )


def _is_free_mapping(tp: Any) -> bool:
    if typing.get_origin(tp) not in _MAPPING_ORIGINS and tp not in _MAPPING_ORIGINS:
        return False
    args = typing.get_args(tp)
    return not args or args[1] in (Any, object)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _case_insensitive(tp: type) -> bool:
    """google-genai's enums match names case-insensitively (``CaseInSensitiveEnum``)."""
    return any(c.__name__ == "CaseInSensitiveEnum" for c in tp.__mro__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
