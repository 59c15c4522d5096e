"""Gemini v1beta fields added in 2025–2026: never refused, kept for a Gemini backend, mapped
to the IR where it has a meaning, otherwise left in ``native`` (which the pipeline names as
dropped for other backends)."""

from __future__ import annotations

from typing import Any

from google.genai import types

from crosswire.ir import Report

from .support import decode, encode_body

#: Every current field that the IR does not model, where the REST API takes it.
UNMODELLED: dict[str, Any] = {
    "serviceTier": "flex",
    "cachedContent": "cachedContents/abc",
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
    "generationConfig.responseModalities": ["TEXT", "IMAGE"],
    "generationConfig.mediaResolution": "MEDIA_RESOLUTION_LOW",
    "generationConfig.responseLogprobs": True,
    "generationConfig.logprobs": 3,
    "generationConfig.enableEnhancedCivicAnswers": True,
    "generationConfig.speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}
    },
    "generationConfig.imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
    "toolConfig.functionCallingConfig.streamFunctionCallArguments": True,
    "toolConfig.includeServerSideToolInvocations": True,
    "toolConfig.retrievalConfig": {"languageCode": "en"},
}


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return out


def full_body() -> dict[str, Any]:
    body = nested(UNMODELLED)
    body["contents"] = [{"role": "user", "parts": [{"text": "q"}]}]
    body["tools"] = [
        {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}
    ]
    body["generationConfig"].update(
        {
            "seed": 7,
            "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True},
        }
    )
    body["toolConfig"]["functionCallingConfig"]["mode"] = "VALIDATED"
    return body


def test_the_sdk_knows_every_field() -> None:
    """The fixture uses the names google-genai 2.8 serialises (guards against typos)."""
    generation = full_body()["generationConfig"]
    types.GenerationConfig.model_validate(
        {k: v for k, v in generation.items() if k not in ("imageConfig",)}
    )
    types.ImageConfig.model_validate(generation["imageConfig"])
    types.ToolConfig.model_validate(full_body()["toolConfig"])


def test_current_fields_are_accepted_and_mapped() -> None:
    request = decode(full_body())
    assert request.params.seed == 7
    assert request.reasoning is not None
    assert request.reasoning.effort == "high"
    assert request.reasoning.include_thoughts is True
    assert request.tool_choice is not None and request.tool_choice.mode == "auto"
    native = request.native["gemini"]
    for path, value in UNMODELLED.items():
        assert native[path] == value, path
    assert native["toolConfig.functionCallingConfig.mode"] == "VALIDATED"


def test_snake_case_spellings_are_accepted() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "system_instruction": {"parts": [{"text": "sys"}]},
        "service_tier": "priority",
        "generation_config": {
            "max_output_tokens": 10,
            "thinking_config": {"thinking_level": "low", "include_thoughts": False},
            "media_resolution": "MEDIA_RESOLUTION_HIGH",
            "response_mime_type": "application/json",
        },
        "tool_config": {"function_calling_config": {"mode": "ANY"}},
        "tools": [{"function_declarations": [{"name": "f"}]}],
    }
    request = decode(body)
    assert request.messages[0].role == "system"
    assert request.params.max_tokens == 10
    assert request.reasoning is not None and request.reasoning.effort == "low"
    assert request.tool_choice is not None and request.tool_choice.mode == "required"
    assert request.response_format is not None
    assert request.native["gemini"]["serviceTier"] == "priority"
    assert request.native["gemini"]["generationConfig.mediaResolution"] == "MEDIA_RESOLUTION_HIGH"


def test_a_gemini_backend_gets_them_back_in_place() -> None:
    report = Report()
    body = encode_body(decode(full_body()), model="gemini-3-flash-preview", report=report)
    sent = full_body()
    for key in ("serviceTier", "cachedContent", "safetySettings"):
        assert body[key] == sent[key]
    for key, value in sent["generationConfig"].items():
        if key != "thinkingConfig":
            assert body["generationConfig"][key] == value, key
    assert body["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "high",
        "includeThoughts": True,
    }
    assert body["toolConfig"] == sent["toolConfig"]
