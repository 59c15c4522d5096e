"""The start's objects are frozen once, and a reload gives them back to the collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from crosswire import heap


@pytest.fixture
def fresh_heap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap, "_settled", False)
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_start_is_frozen_once_after_its_garbage_is_collected(fresh_heap: None) -> None:
    of_the_start = weakref.ref(_Cycle())  # garbage of the start: collected, not frozen
    heap.settle()
    assert of_the_start() is None
    frozen = gc.get_freeze_count()
    assert frozen > 0
    later = weakref.ref(_Cycle())
    heap.settle()  # a script reload runs ``running`` again: nothing more is frozen
    assert gc.get_freeze_count() == frozen
    gc.collect()
    assert later() is None  # what the proxy makes later is collected as usual


def test_a_reload_gives_the_frozen_objects_back(fresh_heap: None) -> None:
    heap.settle()
    assert gc.get_freeze_count() > 0
    heap.release()
    assert gc.get_freeze_count() == 0
