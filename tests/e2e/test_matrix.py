"""The conversion matrix: every client protocol × every backend protocol × {text, tool round
trip} × {whole, streamed}, each through one real crosswire with the official SDK as the client.

One proxy serves the whole module: routes pick the backend from the model name
(``to-<backend>``), and one loopback upstream answers each backend protocol in its exact wire
format, from real recordings where tests/fixtures has them. Each converted request the
upstream receives is checked against the backend SDK's request types (tests/contract). The
README's matrix table is this file's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    FIXTURES,
    Proxy,
    Recorded,
    Reply,
    Upstream,
    anthropic_client,
    genai_client,
    openai_client,
    reply_from_fixture,
)

pytestmark = pytest.mark.e2e

BACKENDS = {
    "openai-chat": "/v1",
    "openai-responses": "/v1",
    "anthropic": "",
    "gemini": "",
    "ollama": "",
    "fim": "/v1",
}
CLIENTS = ["openai-chat", "openai-responses", "anthropic", "gemini", "fim"]

#: Recorded answers per (backend, scenario, streamed).
RECORDED = {
    ("openai-chat", "text", False): "openai_chat/nonstream_after_tool_results.json",
    ("openai-chat", "text", True): "openai_chat/stream_text_no_usage.json",
    ("openai-chat", "tool", False): "openai_chat/nonstream_tool_call.json",
    ("openai-chat", "tool", True): "openai_chat/stream_single_tool_call.json",
    ("anthropic", "text", False): "anthropic/nonstream_text_basic.json",
    ("anthropic", "text", True): "anthropic/stream_text_basic.json",
    ("anthropic", "tool", False): "anthropic/nonstream_parallel_tool_use.json",
    ("anthropic", "tool", True): "anthropic/stream_tool_use_input_json_delta.json",
    ("gemini", "text", False): "gemini/nonstream_text_basic.json",
    ("gemini", "text", True): "gemini/sse_text_basic.json",
    ("gemini", "tool", False): "gemini/nonstream_parallel_function_calls.json",
    ("gemini", "tool", True): "gemini/sse_function_call_gemini25.json",
    ("openai-responses", "text", False): "openai_responses/nonstream_text_basic.json",
    ("openai-responses", "text", True): "openai_responses/stream_text_basic.json",
    ("openai-responses", "tool", False): "openai_responses/nonstream_parallel_function_calls.json",
    ("openai-responses", "tool", True): "openai_responses/stream_function_call.json",
    ("ollama", "text", False): "ollama/chat_nonstream_text.json",
    ("ollama", "text", True): "ollama/chat_stream_ndjson_llama3.json",
    ("ollama", "tool", False): "ollama/chat_nonstream_tool_call_dotnet.json",
    ("fim", "text", False): "mistral/fim_nonstream_codestral2501.json",
}

OLLAMA_TOOL_STREAM = [
    b'{"model":"llama3.1","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"",'
    b'"tool_calls":[{"function":{"name":"lookup","arguments":{"city":"Paris"}}}]},"done":false}\n',
    b'{"model":"llama3.1","created_at":"2025-01-01T00:00:01Z","message":{"role":"assistant","content":""},'
    b'"done":true,"done_reason":"stop","prompt_eval_count":20,"eval_count":9}\n',
]
FIM_STREAM = [
    b'data: {"id":"f1","object":"chat.completion.chunk","created":1,"model":"codestral","choices":[{"index":0,"delta":{"role":"assistant","content":"return a"},"finish_reason":null}]}\n\n',
    b'data: {"id":"f1","object":"chat.completion.chunk","created":1,"model":"codestral","choices":[{"index":0,"delta":{"content":" + b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}\n\n',
    b"data: [DONE]\n\n",
]

#: Pairs that cannot work, and why (the app gets a clear error in its own protocol).
UNSUPPORTED = {
    (client, "fim", scenario): "a FIM backend only completes code; it has no chat"
    for client in CLIENTS
    if client != "fim"
    for scenario in ("text", "tool")
}


def _backend_of(rec: Recorded) -> str:
    path = rec.path.split("?", 1)[0]
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if path.startswith("/api/"):
        return "ollama"
    if path.endswith("/fim/completions"):
        return "fim"
    raise AssertionError(f"unexpected upstream path {path}")


def _scenario(rec: Recorded) -> str:
    text = rec.body.decode("utf-8", "replace")
    markers = (
        '"tool_result"',
        '"role":"tool"',
        '"role": "tool"',
        "functionResponse",
        "function_call_output",
        "function_response",
    )
    if any(m in text for m in markers):
        return "text"
    return (
        "tool"
        if (
            '"tools"' in text or '"functionDeclarations"' in text or "function_declarations" in text
        )
        else "text"
    )


def _streamed(rec: Recorded, backend: str) -> bool:
    if backend == "gemini":
        return ":streamGenerateContent" in rec.path
    body = json.loads(rec.body or b"{}")
    if backend == "ollama":
        return body.get("stream", True) is not False
    return body.get("stream") is True


def upstream_handler(rec: Recorded) -> Reply:
    backend = _backend_of(rec)
    scenario, streamed = _scenario(rec), _streamed(rec, backend)
    if backend == "ollama" and scenario == "tool" and streamed:
        return Reply(200, {"content-type": "application/x-ndjson"}, list(OLLAMA_TOOL_STREAM))
    if backend == "fim" and streamed:
        return Reply(200, {"content-type": "text/event-stream"}, list(FIM_STREAM))
    return reply_from_fixture(RECORDED[(backend, scenario, streamed)])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Upstream]]:
    upstream = Upstream(validate=True)  # every upstream request is checked against its SDK types
    upstream.handler = upstream_handler
    backends = "".join(
        f'  b-{name}:\n    protocol: {name}\n    base_url: {upstream.url}{base}\n    keys: [{{name: k, secret: "sk-matrix-{name}"}}]\n'
        for name, base in BACKENDS.items()
    )
    routes = "".join(
        f'  - match: {{model: "to-{name}*"}}\n    backend: b-{name}\n    model: real-{name}\n'
        for name in BACKENDS
    )
    routes += "  - match: {host: codestral.mistral.ai}\n    backend: b-openai-chat\n    model: real-openai-chat\n"
    workdir = tmp_path_factory.mktemp("matrix")
    confdir = tmp_path_factory.mktemp("matrixconf")
    proxy = Proxy(f"backends:\n{backends}routes:\n{routes}", workdir, confdir)
    yield proxy, upstream
    proxy.stop()
    upstream.close()


# ---- one driver per client SDK: returns (tool calls seen, final text) ------------------------

TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def drive_openai_chat(proxy: Proxy, model: str, tool: bool, stream: bool) -> tuple[int, str]:
    client = openai_client(proxy)
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "d", "parameters": TOOL_SCHEMA},
        }
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
    kw: dict[str, Any] = {"tools": tools} if tool else {}

    def call() -> tuple[str, list[dict[str, Any]]]:
        if not stream:
            out = client.chat.completions.create(model=model, messages=messages, **kw)
            msg = out.choices[0].message
            calls = [c.model_dump() for c in msg.tool_calls or []]
            return msg.content or "", calls
        text, calls = "", {}
        for chunk in client.chat.completions.create(
            model=model, messages=messages, stream=True, **kw
        ):
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for tc in delta.tool_calls or []:
                entry = calls.setdefault(
                    tc.index,
                    {"id": tc.id, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if tc.function and tc.function.name:
                    entry["function"]["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    entry["function"]["arguments"] += tc.function.arguments
        return text, list(calls.values())

    text, calls = call()
    if not tool:
        return 0, text
    assert calls, "expected a tool call"
    for c in calls:
        json.loads(c["function"]["arguments"] or "{}")
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in calls]
    text, _ = call()
    return len(calls), text


def drive_openai_responses(proxy: Proxy, model: str, tool: bool, stream: bool) -> tuple[int, str]:
    client = openai_client(proxy)
    tools = [{"type": "function", "name": "lookup", "description": "d", "parameters": TOOL_SCHEMA}]
    items: list[Any] = [{"role": "user", "content": "hi"}]
    kw: dict[str, Any] = {"tools": tools} if tool else {}

    def call() -> Any:
        if not stream:
            return client.responses.create(model=model, input=items, store=False, **kw)
        final = None
        for event in client.responses.create(
            model=model, input=items, store=False, stream=True, **kw
        ):
            if event.type in ("response.completed", "response.incomplete"):
                final = event.response
        assert final is not None, "stream ended without response.completed"
        return final

    out = call()
    if not tool:
        return 0, out.output_text
    calls = [o for o in out.output if o.type == "function_call"]
    assert calls, "expected a function_call item"
    items += [
        o.model_dump(exclude_none=True)
        for o in out.output
        if o.type in ("function_call", "reasoning")
    ]
    items += [
        {"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls
    ]
    return len(calls), call().output_text


def drive_anthropic(proxy: Proxy, model: str, tool: bool, stream: bool) -> tuple[int, str]:
    client = anthropic_client(proxy)
    kw: dict[str, Any] = (
        {"tools": [{"name": "lookup", "description": "d", "input_schema": TOOL_SCHEMA}]}
        if tool
        else {}
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]

    def call() -> Any:
        if not stream:
            return client.messages.create(model=model, max_tokens=1024, messages=messages, **kw)
        with client.messages.stream(model=model, max_tokens=1024, messages=messages, **kw) as s:
            return s.get_final_message()

    msg = call()
    text = "".join(b.text for b in msg.content if b.type == "text")
    if not tool:
        return 0, text
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert uses and msg.stop_reason == "tool_use"
    messages.append(
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]}
    )
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": u.id, "content": "sunny"} for u in uses
            ],
        }
    )
    msg = call()
    return len(uses), "".join(b.text for b in msg.content if b.type == "text")


def drive_gemini(proxy: Proxy, model: str, tool: bool, stream: bool) -> tuple[int, str]:
    from google.genai import types

    client = genai_client(proxy)
    config = (
        types.GenerateContentConfig(
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="lookup", description="d", parameters_json_schema=TOOL_SCHEMA
                        )
                    ]
                )
            ]
        )
        if tool
        else None
    )
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="hi")])]

    def call() -> tuple[str, list[Any], list[Any]]:
        if not stream:
            out = client.models.generate_content(model=model, contents=contents, config=config)
            parts = (
                out.candidates[0].content.parts
                if out.candidates and out.candidates[0].content
                else []
            )
        else:
            parts = []
            for chunk in client.models.generate_content_stream(
                model=model, contents=contents, config=config
            ):
                if (
                    chunk.candidates
                    and chunk.candidates[0].content
                    and chunk.candidates[0].content.parts
                ):
                    parts += chunk.candidates[0].content.parts
        text = "".join(p.text or "" for p in parts if not p.thought)
        return text, [p.function_call for p in parts if p.function_call], parts

    text, calls, parts = call()
    if not tool:
        return 0, text
    assert calls, "expected a functionCall"
    contents.append(types.Content(role="model", parts=parts))
    contents.append(
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name=c.name, id=c.id, response={"result": "sunny"}
                    )
                )
                for c in calls
            ],
        )
    )
    text, _, _ = call()
    return len(calls), text


def drive_fim(proxy: Proxy, model: str, tool: bool, stream: bool) -> tuple[int, str]:
    from mistralai.client import Mistral

    http = httpx.Client(proxy=proxy.url, verify=proxy.ssl_context())
    client = Mistral(
        api_key="codestral-app-key", client=http, server_url="https://codestral.mistral.ai"
    )
    if not stream:
        out = client.fim.complete(
            model=model, prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))"
        )
        return 0, str(out.choices[0].message.content or "")
    text = ""
    for event in client.fim.stream(model=model, prompt="def add(a, b):\n    ", suffix="\n"):
        for choice in event.data.choices:
            text += str(choice.delta.content or "")
    return 0, text


DRIVERS: dict[str, Callable[[Proxy, str, bool, bool], tuple[int, str]]] = {
    "openai-chat": drive_openai_chat,
    "openai-responses": drive_openai_responses,
    "anthropic": drive_anthropic,
    "gemini": drive_gemini,
    "fim": drive_fim,
}

CELLS = [
    (client, backend, scenario, stream)
    for client in CLIENTS
    for backend in BACKENDS
    for scenario in ("text", "tool")
    for stream in (False, True)
    if not (client == "fim" and scenario == "tool")  # FIM has no tools: not a cell
]


@pytest.mark.parametrize(
    ("client", "backend", "scenario", "stream"),
    CELLS,
    ids=[f"{c}->{b}-{s}-{'stream' if st else 'whole'}" for c, b, s, st in CELLS],
)
def test_matrix_cell(
    matrix: tuple[Proxy, Upstream], client: str, backend: str, scenario: str, stream: bool
) -> None:
    proxy, upstream = matrix
    since = len(upstream.requests)
    _run_cell(proxy, client, backend, scenario, stream)
    if client != backend:  # same protocol: the app's own body goes up byte for byte
        assert not upstream.violations(since), "\n".join(upstream.violations(since))


def _run_cell(proxy: Proxy, client: str, backend: str, scenario: str, stream: bool) -> None:
    model = f"to-{backend}"
    why = UNSUPPORTED.get((client, backend, scenario))
    if client == "fim" and backend == "fim":
        pass  # same protocol: passthrough
    if why:
        with pytest.raises(Exception) as err:  # the SDK's own 4xx error type
            DRIVERS[client](proxy, model, scenario == "tool", stream)
        status = (
            getattr(err.value, "status_code", None)
            or getattr(getattr(err.value, "response", None), "status_code", None)
            or getattr(err.value, "code", None)
        )
        assert status == 400, f"{type(err.value).__name__}: {err.value}"
        return
    if client == "fim":
        routed = f"to-{backend}"
        calls, text = DRIVERS[client](proxy, routed, False, stream)
    else:
        calls, text = DRIVERS[client](proxy, model, scenario == "tool", stream)
    assert text.strip(), "the final answer has text"
    if scenario == "tool":
        assert calls >= 1


def test_readme_matrix_is_current() -> None:
    """The README's matrix lists every backend; unsupported cells say why."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "## Conversion matrix" in readme
    for reason in set(UNSUPPORTED.values()):
        assert reason in readme
    _ = FIXTURES
