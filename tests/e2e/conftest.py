"""Fixtures: a real crosswire per test (cheap: ~0.7 s), loopback upstreams, a shared CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Proxy, Upstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mitmproxy confdir (and so one CA) per test worker."""
    return tmp_path_factory.mktemp("mitmconf")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def upstream2() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def start_proxy(tmp_path: Path, confdir: Path) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def start(config_text: str, **kw: object) -> Proxy:
        workdir = tmp_path / f"proxy{len(started)}"
        workdir.mkdir()
        proxy = Proxy(config_text, workdir, confdir, **kw)  # type: ignore[arg-type]
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
