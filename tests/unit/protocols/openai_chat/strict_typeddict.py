"""Check a JSON value against an SDK's request TypedDict, refusing unknown keys at any depth.

pydantic ignores extra keys of a TypedDict and cannot be told otherwise from outside, so the
encoders' "only fields the provider knows" promise is checked with this small walker: a value
passes when some branch of every union fits, every dict key is declared, and every required
key is present.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any

from typing_extensions import is_typeddict

_WRAPPERS = {"Required", "NotRequired", "ReadOnly", "Annotated"}


def problems(value: Any, tp: Any, where: str = "$") -> list[str]:
    """Every mismatch between ``value`` and ``tp`` (empty when the value fits)."""
    origin = typing.get_origin(tp)
    name = getattr(origin, "_name", None) or getattr(origin, "__name__", None)
    if name in _WRAPPERS:
        return problems(value, typing.get_args(tp)[0], where)
    if tp is Any or tp is object:
        return []
    if tp is None or tp is type(None):
        return [] if value is None else [f"{where}: expected null"]
    if type(tp).__name__ == "TypeAliasType":  # typing's or typing_extensions'
        return problems(value, tp.__value__, where)
    if origin in (typing.Union, types.UnionType):
        found = [problems(value, arm, where) for arm in typing.get_args(tp)]
        return [] if any(not f for f in found) else min(found, key=len)
    if origin is typing.Literal:
        return [] if value in typing.get_args(tp) else [f"{where}: {value!r} not in {tp}"]
    if is_typeddict(tp):
        return _typeddict(value, tp, where)
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        item = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        return [p for k, v in value.items() for p in problems(v, item, f"{where}.{k}")]
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence) or (
        getattr(origin, "__name__", "") == "SequenceNotStr"
    ):
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        item = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]")]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number"]
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer"]
    if isinstance(tp, type):
        return [] if isinstance(value, tp) else [f"{where}: expected {tp.__name__}"]
    return []  # a construct this walker does not model: accepted


def _typeddict(value: Any, tp: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object ({tp.__name__})"]
    hints = typing.get_type_hints(tp, include_extras=True)
    out = [f"{where}.{k}: unknown to {tp.__name__}" for k in value if k not in hints]
    out += [
        f"{where}.{k}: missing" for k, h in hints.items() if _required(tp, k, h) and k not in value
    ]
    for key, item in value.items():
        if key in hints:
            out += problems(item, hints[key], f"{where}.{key}")
    return out


def assert_fits(value: Any, tp: Any) -> None:
    found = problems(value, tp)
    assert not found, "\n".join(found[:10])


def _required(tp: Any, key: str, hint: Any) -> bool:
    """The hint's own marker wins: ``__required_keys__`` is wrong for modules that stringify
    their annotations (``NotRequired`` is not seen when the class is made)."""
    name = getattr(typing.get_origin(hint), "_name", None)
    if name == "NotRequired":
        return False
    return name == "Required" or key in tp.__required_keys__
