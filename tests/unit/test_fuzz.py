"""Every protocol's decoders under generated and mutated input: nothing but a clean 4xx.

A decoder may accept a body or raise ``ClientRequestError``; anything else (KeyError,
TypeError, RecursionError…) would be a crash in the proxy. Accepted requests must then encode
for every backend or raise a ``ConversionError``; the error answers must be well-formed JSON.
Upstream decoders get the same treatment with ``UpstreamProtocolError``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import PROTOCOLS, ClientCall, Target

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = int(os.environ.get("CROSSWIRE_FUZZ_EXAMPLES", "300"))

FIXTURE_PROTOCOL = {
    "openai_chat": "openai-chat",
    "openai_responses": "openai-responses",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "ollama": "ollama",
    "mistral": "openai-chat",
}
VARIANT = {"ollama": "chat", "fim": "fim", "openai-completions": "completions", "gemini": None}


def _seed_bodies() -> dict[str, list[dict[str, Any]]]:
    from crosswire.protocols import PROTOCOLS as ALL

    seeds: dict[str, list[dict[str, Any]]] = {p: [] for p in ALL}
    for folder, protocol in FIXTURE_PROTOCOL.items():
        for path in sorted((FIXTURES / folder).glob("*.json")):
            record = json.loads(path.read_text())
            body = record["request"]["body"]
            if folder == "mistral" and record["protocol"] == "mistral-fim":
                seeds["fim"].append(body)
            elif isinstance(body, dict):
                seeds[protocol].append(body)
    seeds["openai-completions"].append(
        {"model": "m", "prompt": "def f(", "suffix": "\n", "max_tokens": 5}
    )
    return seeds


SEEDS = _seed_bodies()
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def _call(protocol: str) -> ClientCall:
    return ClientCall(
        protocol=protocol,
        endpoint="generate",
        model="m" if protocol == "gemini" else None,  # type: ignore[arg-type]
        variant=VARIANT.get(protocol),
    )


@st.composite
def mutated(draw: st.DrawFn, protocol: str) -> bytes:
    seeds = SEEDS[protocol] or [{"model": "m"}]
    body: Any = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 4))):
        body = _mutate(draw, body)
    raw = json.dumps(body).encode()
    if draw(st.integers(0, 9)) == 0:  # byte-level damage: truncation or invalid UTF-8
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.sampled_from([b"", b"\xff\xfe", b"\xc3"]))
    return raw


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.integers(0, 3))
        if action == 0:
            del node[key]
        elif action == 1:
            node[key] = draw(json_value)
        else:
            node[key] = _mutate(draw, node[key])
        return node
    if isinstance(node, list) and node:
        i = draw(st.integers(0, len(node) - 1))
        if draw(st.booleans()):
            node[i] = _mutate(draw, node[i])
        else:
            node[i] = draw(json_value)
        return node
    return draw(json_value)


def _check_request(protocol: str, body: bytes) -> None:
    client = codec(protocol)  # type: ignore[arg-type]
    call = _call(protocol)
    try:
        request = client.decode_request(call, body, ir.Report())
    except ir.ClientRequestError as exc:
        encoded = client.encode_error(call, exc.to_error())
        assert 400 <= encoded.status < 500
        if protocol != "ollama":
            json.loads(encoded.body)
        return
    for target in PROTOCOLS:
        with contextlib.suppress(ir.ConversionError):
            codec(target).encode_request(request, Target(protocol=target, model="m"), ir.Report())  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_request_decoders_never_crash_on_mutated_bodies(protocol: str, data: st.DataObject) -> None:
    _check_request(protocol, data.draw(mutated(protocol)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(value=json_value)
def test_request_decoders_never_crash_on_arbitrary_json(protocol: str, value: Any) -> None:
    _check_request(protocol, json.dumps(value).encode())


def test_deeply_nested_json_is_refused_not_a_recursion_error() -> None:
    body = b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for protocol in PROTOCOLS:
        with pytest.raises(ir.ClientRequestError):
            codec(protocol).decode_request(_call(protocol), body, ir.Report())  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(data=st.binary(max_size=300) | json_value.map(lambda v: json.dumps(v).encode()))
def test_upstream_decoders_never_crash(protocol: str, data: bytes) -> None:
    backend = codec(protocol)  # type: ignore[arg-type]
    with contextlib.suppress(ir.ConversionError):
        backend.decode_response(data, ir.Report())
    decoder = backend.stream_decoder(ir.Request(model="m", stream=True), ir.Report())
    try:
        decoder.feed(data)
        decoder.flush()
    except ir.ConversionError:
        pass
    err = backend.decode_error(500, {}, data)
    assert isinstance(err, ir.Error)
