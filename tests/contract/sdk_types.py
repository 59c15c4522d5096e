"""Which official SDK type describes each wire message crosswire sends or returns.

``request_violations`` checks an upstream request (path, headers, body) against the backend's
SDK request types; ``answer_violations`` checks what an app receives (a whole body, or every
event of a stream) against the app's SDK response types. Both return a list of readable
violations, empty when the message is one the SDK describes. The check itself is
``checker.Checker``: unknown fields and missing required fields are violations, as they are
for the real APIs. The few fields crosswire returns on purpose beyond an app SDK's types are
listed, with their reasons, in ``extensions`` and taken out before the check.

SDK versions and the API versions their types describe: openai 3.54 (Chat Completions,
Responses, legacy Completions), anthropic 2.12 (Messages API ``2026-10-21``), google-genai 2.8
(Gemini API ``v1beta``, camelCase REST names), mistralai 3.7 (chat, FIM), ollama 0.6.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict
from urllib.parse import parse_qsl

import anthropic
import ollama._types as ollama_types
from anthropic.types import message_create_params
from anthropic.types.raw_message_stream_event import RawMessageStreamEvent
from anthropic.types.shared.error_response import ErrorResponse as AnthropicError
from google.genai import types as genai
from mistralai.client import models as mistral
from mistralai.client.types.basemodel import UnrecognizedInt, UnrecognizedStr
from openai.types import Completion, completion_create_params
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
)
from openai.types.chat import (
    completion_create_params as chat_params,
)
from openai.types.responses import Response, ResponseStreamEvent, response_create_params
from openai.types.shared.error_object import ErrorObject as OpenAIErrorObject

from crosswire.streams import SSEDecoder
from tests.contract.checker import Checker
from tests.contract.extensions import allowed_removed

#: The API version the installed anthropic SDK sends, and so the one its types describe.
ANTHROPIC_SDK_VERSION: str = anthropic._constants.ANTHROPIC_API_VERSION  # type: ignore[attr-defined]

#: Request fields of Messages API ``2023-06-01`` that ``2026-10-21`` removed (the SDK's types no
#: longer have them): checked by hand when a request declares the older version.
ANTHROPIC_2023_ONLY: Mapping[str, type] = {"temperature": float, "top_p": float, "top_k": int}

CHECK = Checker(reject=(UnrecognizedStr, UnrecognizedInt))
OLLAMA_CHECK = Checker(
    overrides={
        # Ollama images travel as base64 strings; the SDK wraps them in a model.
        ollama_types.Image: str,
        # The app's JSON schema, passed through: its keywords are not the codec's to vet.
        ollama_types.Tool.Function.Parameters: dict[str, Any],
    },
    # ``messages: Sequence[Union[Mapping[str, Any], Message]]`` would accept any object.
    strict_unions=True,
)


class GeminiRequest(TypedDict, total=False):
    """The ``generateContent`` REST body for the Gemini Developer API, from the fields
    google-genai's request converter writes (``_GenerateContentParameters_to_mldev``)."""

    contents: list[genai.Content]
    systemInstruction: genai.Content
    tools: list[genai.Tool]
    toolConfig: genai.ToolConfig
    safetySettings: list[genai.SafetySetting]
    generationConfig: genai.GenerationConfig
    cachedContent: str
    serviceTier: genai.ServiceTier


class OpenAIErrorBody(TypedDict):
    error: OpenAIErrorObject


# ---- requests -----------------------------------------------------------------------------

_GEMINI_PATH = re.compile(r"^/v1beta/models/[^/:]+:(generateContent|streamGenerateContent)$")


