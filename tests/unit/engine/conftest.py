"""Engines built per test, closed at the end (their upstream client, pool and relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from mitmproxy import http

from crosswire import config
from crosswire.engine.dispatch import Engine
from tests.unit.engine.helpers import Upstream, new_engine

EngineFactory = Callable[..., Engine]
Route = Callable[..., Awaitable[None]]


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


@pytest.fixture(params=["hook", "layer"])
def route(request: pytest.FixtureRequest) -> Route:
    """How a request is routed: by the ``request`` hook, or from inside mitmproxy's HTTP layer
    (``request_now``), which must do it at once — or, where a test says ``now=False`` (a lease
    that must wait, a generic endpoint, an upgrade), leave it untouched to the hook."""

    async def go(engine: Engine, flow: http.HTTPFlow, *, now: bool = True) -> None:
        if request.param == "layer":
            before = (flow.request.url, flow.response, dict(flow.metadata))
            done = engine.request_now(flow)
            assert done is now
            if done:
                return
            assert (flow.request.url, flow.response, dict(flow.metadata)) == before
        await engine.request(flow)

    return go
