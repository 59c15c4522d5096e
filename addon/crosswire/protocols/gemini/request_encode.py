"""IR ``Request`` → a Gemini ``generateContent`` / ``streamGenerateContent?alt=sse`` call.

Streaming always asks for ``alt=sse`` (edge case 7): without it Gemini answers one JSON array.
The messages are encoded by :mod:`contents_encode`; this module adds tools, tool choice and
``generationConfig``, then merges back what a Gemini client sent that the IR does not model
(``Request.native["gemini"]``, dotted paths, modelled values win).

https://ai.google.dev/api/generate-content#method:-models.generatecontent
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from crosswire.ir import Report, Request, ToolChoice, UnsupportedFeature
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import clamp_temperature, set_fields, stop_sequences
from crosswire.protocols.gemini import mapping
from crosswire.protocols.gemini.contents_encode import ContentsEncoder
from crosswire.protocols.gemini.parts import NAME, gemini_native
from crosswire.protocols.gemini.rawjson import dumps
from crosswire.protocols.gemini.schema import strip_root_dialect, to_gemini, to_gemini_node
from crosswire.protocols.gemini.schema_encode import parameters_json_schema, response_json_schema

DEFAULT_API_VERSION: Final = "v1beta"
#: Gemini accepts at most five stop sequences (edge case 84).
MAX_STOP_SEQUENCES: Final = 5


def encode(request: Request, target: Target, report: Report) -> UpstreamCall:
    if request.fim is not None:
        raise UnsupportedFeature("Gemini has no fill-in-the-middle endpoint", param="suffix")
    model = (target.model or request.model).removeprefix("models/")
    system, contents = ContentsEncoder(request, model, report).encode()
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = _tools(request, model, report)
    if tools:
        body["tools"] = tools
    tool_config = _tool_config(request.tool_choice, has_functions=bool(request.tools))
    if tool_config:
        body["toolConfig"] = tool_config
    generation = _generation_config(request, model, report)
    if generation:
        body["generationConfig"] = generation
    _merge_native(body, request.native.get(NAME) or {})
    if request.user is not None:
        report.dropped("user", "Gemini has no end-user field")
    if request.parallel_tool_calls is False:
        report.dropped("parallel_tool_calls", "Gemini has no switch for parallel function calls")

    version = target.api_version or DEFAULT_API_VERSION
    method = "streamGenerateContent" if request.stream else "generateContent"
    return UpstreamCall(
        path=f"/{version}/models/{model}:{method}",
        body=dumps(body),
        stream=request.stream,
        query={"alt": "sse"} if request.stream else {},
        headers={"content-type": "application/json"},
    )


# ---- tools ----------------------------------------------------------------------------------


def _subset_only(model: str) -> bool:
    """Gemini 1.x models predate ``parametersJsonSchema``/``responseJsonSchema``: they get the
    OpenAPI subset (:mod:`schema`). Every later model gets JSON Schema (:mod:`schema_encode`
    says why that is the better field)."""
    generation = mapping.model_generation(model)
    return generation is not None and generation < 2


def _tools(request: Request, model: str, report: Report) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    dropped: set[str] = set()
    subset_only = _subset_only(model)
    for tool in request.tools:
        decl: dict[str, Any] = {"name": tool.name}
        if tool.description:
            decl["description"] = tool.description
        extras = dict(gemini_native(tool.native))
        if "parametersJsonSchema" in extras or "parameters" in extras:
            # A Gemini client's own declaration goes back in the field it chose.
            original = extras.get("parametersJsonSchema")
            if isinstance(original, Mapping):
                extras["parametersJsonSchema"] = strip_root_dialect(original)
        elif subset_only:
            parameters, removed = to_gemini(tool.parameters)
            dropped |= removed
            if parameters is not None:
                decl["parameters"] = parameters
        else:
            json_schema, removed = parameters_json_schema(tool.parameters)
            dropped |= removed
            if json_schema is not None:
                decl["parametersJsonSchema"] = json_schema
        if tool.strict:
            report.dropped(
                "tools.strict", "Gemini has no strict flag (declarations are always followed)"
            )
        declarations.append({**extras, **decl})
    if dropped:
        report.dropped(
            "tools.parameters keywords",
            "rewritten for Gemini: " + ", ".join(sorted(dropped)),
        )
    tools: list[dict[str, Any]] = []
    if declarations:
        tools.append({"functionDeclarations": declarations})
    for native_tool in request.native_tools:
        if native_tool.origin == NAME:
            tools.append(dict(native_tool.data))
        else:
            data = native_tool.data
            kind = data.get("type") or data.get("name") or next(iter(data), "tool")
            report.dropped(f"native tool {kind}", f"only {native_tool.origin} can run it")
    return tools


def _tool_config(choice: ToolChoice | None, *, has_functions: bool) -> dict[str, Any] | None:
    """Edge case 32: ``none`` is NONE with the declarations kept; a named tool is ``ANY`` +
    ``allowedFunctionNames``."""
    if choice is None or not has_functions:
        return None
    config: dict[str, Any] = {"mode": mapping.FUNCTION_CALLING_MODE_OUT[choice.mode]}
    if choice.mode == "tool" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


# ---- generationConfig -----------------------------------------------------------------------


def _generation_config(request: Request, model: str, report: Report) -> dict[str, Any]:
    p = request.params
    out: dict[str, Any] = {}
    set_fields(out, ("maxOutputTokens", p.max_tokens))
    if p.temperature is not None:
        out["temperature"] = clamp_temperature(p.temperature, 2.0, "Gemini", report)
    set_fields(out, ("topP", p.top_p), ("topK", p.top_k))
    if p.stop is not None:
        stops = stop_sequences(p.stop, MAX_STOP_SEQUENCES, report)
        if stops:
            out["stopSequences"] = stops
    if p.n is not None and p.n > 1:
        out["candidateCount"] = p.n
    set_fields(
        out,
        ("seed", p.seed),
        ("presencePenalty", p.presence_penalty),
        ("frequencyPenalty", p.frequency_penalty),
    )
    if p.min_tokens is not None:
        report.dropped("min_tokens", "Gemini has no minimum length")

    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        out["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema is not None:
            if _subset_only(model):
                out["responseSchema"], removed = to_gemini_node(fmt.schema)
            else:
                out["responseJsonSchema"], removed = response_json_schema(fmt.schema)
            if removed:
                report.dropped(
                    "response_format.schema keywords",
                    "rewritten for Gemini: " + ", ".join(sorted(removed)),
                )

    thinking = _thinking_config(request, model, report)
    if thinking:
        out["thinkingConfig"] = thinking
    return out


def _thinking_config(request: Request, model: str, report: Report) -> dict[str, Any]:
    """ReasoningConfig → thinkingConfig (edge case 69). A budget is sent as ``thinkingBudget``
    to every model (Gemini 3 still accepts it, and it honours the app's number); an effort
    becomes ``thinkingLevel`` for Gemini 3 and a budget from :data:`mapping.EFFORT_BUDGET`
    for older and alias models; ``includeThoughts`` is on when the app asked for reasoning
    (thought summaries are only sent with it)."""
    r = request.reasoning
    if r is None:
        return {}
    levels = mapping.uses_thinking_level(model)
    out: dict[str, Any] = {}
    effort = r.effort.lower() if r.effort else None
    if r.enabled is False or effort == "none":
        if levels:
            out["thinkingLevel"] = "low"
            report.clamped("reasoning", "Gemini 3 cannot switch thinking off; thinkingLevel low")
        elif mapping.cannot_disable_thinking(model):
            out["thinkingBudget"] = mapping.MIN_BUDGET_ALWAYS_THINKING
            report.clamped("reasoning", f"{model} cannot switch thinking off; smallest budget")
        else:
            out["thinkingBudget"] = 0
        if r.include_thoughts:
            out["includeThoughts"] = True
        return out
    if r.budget_tokens:
        out["thinkingBudget"] = r.budget_tokens  # Gemini 3 still accepts a budget
    elif effort:
        if levels:
            table = mapping.EFFORT_LEVEL_FLASH if "flash" in model.lower() else mapping.EFFORT_LEVEL
            level = table.get(effort, "high")
            if level != effort:
                report.clamped("reasoning.effort", f"{effort} → thinkingLevel {level}")
            out["thinkingLevel"] = level
        else:
            budget = mapping.EFFORT_BUDGET.get(effort)
            if budget is None:
                report.clamped("reasoning.effort", f"unknown effort {effort!r} → dynamic budget")
                budget = -1
            out["thinkingBudget"] = budget
    elif r.adaptive and not levels:
        out["thinkingBudget"] = -1
    asked = bool(r.enabled or effort or r.budget_tokens or r.adaptive or r.summary)
    include = r.include_thoughts if r.include_thoughts is not None else asked
    if include:
        out["includeThoughts"] = True
    return out


# ---- native ---------------------------------------------------------------------------------


def _merge_native(body: dict[str, Any], native: Mapping[str, Any]) -> None:
    """Put back what a Gemini client sent that the IR does not model. Keys are dotted paths
    (``generationConfig.responseModalities``); modelled values win, except that a
    ``VALIDATED`` calling mode refines the ``AUTO`` the IR could express."""
    for key, value in native.items():
        *parents, last = key.split(".")
        node: Any = body
        for name in parents:
            child = node.get(name)
            if child is None:
                child = node[name] = {}
            if not isinstance(child, dict):
                break
            node = child
        else:
            if last not in node or (
                last == "mode" and value == "VALIDATED" and node[last] == "AUTO"
            ):
                node[last] = value