def request_violations(
    backend: str,
    *,
    path: str,
    body: bytes,
    stream: bool,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    dialect: str = "openai",
) -> list[str]:
    """What in an upstream request the backend's SDK types do not describe."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    query = dict(query or {})
    try:
        data = json.loads(body)
    except ValueError as exc:
        return [f"body is not JSON: {exc}"]
    errors: list[str] = []
    match backend:
        case "openai-chat" if dialect == "mistral":
            tp: Any = (
                mistral.ChatCompletionStreamRequest if stream else mistral.ChatCompletionRequest
            )
        case "openai-chat":
            tp = (
                chat_params.CompletionCreateParamsStreaming
                if stream
                else chat_params.CompletionCreateParamsNonStreaming
            )
        case "openai-responses":
            tp = (
                response_create_params.ResponseCreateParamsStreaming
                if stream
                else response_create_params.ResponseCreateParamsNonStreaming
            )
        case "anthropic":
            tp = (
                message_create_params.MessageCreateParamsStreaming
                if stream
                else message_create_params.MessageCreateParamsNonStreaming
            )
            data, errors = _anthropic_version(data, headers)
        case "gemini":
            tp = GeminiRequest
            errors += _gemini_line(path, query, stream)
        case "ollama":
            tp = (
                ollama_types.GenerateRequest
                if path.endswith("/generate")
                else ollama_types.ChatRequest
            )
        case "fim":
            tp = mistral.FIMCompletionStreamRequest if stream else mistral.FIMCompletionRequest
        case "openai-completions":
            tp = (
                completion_create_params.CompletionCreateParamsStreaming
                if stream
                else completion_create_params.CompletionCreateParamsNonStreaming
            )
        case _:
            raise ValueError(f"no SDK types for backend {backend!r}")
    return errors + (OLLAMA_CHECK if backend == "ollama" else CHECK).check(data, tp)


def upstream_violations(path: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    """``request_violations`` for a request as an upstream server receives it: the backend
    protocol and streaming are read from the request line and body (loopback e2e upstreams,
    whose base URLs are the providers' own layouts)."""
    route, _, qs = path.partition("?")
    query = dict(parse_qsl(qs))
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        return [f"body is not JSON: {exc}"]
    streamed = isinstance(data, dict) and data.get("stream") is True
    backend = _BACKEND_PATHS.get("/".join(route.rsplit("/", 2)[-2:]))
    if ":generateContent" in route or ":streamGenerateContent" in route:
        backend, streamed = "gemini", ":streamGenerateContent" in route
    elif route.startswith("/api/"):
        backend = "ollama"
        streamed = not (isinstance(data, dict) and data.get("stream") is False)
    if backend is None:
        return [f"{path}: no SDK types for this upstream path"]
    return request_violations(
        backend, path=route, body=body, stream=streamed, headers=headers, query=query
    )


_BACKEND_PATHS = {
    "chat/completions": "openai-chat",
    "v1/responses": "openai-responses",
    "v1/messages": "anthropic",
    "fim/completions": "fim",
    "v1/completions": "openai-completions",
}


def _anthropic_version(data: Any, headers: Mapping[str, str]) -> tuple[Any, list[str]]:
    version = headers.get("anthropic-version")
    if version == ANTHROPIC_SDK_VERSION:
        return data, []
    if version != "2023-06-01":
        return data, [f"header anthropic-version: {version!r} is not a known API version"]
    if not isinstance(data, dict):
        return data, []
    errors = []
    rest = dict(data)
    for name, kind in ANTHROPIC_2023_ONLY.items():
        if name in rest:
            value = rest.pop(name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or (kind is int and not isinstance(value, int))
            ):
                errors.append(f"$.{name}: expected a {kind.__name__}, got {value!r}")
    return rest, errors


def _gemini_line(path: str, query: Mapping[str, str], stream: bool) -> list[str]:
    m = _GEMINI_PATH.match(path.split("?", 1)[0])
    if not m:
        return [f"path {path!r} is not a Gemini generateContent path"]
    method = "streamGenerateContent" if stream else "generateContent"
    errors = [] if m.group(1) == method else [f"path {path!r}: expected :{method}"]
    if stream and query.get("alt") != "sse":
        errors.append("a streamed Gemini request without alt=sse gets a JSON array, not SSE")
    return errors


# ---- answers ------------------------------------------------------------------------------


def answer_violations(
    client: str,
    body: bytes,
    *,
    stream: bool,
    dialect: str = "openai",
    variant: str | None = None,
    error: bool = False,
) -> list[str]:
    """What in an app's answer (whole, or each stream event, or an error body) its SDK types
    do not describe."""
    try:
        if error:
            tp = AnthropicError if client == "anthropic" else OpenAIErrorBody
            return CHECK.check(json.loads(body), tp)
        if not stream:
            return _whole(client, json.loads(body), dialect, variant)
        return _stream(client, body, dialect, variant)
    except ValueError as exc:
        return [f"answer is not parseable: {exc}"]


def _whole_type(client: str, dialect: str, variant: str | None) -> Any:
    match client:
        case "openai-chat":
            return mistral.ChatCompletionResponse if dialect == "mistral" else ChatCompletion
        case "openai-responses":
            return Response
        case "anthropic":
            return anthropic.types.Message
        case "gemini":
            return genai.GenerateContentResponse
        case "fim":
            return mistral.FIMCompletionResponse
        case "openai-completions":
            return Completion
        case "ollama":
            return (
                ollama_types.GenerateResponse
                if variant == "generate"
                else ollama_types.ChatResponse
            )
    raise ValueError(f"no SDK types for client {client!r}")


def _whole(client: str, data: Any, dialect: str, variant: str | None) -> list[str]:
    checker = OLLAMA_CHECK if client == "ollama" else CHECK
    data = allowed_removed(client, dialect, data, stream=False)
    return checker.check(data, _whole_type(client, dialect, variant))


def _stream(client: str, body: bytes, dialect: str, variant: str | None) -> list[str]:
    if client == "ollama":
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        tp = _whole_type(client, dialect, variant)
        return [
            e
            for i, ln in enumerate(lines)
            for e in OLLAMA_CHECK.check(json.loads(ln), tp, f"line{i}")
        ]
    if client == "gemini" and variant == "json-array":
        items = json.loads(body)
        if not isinstance(items, list):
            return ["a json-array stream is not a JSON array"]
        return [
            e
            for i, it in enumerate(items)
            for e in CHECK.check(it, genai.GenerateContentResponse, f"[{i}]")
        ]
    errors: list[str] = []
    events = sse_events(body)
    if not events:
        return ["the stream has no events"]
    done = [i for i, (_, data) in enumerate(events) if data == "[DONE]"]
    uses_done = client in ("openai-chat", "fim", "openai-completions")
    if uses_done and done != [len(events) - 1] and not _ends_in_error(events):
        errors.append("the stream does not end with one data: [DONE]")
    if not uses_done and done:
        errors.append(f"{client} streams have no data: [DONE]")
    for i, (name, data) in enumerate(events):
        if data == "[DONE]":
            continue
        where = f"event{i}"
        value = json.loads(data)
        errors += _event(client, dialect, name, value, where)
    return errors


def _ends_in_error(events: list[tuple[str | None, str]]) -> bool:
    last = events[-1][1]
    return last != "[DONE]" and '"error"' in last


def _event(client: str, dialect: str, name: str | None, value: Any, where: str) -> list[str]:
    kind = value.get("type") if isinstance(value, dict) else None
    value = allowed_removed(client, dialect, value, stream=True)
    if client in ("anthropic", "openai-responses"):
        errors = [] if name == kind else [f"{where}: event: {name!r} but data type {kind!r}"]
        if client == "anthropic":
            if kind == "ping":
                return errors + CHECK.check(value, _Ping, where)
            if kind == "error":
                return errors + CHECK.check(value, AnthropicError, where)
            return errors + CHECK.check(value, RawMessageStreamEvent, where)
        return errors + CHECK.check(value, ResponseStreamEvent, where)
    if isinstance(value, dict) and "error" in value and client != "gemini":
        return CHECK.check(value, OpenAIErrorBody, where)
    match client:
        case "openai-chat":
            tp: Any = mistral.CompletionChunk if dialect == "mistral" else ChatCompletionChunk
        case "fim":
            tp = mistral.CompletionChunk
        case "openai-completions":
            tp = Completion
            value = _completion_chunk(value)
        case "gemini":
            tp = genai.GenerateContentResponse
        case _:
            raise ValueError(f"no stream types for client {client!r}")
    return CHECK.check(value, tp, where)


def _completion_chunk(value: Any) -> Any:
    """openai types stream chunks of the legacy Completions API with the whole answer's
    ``Completion``, whose ``finish_reason`` is never null; OpenAI sends null until the last
    chunk, so a null there is the wire format, not a violation."""
    if not isinstance(value, dict) or not isinstance(value.get("choices"), list):
        return value
    choices = [
        {**c, "finish_reason": "stop"}
        if isinstance(c, dict) and c.get("finish_reason", 0) is None
        else c
        for c in value["choices"]
    ]
    return {**value, "choices": choices}


class _Ping(TypedDict):
    """Anthropic's keep-alive event; the SDK skips it without a type."""

    type: str


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event, by crosswire's WHATWG event-stream parser (framing
    only: what is checked is each event's JSON, against the SDK)."""
    decoder = SSEDecoder()
    frames = decoder.feed(body) + decoder.flush()
    return [(f.event, f.data) for f in frames]
