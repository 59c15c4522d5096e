"""A Gemini ``GenerateContentRequest`` (from google-genai, Gemini CLI, REST) → IR ``Request``.

The model and the method are in the URL, so routing has already filled ``ClientCall.model``
and ``ClientCall.stream``. Fields the IR does not model are kept in
``Request.native["gemini"]`` under dotted paths (``generationConfig.responseModalities``,
``toolConfig.functionCallingConfig.allowedFunctionNames``…): the Gemini encoder puts them back
where they were, and other backends' dropped-field notes name them precisely.

https://ai.google.dev/api/generate-content#request-body
"""

from __future__ import annotations

import re
from typing import Any, Final

from crosswire.ir import (
    ClientRequestError,
    File,
    Message,
    NativeTool,
    Params,
    Part,
    Reasoning,
    ReasoningConfig,
    Report,
    Request,
    ResponseFormat,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from crosswire.protocols.base import ClientCall
from crosswire.protocols.common import dumps_str, expect, loads_client
from crosswire.protocols.gemini.callids import is_synthetic, synthetic_call_id
from crosswire.protocols.gemini.fields import camel, get, keep_rest, opt, rest
from crosswire.protocols.gemini.mapping import FUNCTION_CALLING_MODES
from crosswire.protocols.gemini.parts import NAME, decode_part, is_function_response, native_of
from crosswire.protocols.gemini.schema_decode import to_standard

TOP_KNOWN: Final = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "model"}
)
GENERATION_KNOWN: Final = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "candidateCount",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
    }
)
THINKING_KNOWN: Final = frozenset({"thinkingBudget", "thinkingLevel", "includeThoughts"})
CONTENT_KNOWN: Final = frozenset({"role", "parts"})
#: Schema fields of a declaration, kept verbatim in ``Tool.native`` for a Gemini backend.
DECLARATION_SCHEMAS: Final = ("parametersJsonSchema", "parameters")
DECLARATION_KNOWN: Final = frozenset({"name", "description", *DECLARATION_SCHEMAS})
RESPONSE_KNOWN: Final = frozenset({"name", "response", "id", "parts"})
CALLING_KNOWN: Final = frozenset({"mode", "allowedFunctionNames"})

#: The result schema of a function: the IR has no place for it.
SCHEMA_ONLY_FOR_GEMINI: Final = ("responseJsonSchema", "response")

#: thinkingLevel → IR effort.
_LEVELS: Final = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


def decode(call: ClientCall, body: bytes, report: Report) -> Request:
    obj = loads_client(body)
    if call.endpoint == "count_tokens":
        inner = get(obj, "generateContentRequest")
        if inner is not None:
            obj = expect(inner, dict, "generateContentRequest")
    model = call.model or _strip_models(opt(obj, "model", str, "") or "")
    native: dict[str, Any] = rest(obj, TOP_KNOWN)

    messages: list[Message] = []
    system = get(obj, "systemInstruction")
    if system is not None:
        messages.append(_decode_system(system))
    contents = get(obj, "contents")
    if contents is not None:
        messages.extend(_decode_contents(expect(contents, list, "contents")))

    tools: list[Tool] = []
    native_tools: list[NativeTool] = []
    raw_tools = get(obj, "tools")
    if raw_tools is not None:
        tools, native_tools = _decode_tools(expect(raw_tools, list, "tools"), report)

    tool_choice = None
    tool_config = get(obj, "toolConfig")
    if tool_config is not None:
        tool_choice = _decode_tool_config(expect(tool_config, dict, "toolConfig"), native)

    params = Params()
    response_format = None
    reasoning = None
    generation = get(obj, "generationConfig")
    if generation is not None:
        generation = expect(generation, dict, "generationConfig")
        params = _decode_params(generation)
        response_format = _decode_response_format(generation, native, report)
        reasoning = _decode_thinking(generation, native)
        keep_rest(generation, GENERATION_KNOWN, "generationConfig", native)

    return Request(
        model=model,
        messages=tuple(messages),
        tools=tuple(tools),
        native_tools=tuple(native_tools),
        tool_choice=tool_choice,
        params=params,
        reasoning=reasoning,
        response_format=response_format,
        stream=bool(call.stream),
        native={NAME: native} if native else {},
    )


