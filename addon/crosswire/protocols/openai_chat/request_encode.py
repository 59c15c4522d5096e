"""IR → the upstream Chat Completions request, for OpenAI or a compatible server.

Every parameter the app set is sent, renamed, clamped or dropped with a note in the report,
following the dialect's table (``dialects.py``). Streaming requests always ask for usage
(``stream_options.include_usage``, edge 24) where the server accepts the option: the usage is
accounted even when the app did not ask to see it — the client-side encoder decides that.
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import clamp_temperature, dumps, set_fields, stop_sequences
from crosswire.protocols.openai_chat.dialects import MISTRAL_ONLY, Dialect, dialect_for
from crosswire.protocols.openai_chat.mapping import NAME, effort_for_budget
from crosswire.protocols.openai_chat.messages_encode import MessageEncoder

AZURE_API_VERSION = "2024-10-21"
HEADERS = {"content-type": "application/json"}


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    dialect = dialect_for(target.dialect)
    body: dict[str, Any] = {}
    if not dialect.azure_path:
        body["model"] = target.model or request.model
    body["messages"] = MessageEncoder(dialect, report).encode(request.messages)
    _tools(body, request, dialect, report)
    _params(body, request, dialect, report)
    _reasoning(body, request, dialect, report)
    _response_format(body, request)
    if request.stream:
        body["stream"] = True
        if dialect.stream_options:
            body["stream_options"] = {"include_usage": True}
    _hints(body, request, dialect, report)
    _merge_native(body, request, dialect, report)
    if dialect.azure_path:
        return UpstreamCall(
            path=f"/openai/deployments/{target.model or request.model}/chat/completions",
            query={"api-version": target.api_version or AZURE_API_VERSION},
            body=dumps(body),
            stream=request.stream,
            headers=HEADERS,
        )
    return UpstreamCall(
        path="/chat/completions", body=dumps(body), stream=request.stream, headers=HEADERS
    )


def _hints(body: dict[str, Any], request: ir.Request, dialect: Dialect, report: ir.Report) -> None:
    """The OpenAI request hints (``ir.request.HINTS``) and ``user``, where the dialect takes
    them. ``user`` is not repeated when it only mirrors ``safety_identifier``."""
    for key in ("verbosity", "prompt_cache_key", "prompt_cache_retention", "service_tier"):
        value = getattr(request, key)
        if value is not None:
            _hint(body, key, value, dialect, report)
    safety = request.safety_identifier
    sent = safety is not None and _hint(body, "safety_identifier", safety, dialect, report)
    if request.max_tool_calls is not None:
        report.dropped("max_tool_calls", "Chat Completions has no limit on tool calls")
    if request.user is not None and not (sent and request.user == safety):
        if dialect.user:
            body["user"] = request.user
        else:
            report.dropped("user", f"{dialect.name} has no user field")


def _hint(body: dict[str, Any], key: str, value: Any, dialect: Dialect, report: ir.Report) -> bool:
    if dialect.allowed_fields is not None and key not in dialect.allowed_fields:
        report.dropped(key, f"{dialect.name} Chat Completions has no {key}")
        return False
    tiers = dialect.service_tiers
    if key == "service_tier" and tiers is not None and value not in tiers:
        report.dropped(key, f"{value!r} is not a {dialect.name} service tier")
        return False
    body[key] = value
    return True


def _tools(body: dict[str, Any], request: ir.Request, dialect: Dialect, report: ir.Report) -> None:
    tools: list[dict[str, Any]] = [_tool(t) for t in request.tools]
    for native_tool in request.native_tools:
        kind = native_tool.data.get("type")
        allowed = dialect.native_tool_types
        if native_tool.origin == NAME and (allowed is None or kind in allowed):
            tools.append(dict(native_tool.data))
        elif native_tool.origin == NAME:
            report.dropped(f"tool {kind}", f"{dialect.name} has no {kind} tool")
        else:
            kind = native_tool.data.get("type") or native_tool.data.get("name") or "?"
            report.dropped(
                f"tool {kind}", f"a {native_tool.origin} server tool; {NAME} cannot run it"
            )
    if tools:
        body["tools"] = tools
    choice = request.tool_choice
    if choice is not None:
        if not tools and choice.mode != "none":
            report.dropped("tool_choice", "no tools to choose from")
        elif tools:
            if choice.mode == "tool":
                body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
            elif choice.mode == "required":
                body["tool_choice"] = dialect.required_tool_choice
            else:
                body["tool_choice"] = choice.mode
    if request.parallel_tool_calls is not None and tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _tool(tool: ir.Tool) -> dict[str, Any]:
    native = dict(tool.native.get(NAME) or {})
    fn: dict[str, Any] = dict(native.pop("function", None) or {})
    fn["name"] = tool.name
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = (
        dict(tool.parameters)
        if tool.parameters is not None
        else {"type": "object", "properties": {}}
    )
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {**native, "type": "function", "function": fn}


def _params(body: dict[str, Any], request: ir.Request, dialect: Dialect, report: ir.Report) -> None:
    p = request.params
    set_fields(
        body,
        (dialect.max_tokens_field, p.max_tokens),
        ("top_p", p.top_p),
        (dialect.seed_field, p.seed),
        ("n", p.n),
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
    )
    if p.temperature is not None:
        body["temperature"] = clamp_temperature(p.temperature, 2.0, "Chat Completions", report)
    for key, value, supported in (
        ("min_tokens", p.min_tokens, dialect.min_tokens),
        ("top_k", p.top_k, dialect.top_k),
    ):
        if value is None:
            continue
        if supported:
            body[key] = value
        else:
            report.dropped(key, f"{dialect.name} Chat Completions has no {key}")
    if p.stop is not None:
        stops = stop_sequences(p.stop, dialect.max_stop, report)
        if stops:
            body["stop"] = stops


def _reasoning(
    body: dict[str, Any], request: ir.Request, dialect: Dialect, report: ir.Report
) -> None:
    """``reasoning_effort`` from the app's effort, budget or switch.

    "On" without a level sends nothing: reasoning models reason by default, and an explicit
    effort would make a non-reasoning model answer 400.
    """
    r = request.reasoning
    if r is None:
        return
    effort: str | None = None
    if r.enabled is False:
        effort = dialect.effort_off
        if effort is None:
            report.dropped("reasoning", f"{dialect.name} has no switch to turn reasoning off")
            return
    elif r.effort:
        effort = r.effort
    elif r.budget_tokens:
        effort = effort_for_budget(r.budget_tokens)
        report.moved("reasoning.budget_tokens", f"{r.budget_tokens} tokens → effort {effort}")
    if effort is None:
        return
    mapped = dict(dialect.effort_map).get(effort, effort)
    if mapped != effort:
        report.clamped("reasoning_effort", f"{effort} → {mapped} ({dialect.name})")
    body["reasoning_effort"] = mapped


def _response_format(body: dict[str, Any], request: ir.Request) -> None:
    fmt = request.response_format
    if fmt is None:
        return
    if fmt.type in ("text", "json_object"):
        body["response_format"] = {"type": fmt.type}
        return
    schema: dict[str, Any] = {
        "name": fmt.name or "response",
        "schema": dict(fmt.schema) if fmt.schema is not None else {"type": "object"},
    }
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    if fmt.description:
        schema["description"] = fmt.description
    body["response_format"] = {"type": "json_schema", "json_schema": schema}


def _merge_native(
    body: dict[str, Any], request: ir.Request, dialect: Dialect, report: ir.Report
) -> None:
    """Fields this protocol's decoder did not model come back (modelled fields win), filtered
    by what the dialect accepts: Mistral 422s on anything it does not know."""
    for key, value in (request.native.get(NAME) or {}).items():
        if key in MISTRAL_ONLY and dialect.name != "mistral":
            report.dropped(key, "a Mistral-only field")
            continue
        if dialect.allowed_fields is not None and key not in dialect.allowed_fields:
            report.dropped(key, f"{dialect.name} rejects unknown fields")
            continue
        if key == "stream_options":
            if "stream_options" in body and isinstance(value, dict):
                body["stream_options"] = {**value, **body["stream_options"]}
            continue
        body.setdefault(key, value)
