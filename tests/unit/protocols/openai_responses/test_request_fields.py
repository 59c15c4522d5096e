"""Every current Responses request field (openai 3.54 ``ResponseCreateParams``): decoded
without error, passed through unchanged to Responses, and every encoded body checked key by
key against the SDK's TypedDicts (an unknown key anywhere fails)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import response_create_params

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall
from tests.unit.protocols.openai_chat.strict_typeddict import assert_fits
from tests.unit.protocols.openai_responses.support import FIXTURES, decode, encode

#: Fields added in 2025–2026, with valid values.
NEW: dict[str, Any] = {
    "prompt_cache_key": "user-42",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    "safety_identifier": "hash-1",
    "service_tier": "flex",
    "max_tool_calls": 3,
    "text": {"verbosity": "low"},
    "metadata": {"k": "v"},
    "truncation": "auto",
    "background": False,
    "top_logprobs": 2,
    "moderation": {"model": "omni-moderation-latest"},
    "context_management": [{"type": "compaction", "compact_threshold": 1000}],
}


def _type(body: dict[str, Any]) -> Any:
    if body.get("stream"):
        return response_create_params.ResponseCreateParamsStreaming
    return response_create_params.ResponseCreateParamsNonStreaming


def test_new_fields_pass_through_unchanged_and_fit_the_sdk_types() -> None:
    report = ir.Report()
    request = decode({"model": "m", "input": "hi", **NEW}, report)
    assert not report.notes
    out = encode(request)
    for key, value in NEW.items():
        assert out[key] == value, key
    assert_fits(out, _type(out))


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_reasoning_effort_reaches_responses_unchanged(effort: str) -> None:
    request = decode({"model": "m", "input": "hi", "reasoning": {"effort": effort}})
    assert request.reasoning is not None and request.reasoning.effort == effort
    out = encode(request)
    assert out["reasoning"]["effort"] == effort
    assert_fits(out, _type(out))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_recorded_request_fits_the_sdk_types_after_encoding(path: Path) -> None:
    """What the encoder writes fits the SDK, even where the app itself sent a shape the SDK
    does not type (an id-less assistant ``output_text`` list goes up as string content)."""
    body = json.loads(path.read_text())["request"]["body"]
    out = encode(decode(body))
    assert_fits(out, _type(out))


CHAT = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.mark.parametrize(
    "path",
    sorted(CHAT.glob("openai_chat/*.json")) + sorted(CHAT.glob("anthropic/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_requests_from_other_protocols_fit_the_sdk_types(path: Path) -> None:
    rec = json.loads(path.read_text())
    protocol = "anthropic" if path.parent.name == "anthropic" else "openai-chat"
    call = ClientCall(protocol=protocol, endpoint="generate")
    request = codec(protocol).decode_request(
        call, json.dumps(rec["request"]["body"]).encode(), ir.Report()
    )
    out = encode(request)
    assert_fits(out, _type(out))
