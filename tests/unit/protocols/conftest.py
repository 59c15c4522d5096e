"""Every stream decoder a codec test makes is checked against the IR event grammar.

The codecs are shared instances, so wrapping their ``stream_decoder`` for the length of each
test covers golden tests, stream tests and helpers alike (``crosswire.ir.grammar``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crosswire.ir.grammar import CheckedDecoder
from crosswire.protocols import PROTOCOLS, codec


def _checked(make: Callable[..., Any]) -> Callable[..., CheckedDecoder]:
    def stream_decoder(*args: Any, **kwargs: Any) -> CheckedDecoder:
        return CheckedDecoder(make(*args, **kwargs))

    return stream_decoder


@pytest.fixture(autouse=True)
def _event_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROTOCOLS:
        instance = codec(name)
        monkeypatch.setattr(instance, "stream_decoder", _checked(instance.stream_decoder))
