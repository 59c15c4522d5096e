"""Engines built per test, closed at the end (their upstream client, pool and relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from crosswire import config
from crosswire.engine.dispatch import Engine
from tests.unit.engine.helpers import Upstream, new_engine

EngineFactory = Callable[..., Engine]


@pytest.fixture
async def engines() -> AsyncIterator[EngineFactory]:
    made: list[Engine] = []

    def make(cfg: config.Config, upstream: Upstream | None = None) -> Engine:
        engine = new_engine(cfg, upstream)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.runtime.close()
