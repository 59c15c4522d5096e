"""A scripted model: a loopback upstream that plays one tool round trip in a backend's exact
wire format, so a real app can be driven through crosswire without a real model.

Usage (with the harness's :class:`~tests.e2e.harness.Upstream`)::

    model = ScriptedModel("gemini", Script(final=f"The word is {word}.", tool="read_file",
                                           arguments={"path": str(secret)}, expect=word))
    upstream.handler = model
    ... run the app, its provider's host routed to a ``gemini`` backend at ``upstream.url`` ...
    assert model.final in app_output
    assert model.round_trip, model.explain()

What it answers, per generation request (``protocol`` is the backend's: ``openai-chat``,
``anthropic``, ``gemini`` or ``openai-responses``; whole or streamed as the request asked):

* the request carries a tool result → ``final`` when a result contains ``expect`` (that is the
  round trip, ``round_trip`` turns true), otherwise a text saying the result was wrong;
* else, the request declares ``tool`` → a call to ``tool`` with ``arguments``;
* else, the request asks for JSON output (a schema) → a minimal instance of the schema (apps
  use such side calls for routing, next-speaker checks, titles…);
* else → ``final`` (a plain prompt, or an app's side call such as a title).

Answers are the recordings in ``tests/fixtures`` with their text, tool name and arguments
replaced (ids, usage, framing and provider quirks kept). ``count_tokens`` / ``countTokens`` and
model lists are answered too; anything else gets a 404 and is listed in ``unexpected``.
Every request is kept in ``requests`` (``endpoints()`` summarises them for a report).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.harness import FIXTURES, Recorded, Reply

PROTOCOLS = ("openai-chat", "anthropic", "gemini", "openai-responses")

#: base_url for each backend protocol, relative to the upstream's root (what crosswire's config
#: ``base_url`` takes: OpenAI-style URLs end in /v1).
BASE_PATH = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "", "gemini": ""}

#: The recording each answer is templated from: (protocol, kind, framing) → fixture.
RECORDINGS = {
    ("openai-chat", "text", "whole"): "openai_chat/nonstream_after_tool_results.json",
    ("openai-chat", "text", "sse"): "openai_chat/stream_after_tool_result_include_usage.json",
    ("openai-chat", "tool", "whole"): "openai_chat/nonstream_tool_call.json",
    ("openai-chat", "tool", "sse"): "openai_chat/stream_tool_call_include_usage.json",
    ("anthropic", "text", "whole"): "anthropic/nonstream_text_basic.json",
    ("anthropic", "text", "sse"): "anthropic/stream_text_basic.json",
    ("anthropic", "tool", "whole"): "anthropic/nonstream_parallel_tool_use.json",
    ("anthropic", "tool", "sse"): "anthropic/stream_tool_use_input_json_delta.json",
    ("gemini", "text", "whole"): "gemini/nonstream_text_basic.json",
    ("gemini", "text", "sse"): "gemini/sse_text_basic.json",
    ("gemini", "text", "array"): "gemini/stream_json_array_response_schema.json",
    ("gemini", "tool", "whole"): "gemini/nonstream_parallel_function_calls.json",
    ("gemini", "tool", "sse"): "gemini/sse_function_call_gemini25.json",
    ("gemini", "tool", "array"): "gemini/stream_json_array_function_call.json",
    ("openai-responses", "text", "whole"): "openai_responses/nonstream_text_basic.json",
    ("openai-responses", "text", "sse"): "openai_responses/stream_text_basic.json",
    (
        "openai-responses",
        "tool",
        "whole",
    ): "openai_responses/nonstream_parallel_function_calls.json",
    ("openai-responses", "tool", "sse"): "openai_responses/stream_function_call.json",
}


@dataclass(frozen=True)
class Script:
    """One conversation: ``final`` is the answer text; with ``tool`` set, the model first calls
    it with ``arguments`` and answers ``final`` only once a result containing ``expect`` is
    sent back."""

    final: str
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    expect: str = ""


class ScriptedModel:
    """An ``Upstream.handler`` speaking ``protocol`` (thread-safe: apps send side calls in
    parallel)."""

    def __init__(self, protocol: str, script: Script) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
        self.protocol = protocol
        self.script = script
        self.requests: list[Recorded] = []
        self.answers: list[str] = []  # per request: what was answered (for explain())
        self.tool_results: list[str] = []  # every tool result seen, as text
        self.tool_calls = 0  # tool calls answered
        self.unexpected: list[str] = []
        self._lock = threading.Lock()

    @property
    def final(self) -> str:
        return self.script.final

    @property
    def round_trip(self) -> bool:
        """True once a request carried a tool result containing ``expect``."""
        return bool(self.script.tool) and any(self.script.expect in r for r in self.tool_results)

    def __call__(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            kind, reply = self._answer(rec)
            self.answers.append(f"{rec.method} {rec.path.split('?')[0]} -> {kind}")
            return reply

    def endpoints(self) -> list[str]:
        """The distinct ``METHOD path`` the upstream saw, in order (for the apps table)."""
        return list(dict.fromkeys(a.split(" -> ")[0] for a in self.answers))

    def explain(self) -> str:
        """What happened, for an assertion message (never includes request bodies' secrets:
        the upstream only sees crosswire's requests, which carry the backend's fake key)."""
        lines = [f"scripted {self.protocol} model, {len(self.requests)} request(s):"]
        lines += [f"  {a}" for a in self.answers]
        lines += [f"  tool result: {r[:200]!r}" for r in self.tool_results]
        lines += [f"  unexpected: {u}" for u in self.unexpected]
        return "\n".join(lines)

    # ---- deciding ----------------------------------------------------------------------

    def _answer(self, rec: Recorded) -> tuple[str, Reply]:
        path = rec.path.split("?", 1)[0]
        if rec.method == "GET" and re.search(r"/models/?$", path):
            return "models", _json_reply(_model_list(self.protocol))
        if path.endswith("/count_tokens"):
            return "count_tokens", _json_reply({"input_tokens": 42})
        if path.endswith(":countTokens"):
            return "countTokens", _json_reply({"totalTokens": 42})
        if not _is_generation(self.protocol, rec.method, path):
            self.unexpected.append(f"{rec.method} {rec.path}")
            return "404", _json_reply({"error": {"message": f"not scripted: {path}"}}, 404)
        body = rec.json() if rec.body else {}
        framing = _framing(self.protocol, rec, body)
        results = _tool_results(self.protocol, body)
        if results:
            self.tool_results += results
            if any(self.script.expect in r for r in results):
                return "final", render(self.protocol, "text", framing, text=self.final)
            return "wrong-result", render(
                self.protocol,
                "text",
                framing,
                text=f"scripted model: no tool result contained {self.script.expect!r}",
            )
        tool = self.script.tool
        if tool and tool in _tool_names(self.protocol, body):
            self.tool_calls += 1
            return f"call {tool}", render(
                self.protocol, "tool", framing, name=tool, arguments=self.script.arguments
            )
        schema = _json_schema(self.protocol, body)
        if schema is not None:
            text = json.dumps(_instance(schema))
            return "json", render(self.protocol, "text", framing, text=text)
        return "text", render(self.protocol, "text", framing, text=self.final)


def _json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, {"content-type": "application/json"}, json.dumps(obj).encode())


def _model_list(protocol: str) -> Any:
    if protocol == "gemini":
        return {"models": [{"name": "models/scripted", "supportedGenerationMethods": []}]}
    if protocol == "anthropic":
        return {"data": [{"type": "model", "id": "scripted"}], "has_more": False}
    return {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "x"}]}


def _is_generation(protocol: str, method: str, path: str) -> bool:
    if method != "POST":
        return False
    return {
        "openai-chat": path.endswith("/chat/completions"),
        "openai-responses": path.endswith("/responses"),
        "anthropic": path.endswith("/v1/messages"),
        "gemini": path.endswith((":generateContent", ":streamGenerateContent")),
    }[protocol]


def _framing(protocol: str, rec: Recorded, body: dict[str, Any]) -> str:
    """'whole', 'sse', or 'array' (Gemini's streamGenerateContent without alt=sse)."""
    if protocol == "gemini":
        if ":streamGenerateContent" not in rec.path:
            return "whole"
        return "sse" if "alt=sse" in rec.path else "array"
    return "sse" if body.get("stream") is True else "whole"


# ---- reading requests (the backend's protocol) ---------------------------------------------


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _tool_results(protocol: str, body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if protocol == "openai-chat":
        out += [
            _text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"
        ]
    elif protocol == "anthropic":
        for m in body.get("messages", []):
            if isinstance(m.get("content"), list):
                out += [
                    _text_of(b.get("content"))
                    for b in m["content"]
                    if isinstance(b, dict) and b.get("type") == "tool_result"
                ]
    elif protocol == "gemini":
        for c in body.get("contents", []):
            for p in c.get("parts", []):
                fr = p.get("functionResponse") or p.get("function_response")
                if fr is not None:
                    out.append(_text_of(fr.get("response")))
    else:
        items = body.get("input")
        if isinstance(items, list):
            out += [
                _text_of(i.get("output"))
                for i in items
                if isinstance(i, dict) and i.get("type") == "function_call_output"
            ]
    return out


def _tool_names(protocol: str, body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for t in body.get("tools") or []:
        if protocol == "gemini":
            for d in t.get("functionDeclarations") or t.get("function_declarations") or []:
                names.add(d.get("name", ""))
        elif protocol == "openai-chat":
            names.add((t.get("function") or {}).get("name", ""))
        else:
            names.add(t.get("name", ""))
    return names


def _json_schema(protocol: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a JSON-output request asks for ({} when it asks for JSON without one)."""
    if protocol == "openai-chat":
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return dict((fmt.get("json_schema") or {}).get("schema") or {})
        return {} if fmt.get("type") == "json_object" else None
    if protocol == "anthropic":
        fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
        return dict(fmt.get("schema") or {}) if fmt.get("type") == "json_schema" else None
    if protocol == "gemini":
        gc = body.get("generationConfig") or body.get("generation_config") or {}
        for key in ("responseJsonSchema", "responseSchema", "response_json_schema"):
            if gc.get(key):
                return dict(gc[key])
        return {} if gc.get("responseMimeType") == "application/json" else None
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return dict(fmt.get("schema") or {})
    return {} if fmt.get("type") == "json_object" else None


def _instance(schema: dict[str, Any]) -> Any:
    """A minimal value that satisfies ``schema`` (first enum value, required properties)."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind or "object").lower()
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: _instance(props.get(k) or {}) for k in required}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return low if "maximum" not in schema else min(low, schema["maximum"])
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "ok"


# ---- writing answers: a recording with its content replaced ---------------------------------


def render(
    protocol: str,
    kind: str,
    framing: str,
    *,
    text: str = "",
    name: str = "",
    arguments: dict[str, Any] | None = None,
) -> Reply:
    """The recorded answer for (protocol, kind, framing) carrying ``text`` (kind "text") or one
    call of ``name`` with ``arguments`` (kind "tool")."""
    rec = json.loads((FIXTURES / RECORDINGS[(protocol, kind, framing)]).read_text())
    resp = rec["response"]
    headers = {
        k: v
        for k, v in resp["headers"].items()
        if k not in ("content-length", "transfer-encoding", "content-encoding", "connection")
    }
    rw = _Rewriter(text, name, json.dumps(arguments or {}), arguments or {})
    body: str = resp["body"]
    if framing == "whole":
        return Reply(200, headers, json.dumps(rw.walk(json.loads(body))).encode())
    if framing == "array":
        items = [rw.walk(x) for x in json.loads(body)]
        parts = [
            ("[" if i == 0 else ",\r\n") + json.dumps(x, indent=2) for i, x in enumerate(items)
        ]
        return Reply(200, headers, [p.encode() for p in parts] + [b"]"])
    sep = "\r\n\r\n" if "\r\n\r\n" in body else "\n\n"
    events = []
    for block in body.split(sep):
        if not block.strip():
            continue
        lines = []
        for line in block.splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                data = rw.walk(json.loads(line[5:]))
                line = "data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            lines.append(line)
        events.append(("\n".join(lines) + sep).encode())
    return Reply(200, headers, events)


class _Rewriter:
    """Replaces a recording's content in place, whatever the protocol: the first non-empty
    text / argument delta of a stream gets the whole text / arguments and later ones become
    empty, so the recorded event sequence (ids, usage, stops) stays as the provider sent it."""

    SKIP = ("tools", "instructions", "input", "metadata", "reasoning")

    def __init__(self, text: str, name: str, args_json: str, args: dict[str, Any]) -> None:
        self.text, self.name, self.args_json, self.args = text, name, args_json, args
        self.text_sent = False
        self.args_sent = False

    def _first_text(self) -> str:
        if self.text_sent:
            return ""
        self.text_sent = True
        return self.text

    def _first_args(self) -> str:
        if self.args_sent:
            return ""
        self.args_sent = True
        return self.args_json

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return self._one_call([self.walk(x) for x in node])
        if not isinstance(node, dict):
            return node
        d = {k: (v if k in self.SKIP else self.walk(v)) for k, v in node.items()}
        typ = d.get("type")
        # --- text -------------------------------------------------------------------------
        if typ in ("text", "output_text") and isinstance(d.get("text"), str):
            if d["text"]:  # whole blocks; a stream's opening block stays empty
                d["text"] = self.text
        elif typ == "text_delta" or typ == "response.output_text.delta":
            key = "text" if typ == "text_delta" else "delta"
            d[key] = self._first_text() if d.get(key) else ""
        elif typ == "response.output_text.done":
            d["text"] = self.text
        elif typ is None and isinstance(d.get("text"), str) and not d.get("thought"):
            d["text"] = self._first_text() if d["text"] else ""  # Gemini parts
        if isinstance(d.get("message"), dict) and isinstance(d["message"].get("content"), str):
            d["message"] = {**d["message"], "content": self.text}  # OpenAI chat whole
        if isinstance(d.get("delta"), dict) and isinstance(d["delta"].get("content"), str):
            content = d["delta"]["content"]  # OpenAI chat stream
            d["delta"] = {**d["delta"], "content": self._first_text() if content else ""}
        # --- tool calls -------------------------------------------------------------------
        if typ == "tool_use":
            d["name"], d["input"] = self.name, (self.args if d.get("input") else {})
        elif typ == "input_json_delta":
            d["partial_json"] = self._first_args() if d.get("partial_json") else ""
        elif typ == "function_call":
            d["name"] = self.name
            if d.get("arguments"):
                d["arguments"] = self.args_json
        elif typ == "response.function_call_arguments.delta":
            d["delta"] = self._first_args() if d.get("delta") else ""
        elif typ == "response.function_call_arguments.done":
            d["arguments"] = self.args_json
        elif typ == "function" and isinstance(d.get("function"), dict):
            fn = dict(d["function"])
            if "name" in fn:
                fn["name"] = self.name
            if fn.get("arguments"):
                fn["arguments"] = self._first_args() if "id" not in d else self.args_json
            d["function"] = fn
        elif "function" in d and isinstance(d["function"], dict) and "type" not in d:
            fn = dict(d["function"])  # OpenAI chat argument fragment
            if fn.get("arguments"):
                fn["arguments"] = self._first_args()
            d["function"] = fn
        if isinstance(d.get("functionCall"), dict):
            d["functionCall"] = {**d["functionCall"], "name": self.name, "args": self.args}
        return d

    @staticmethod
    def _one_call(items: list[Any]) -> list[Any]:
        """Keeps only the first tool call of a list (parallel-call recordings)."""
        out, seen = [], False
        for x in items:
            is_call = isinstance(x, dict) and (
                x.get("type") in ("tool_use", "function_call")
                or "functionCall" in x
                or (x.get("type") == "function" and "function" in x and "index" not in x)
            )
            if is_call and seen:
                continue
            if isinstance(x, dict) and x.get("type") == "text" and x.get("text") == "":
                continue  # a tool-call answer's recorded preamble, emptied
            seen = seen or is_call
            out.append(x)
        return out
