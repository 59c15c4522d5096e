"""``/metrics`` and ``/keys`` through the proxy (names and counters, never a secret), and the
thin mitmproxy addon under ``taddons``: config into options, hooks into the engine, fail-closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mitmproxy import exceptions
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from crosswire.addon import Crosswire
from crosswire.endpoint import MetricsEndpoint, state_dict
from crosswire.engine.record import META
from tests.unit.engine.conftest import EngineFactory
from tests.unit.engine.helpers import (
    APP_KEY,
    SECRETS,
    anthropic_body,
    anthropic_message,
    backend,
    make_config,
    make_flow,
    respond,
    run_hook,
)

CFG = make_config(
    {"claude": backend("anthropic", "K1", "K2")},
    [{"match": {"host": "api.anthropic.com"}, "backend": "claude"}],
    clients=[{"name": "ci", "token": "${TOKEN_CI}"}],
)


def no_secret(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text


async def served(engines: EngineFactory) -> MetricsEndpoint:
    """An endpoint over an engine that has served one exchange."""
    engine = engines(CFG)
    flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
    await engine.request(flow)
    respond(flow, 200, anthropic_message())
    engine.responseheaders(flow)
    await engine.response(flow)
    return MetricsEndpoint(engine)


async def test_metrics_are_prometheus_text_by_key_name(engines: EngineFactory) -> None:
    endpoint = await served(engines)
    flow = make_flow("GET", "crosswire.local", "/metrics?x=1")
    await run_hook(endpoint.request(flow))
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "text/plain; version=0.0.4"
    text = (flow.response.content or b"").decode()
    assert "# TYPE crosswire_key_requests_total counter" in text
    assert 'crosswire_key_in_flight{backend="claude",key="k1"} 0' in text
    assert 'crosswire_key_in_flight{backend="claude",key="k2"} 0' in text
    assert 'crosswire_route_requests_total{route="route 1",backend="claude"} 1' in text
    no_secret(text)
    assert flow.comment == "crosswire /metrics"


@pytest.mark.parametrize("path", ["/keys", "/keys.json"])
async def test_keys_are_json_without_secrets(engines: EngineFactory, path: str) -> None:
    endpoint = await served(engines)
    flow = make_flow("GET", "crosswire.local", path)
    await run_hook(endpoint.request(flow))
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "application/json"
    text = (flow.response.content or b"").decode()
    no_secret(text)
    got = json.loads(text)
    assert got["clients"] == {"ci": {"requests": 0, "tokens": 0}}
    keys = {k["name"]: k for k in got["keys"]}
    assert set(keys) == {"k1", "k2"}
    assert all("secret" not in k and k["backend"] == "claude" for k in keys.values())
    assert sum(k["requests"] for k in keys.values()) == 1
    assert sum(k["input_tokens"] for k in keys.values()) == 5


async def test_other_paths_and_hosts(engines: EngineFactory) -> None:
    endpoint = MetricsEndpoint(engines(CFG))
    flow = make_flow("GET", "crosswire.local", "/nope")
    await run_hook(endpoint.request(flow))
    assert flow.response is not None and flow.response.status_code == 404
    assert flow.response.content == b"crosswire: /metrics or /keys\n"
    elsewhere = make_flow("GET", "example.com", "/metrics")
    await run_hook(endpoint.request(elsewhere))
    assert elsewhere.response is None


def test_state_dict_drops_a_secret_from_any_shape() -> None:
    assert state_dict({"name": "k"}) == {"name": "k"}

    from dataclasses import dataclass

    @dataclass
    class WithSecret:
        name: str
        secret: str

    assert state_dict(WithSecret("k", "s")) == {"name": "k"}


# ---- the addon under taddons ------------------------------------------------------------------


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file, also named by $CROSSWIRE_CONFIG (what the addon loads when added)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "crosswire.yaml"
    monkeypatch.setenv("CROSSWIRE_CONFIG", str(path))
    path.write_text(
        yaml.safe_dump(
            {
                "backends": {"claude": backend("anthropic", "K1")},
                "routes": [{"match": {"host": "api.anthropic.com"}, "backend": "claude"}],
            }
        )
    )
    return path


async def test_the_addon_loads_its_config_and_routes_through_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, monkeypatch)
    addon = Crosswire()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, crosswire_config=str(path), stream_large_bodies="1m")
        rt = addon.runtime
        assert rt is not None and addon.engine is not None
        assert tctx.options.allow_hosts == [
            r"^api\.anthropic\.com(:\d+)?$",
            r"^crosswire\.local(:\d+)?$",
        ]
        assert tctx.options.connection_strategy == "lazy"
        assert tctx.options.stream_large_bodies is None  # would leak bodies to the original host
        assert rt.keep_copies is False  # no mitmweb, no saved flows
        flow = make_flow(
            "POST", "api.anthropic.com", "/v1/messages", anthropic_body(), [("x-api-key", APP_KEY)]
        )
        await addon.request(flow)
        assert flow.request.url == "http://up.test/v1/messages"
        respond(flow, 200, anthropic_message())
        addon.responseheaders(flow)
        await addon.response(flow)
        assert flow.metadata[META]["status"] == 200
        await rt.close()


async def test_a_bad_config_is_an_options_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch)
    path = tmp_path / "bad.yaml"
    path.write_text("routes: [{backend: nowhere}]\n")
    addon = Crosswire()
    with taddons.context(Proxyserver(), addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="unknown backend 'nowhere'"):
            tctx.configure(addon, crosswire_config=str(path))
        assert addon.runtime is not None  # the previous config stays
        await addon.runtime.close()


async def test_an_internal_error_fails_closed_in_the_apps_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, monkeypatch)
    addon = Crosswire()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, crosswire_config=str(path))
        assert addon.engine is not None and addon.runtime is not None

        async def broken(*_: object) -> None:
            raise RuntimeError("bug")

        monkeypatch.setattr(addon.engine, "_routed", broken)
        flow = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
        await addon.request(flow)
        assert flow.response is not None and flow.response.status_code == 500
        assert json.loads(flow.response.content or b"")["error"]["type"] == "api_error"
        assert flow.request.pretty_host == "api.anthropic.com"  # but nothing is sent: answered
        assert flow.marked == ":x:"
        # A flow that already has an answer (another addon's) is left alone.
        answered = make_flow("POST", "api.anthropic.com", "/v1/messages", anthropic_body())
        respond(answered, 204, b"")
        await addon.request(answered)
        assert answered.response is not None and answered.response.status_code == 204
        await addon.runtime.close()
