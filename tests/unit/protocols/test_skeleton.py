"""Every protocol package follows the one skeleton of docs/codecs.md (``protocols/base.py``):
the same modules, the same entry points with the same parameters, wired by ``PackageCodec``."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import crosswire.protocols
from crosswire.protocols import PROTOCOLS, codec
from crosswire.protocols.base import SKELETON, PackageCodec

PACKAGES = sorted(
    p.name
    for p in Path(crosswire.protocols.__file__).parent.iterdir()
    if (p / "__init__.py").exists()
)


def _parameters(function: object) -> list[str]:
    names = list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    return names[1:] if names[:1] == ["self"] else names


def test_the_six_packages_are_all_there() -> None:
    assert PACKAGES == ["anthropic", "fim", "gemini", "ollama", "openai_chat", "openai_responses"]


@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("module", sorted(SKELETON))
def test_each_skeleton_module_has_its_entry_points(package: str, module: str) -> None:
    found = importlib.import_module(f"crosswire.protocols.{package}.{module}")
    shape = SKELETON[module]
    for entry in ("decode", "encode", "decoder", "encoder"):
        if not hasattr(shape, entry):
            continue
        function = getattr(found, entry, None)
        assert callable(function), f"{package}/{module}.py has no {entry}()"
        assert _parameters(function) == _parameters(getattr(shape, entry)), (
            f"{package}/{module}.py {entry}() takes other parameters than the skeleton's"
        )


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_codec_is_wired_from_its_own_package(name: str) -> None:
    instance = codec(name)
    assert isinstance(instance, PackageCodec)
    own = type(instance).__module__.rpartition(".")[0]
    for module in SKELETON:
        assert getattr(instance.package, module).__name__ == f"{own}.{module}"


def test_codec_modules_declare_only_what_differs() -> None:
    """A ``codec.py`` overrides no wired method but for a dialect of the app's protocol
    (Mistral's SDK on the Chat wire)."""
    wired = {"decode_request", "encode_request", "decode_response", "decode_error"}
    wired |= {"encode_error", "stream_decoder"}
    for name in PROTOCOLS:
        cls = type(codec(name))
        overridden = {m for m in wired if m in vars(cls)}
        assert not overridden, f"{cls.__name__} overrides {overridden}"