def _strip_models(name: str) -> str:
    return name.removeprefix("models/")


# ---- messages -------------------------------------------------------------------------------


def _decode_system(system: Any) -> Message:
    if isinstance(system, str):  # the SDKs accept a bare string and wrap it; REST users too
        return Message(role="system", parts=(Text(text=system),))
    system = expect(system, dict, "systemInstruction")
    parts: list[Part] = []
    for j, raw in enumerate(opt(system, "parts", list, "systemInstruction") or []):
        path = f"systemInstruction.parts[{j}]"
        part = decode_part(raw, path, _no_calls(path))
        if not isinstance(part, Text):
            raise ClientRequestError(f"'{path}' must be a text part", param=path)
        parts.append(part)
    return Message(role="system", parts=tuple(parts))


def _no_calls(path: str) -> Any:
    def make_id(name: str, arguments: str) -> str:
        raise ClientRequestError(f"'{path}' cannot hold a functionCall", param=path)

    return make_id


class _Pending:
    """Function calls of the latest model turn, waiting for their responses."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []  # [id, name, answered]

    def reset(self, calls: list[ToolCall]) -> None:
        self.calls = [[c.id, c.name, False] for c in calls]

    def _take(self, *, name: str | None, synthetic_only: bool) -> str | None:
        for wanted in (name, None):
            for entry in self.calls:
                if entry[2] or (synthetic_only and not is_synthetic(entry[0])):
                    continue
                if wanted is None or entry[1] == wanted:
                    entry[2] = True
                    return str(entry[0])
        return None

    def pair(self, wire_id: str | None, name: str | None) -> tuple[str | None, str | None]:
        """(the call id to use, the client's own id when it differs from it).

        A response names its call by ``id`` when both have one (Gemini 3). Gemini 2.x calls
        have none: responses then pair by name, then by position (edge case 29). Gemini CLI
        answers an id-less call with an id it made up itself; that id is kept aside so the
        IR pair agrees and the Gemini encoder can still send the client's id back.
        """
        if wire_id is not None:
            for entry in self.calls:
                if entry[0] == wire_id and not entry[2]:
                    entry[2] = True
                    return wire_id, None
            taken = self._take(name=name, synthetic_only=True)
            return (taken, wire_id) if taken is not None else (wire_id, None)
        return self._take(name=name, synthetic_only=False), None


def _decode_contents(contents: list[Any]) -> list[Message]:
    messages: list[Message] = []
    pending = _Pending()
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        content = expect(content, dict, path)
        role = opt(content, "role", str, path) or "user"
        raw_parts = opt(content, "parts", list, path) or []
        native = native_of(rest(content, CONTENT_KNOWN))
        if role == "model":
            messages.append(_decode_model_turn(raw_parts, i, native, pending))
        elif role in ("user", "function"):
            messages.extend(_decode_user_turn(raw_parts, i, native, pending))
        elif role == "system":
            messages.append(
                Message(role="system", parts=tuple(_plain_parts(raw_parts, path)), native=native)
            )
        else:
            raise ClientRequestError(
                f"'{path}.role' must be 'user' or 'model', got {role!r}", param=f"{path}.role"
            )
    return messages


def _call_id_maker(i: int, j: int) -> Any:
    """Ids for id-less calls: stable for the same history (position + name + arguments), so
    replays of a conversation derive the same ids and backends' prompt caches keep hitting."""

    def make_id(name: str, arguments: str) -> str:
        return synthetic_call_id(f"{name}:{arguments}", i * 10_000 + j)

    return make_id


def _decode_model_turn(
    raw_parts: list[Any], i: int, native: dict[str, Any], pending: _Pending
) -> Message:
    parts: list[Part] = []
    for j, raw in enumerate(raw_parts):
        path = f"contents[{i}].parts[{j}]"
        if is_function_response(raw):
            raise ClientRequestError(
                f"'{path}.functionResponse' belongs in a user turn", param=path
            )
        parts.append(decode_part(raw, path, _call_id_maker(i, j)))
    calls = [p for p in parts if isinstance(p, ToolCall)]
    if calls:
        pending.reset(calls)
    return Message(role="assistant", parts=tuple(parts), native=native)


def _plain_parts(raw_parts: list[Any], path: str) -> list[Part]:
    parts: list[Part] = []
    for j, raw in enumerate(raw_parts):
        part_path = f"{path}.parts[{j}]"
        if is_function_response(raw):
            raise ClientRequestError(f"'{part_path}.functionResponse' belongs in a user turn")
        part = decode_part(raw, part_path, _no_calls(part_path))
        parts.append(part)
    return parts


def _decode_user_turn(
    raw_parts: list[Any], i: int, native: dict[str, Any], pending: _Pending
) -> list[Message]:
    """A user turn splits into runs: function responses → ``tool`` messages, everything else
    → ``user`` messages, in order (``[fr, fr, text]`` → tool[r1, r2] + user[text])."""
    runs: list[tuple[Role, list[Part]]] = []
    for j, raw in enumerate(raw_parts):
        path = f"contents[{i}].parts[{j}]"
        part: Part
        role: Role
        if is_function_response(raw):
            part, role = _decode_function_response(raw, path, pending, i * 10_000 + j), "tool"
        else:
            part, role = decode_part(raw, path, _no_calls(path)), "user"
            if isinstance(part, Reasoning):
                part = Text(text=part.text, native=part.native)
        if runs and runs[-1][0] == role:
            runs[-1][1].append(part)
        else:
            runs.append((role, [part]))
    return [
        Message(role=role, parts=tuple(parts), native=native if n == 0 else {})
        for n, (role, parts) in enumerate(runs)
    ]


def _decode_function_response(
    raw: dict[str, Any], path: str, pending: _Pending, position: int
) -> ToolResult:
    fr = expect(get(raw, "functionResponse"), dict, f"{path}.functionResponse")
    fr_path = f"{path}.functionResponse"
    name = opt(fr, "name", str, fr_path)
    wire_id = opt(fr, "id", str, fr_path)
    content: list[Text | File] = []
    text, is_error = _response_text(get(fr, "response"))
    if text is not None:
        content.append(Text(text=text))
    for k, media in enumerate(opt(fr, "parts", list, fr_path) or []):
        media_path = f"{fr_path}.parts[{k}]"
        part = decode_part(media, media_path, _no_calls(media_path))
        if not isinstance(part, File):
            raise ClientRequestError(
                f"'{media_path}' must hold inlineData or fileData", param=media_path
            )
        content.append(part)
    call_id, client_id = pending.pair(wire_id, name)
    if call_id is None:
        call_id = synthetic_call_id(f"result:{name}", position)
    extras = rest(fr, RESPONSE_KNOWN)
    extras.update(rest(raw, frozenset({"functionResponse"})))
    if client_id is not None:
        extras["id"] = client_id
    return ToolResult(
        call_id=call_id,
        name=name,
        content=tuple(content),
        is_error=is_error,
        native=native_of(extras),
    )


def _response_text(response: Any) -> tuple[str | None, bool]:
    """``functionResponse.response`` as the result text, and whether it reports an error.

    The inverse of the encoder's wrapping (edge cases 39, 40): ``{"result": "<text>"}`` is the
    text, ``{"error": "<text>"}`` an error result, any other object its JSON text.
    """
    if response is None:
        return None, False
    if isinstance(response, dict) and len(response) == 1:
        ((key, value),) = response.items()
        if key == "result" and isinstance(value, str) and not value.lstrip().startswith("{"):
            return value, False
        if key == "error":
            return (value if isinstance(value, str) else dumps_str(value)), True
    if isinstance(response, str):
        return response, False
    return dumps_str(response), False


# ---- tools ----------------------------------------------------------------------------------


def _decode_tools(raw_tools: list[Any], report: Report) -> tuple[list[Tool], list[NativeTool]]:
    tools: list[Tool] = []
    native_tools: list[NativeTool] = []
    for i, raw in enumerate(raw_tools):
        path = f"tools[{i}]"
        raw = expect(raw, dict, path)
        for key, value in raw.items():
            if camel(key) == "functionDeclarations":
                decls = expect(value, list, f"{path}.functionDeclarations")
                for j, decl in enumerate(decls):
                    tools.append(
                        _decode_declaration(decl, f"{path}.functionDeclarations[{j}]", report)
                    )
            elif value is not None:
                # googleSearch, codeExecution, urlContext, fileSearch…: Gemini runs these.
                native_tools.append(NativeTool(origin=NAME, data={camel(key): value}))
    return tools, native_tools


def _decode_declaration(decl: Any, path: str, report: Report) -> Tool:
    """A function declaration. Its schema, from ``parametersJsonSchema`` or the subset
    ``parameters`` (either spelling), becomes standard JSON Schema in ``Tool.parameters``; the
    fields as sent (and the result schema, ``response``/``responseJsonSchema``, which the IR
    has no place for) stay in ``Tool.native`` so that a Gemini backend gets them verbatim."""
    decl = expect(decl, dict, path)
    name = opt(decl, "name", str, path)
    if not name:
        raise ClientRequestError(f"'{path}.name' is required", param=f"{path}.name")
    extras = rest(decl, DECLARATION_KNOWN)
    parameters: dict[str, Any] | None = None
    for field, subset in (("parametersJsonSchema", False), ("parameters", True)):
        raw = opt(decl, field, dict, path)
        if raw is not None:
            parameters = _standard(raw, subset, f"{path}.{field}", report)
            extras[field] = raw
            break
    for field in SCHEMA_ONLY_FOR_GEMINI:
        if field in extras:
            report.dropped(
                f"tools.functionDeclarations.{field}",
                "a function's result schema: only a Gemini backend uses it",
            )
    return Tool(
        name=name,
        description=opt(decl, "description", str, path),
        parameters=parameters,
        native=native_of(extras),
    )


def _standard(raw: dict[str, Any], subset: bool, path: str, report: Report) -> dict[str, Any]:
    """A client's schema as standard JSON Schema; Gemini-only keywords noted."""
    schema, dropped = to_standard(raw, subset=subset)
    for keyword in sorted(dropped):
        report.dropped(
            f"{_generic(path)} {keyword}",
            "Gemini-only schema keyword, not part of standard JSON Schema",
        )
    return dict(schema)


def _generic(path: str) -> str:
    """``tools[0].functionDeclarations[3].parameters`` → ``tools.functionDeclarations
    .parameters`` (one note per keyword, not one per tool)."""
    return re.sub(r"\[\d+\]", "", path)


def _decode_tool_config(config: dict[str, Any], native: dict[str, Any]) -> ToolChoice | None:
    """functionCallingConfig → ToolChoice (edge case 32). What ToolChoice cannot say (several
    allowed names, VALIDATED, retrievalConfig) stays in ``native`` under its path."""
    keep_rest(config, frozenset({"functionCallingConfig"}), "toolConfig", native)
    fcc = opt(config, "functionCallingConfig", dict, "toolConfig")
    if fcc is None:
        return None
    path = "toolConfig.functionCallingConfig"
    keep_rest(fcc, CALLING_KNOWN, path, native)
    mode = (opt(fcc, "mode", str, path) or "").upper()
    names = opt(fcc, "allowedFunctionNames", list, path)
    if names is not None:
        names = [expect(n, str, f"{path}.allowedFunctionNames") for n in names]
    if mode == "ANY" and names is not None and len(names) == 1:
        return ToolChoice(mode="tool", name=names[0])
    if names:
        native[f"{path}.allowedFunctionNames"] = names
    if mode == "VALIDATED":
        native[f"{path}.mode"] = mode
    ir_mode = FUNCTION_CALLING_MODES.get(mode)
    return ToolChoice(mode=ir_mode) if ir_mode is not None else None


# ---- generation config ----------------------------------------------------------------------


def _number(gen: dict[str, Any], key: str) -> float | None:
    value = opt(gen, key, (int, float), "generationConfig")
    return float(value) if value is not None else None


def _integer(gen: dict[str, Any], key: str) -> int | None:
    value = opt(gen, key, (int, float), "generationConfig")
    return round(value) if value is not None else None


def _decode_params(gen: dict[str, Any]) -> Params:
    stop = opt(gen, "stopSequences", list, "generationConfig")
    return Params(
        max_tokens=_integer(gen, "maxOutputTokens"),
        temperature=_number(gen, "temperature"),
        top_p=_number(gen, "topP"),
        top_k=_integer(gen, "topK"),
        stop=tuple(expect(s, str, "generationConfig.stopSequences") for s in stop)
        if stop is not None
        else None,
        seed=_integer(gen, "seed"),
        n=_integer(gen, "candidateCount"),
        presence_penalty=_number(gen, "presencePenalty"),
        frequency_penalty=_number(gen, "frequencyPenalty"),
    )


def _decode_response_format(
    gen: dict[str, Any], native: dict[str, Any], report: Report
) -> ResponseFormat | None:
    """responseMimeType + responseJsonSchema / responseSchema → ResponseFormat with a
    standard JSON Schema (edge case 59), whichever field and spelling carried it. A schema for
    another MIME type (``text/x.enum``) has no IR equivalent and stays in ``native``."""
    path = "generationConfig"
    mime = opt(gen, "responseMimeType", str, path)
    json_schema = opt(gen, "responseJsonSchema", dict, path)
    subset = opt(gen, "responseSchema", dict, path)
    if mime is not None and mime not in ("application/json", "text/plain"):
        native["generationConfig.responseMimeType"] = mime  # text/x.enum and friends
        if subset is not None:
            native["generationConfig.responseSchema"] = subset
        if json_schema is not None:
            native["generationConfig.responseJsonSchema"] = json_schema
        return None
    schema: dict[str, Any] | None = None
    if json_schema is not None:
        schema = _standard(json_schema, False, f"{path}.responseJsonSchema", report)
    elif subset is not None:
        schema = _standard(subset, True, f"{path}.responseSchema", report)
    if schema is not None:
        return ResponseFormat(type="json_schema", schema=schema, name=_title(schema))
    if mime == "application/json":
        return ResponseFormat(type="json_object")
    return None


def _title(schema: dict[str, Any]) -> str | None:
    title = schema.get("title")
    return title if isinstance(title, str) else None


def _decode_thinking(gen: dict[str, Any], native: dict[str, Any]) -> ReasoningConfig | None:
    """thinkingConfig → ReasoningConfig: budget 0 = off, -1 = dynamic (``adaptive``),
    ``thinkingLevel`` → effort, ``includeThoughts`` → include_thoughts (edge case 69)."""
    config = opt(gen, "thinkingConfig", dict, "generationConfig")
    if config is None:
        return None
    path = "generationConfig.thinkingConfig"
    keep_rest(config, THINKING_KNOWN, path, native)
    budget = opt(config, "thinkingBudget", int, path)
    level = opt(config, "thinkingLevel", str, path)
    include = opt(config, "includeThoughts", bool, path)
    effort = _LEVELS.get(level.upper()) if level else None
    enabled: bool | None = None
    if budget is not None:
        enabled = budget != 0
    elif effort is not None:
        enabled = True
    return ReasoningConfig(
        enabled=enabled,
        effort=effort,
        budget_tokens=budget if budget is not None and budget > 0 else None,
        adaptive=budget == -1,
        include_thoughts=include,
    )
