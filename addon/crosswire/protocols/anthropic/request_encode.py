"""IR ``Request`` → an upstream ``POST /v1/messages``.

Request body: https://docs.anthropic.com/en/api/messages

Parameter decisions (each recorded in the report; edges 32–34, 65, 80–85 of docs/edge-cases.md):

* ``max_tokens`` is required (``AnthropicCodec.requires_max_tokens``): the pipeline's clamp step
  has filled it with ``Target.default_max_tokens`` when the app set none and clamped it to
  ``Target.max_output_tokens``.
* the ``anthropic-version`` header is ``Target.api_version`` (the backend's pin) or 2026-10-21.
  Under 2026-10-21 temperature, top_p and top_k are never sent (each one the app set is noted
  ``dropped``) and the message rules of ``version`` apply. Under a pinned older version,
  temperature is clamped to Anthropic's 0–1; with both temperature and top_p, top_p is dropped
  (newer Claude models refuse the pair).
* blank stop sequences are dropped; ``n > 1`` is refused; seed and the penalties are dropped.
* reasoning: an explicit ``budget_tokens`` is used as is (at least 1024); an OpenAI-scale effort
  becomes a budget through ``EFFORT_BUDGET`` (minimal 1024, low 2048, medium 8192, high 16384,
  xhigh 32000). The budget must stay below ``max_tokens``: ``max_tokens`` is raised to
  ``budget + max_tokens`` (within the backend ceiling, else the budget is halved to fit, else
  thinking is dropped). An effort the Anthropic app itself set in ``output_config.effort`` is
  sent back there, not turned into a budget.
* while thinking (``enabled`` or ``adaptive``): (older versions) temperature only if 1, no top_k,
  top_p at least 0.95; and a forced tool choice (``any``/``tool``) becomes ``auto`` (Anthropic refuses forced
  tool use with thinking; keeping the thinking the app asked for is the less surprising choice).
* tool choice: auto → auto, required → any, tool → tool+name, none → none (edge 32);
  ``parallel_tool_calls=False`` → ``disable_parallel_tool_use`` on auto/any/tool, on a bare
  ``auto`` when the app set only the flag (edge 33).
* response format: ``json_schema`` → ``output_config.format = {"type": "json_schema", "schema"}``
  (Anthropic structured outputs, GA; the schema adapted by ``schema.for_anthropic``; ``name`` and
  ``strict`` have no place there); ``json_object`` → an instruction in the system prompt.
* ``user`` → ``metadata.user_id``. Native fields of an Anthropic app are merged back last
  (modelled fields win).
"""

from __future__ import annotations

from typing import Any

from crosswire import ir
from crosswire.ir.errors import UnsupportedFeature
from crosswire.protocols.anthropic import schema, version
from crosswire.protocols.anthropic.mapping import (
    DEFAULT_EFFORT,
    EFFORT_BUDGET,
    JSON_OBJECT_INSTRUCTION,
    MESSAGES_PATH,
    MIN_THINKING_BUDGET,
    NAME,
    THINKING_MIN_TOP_P,
    TOOL_CHOICE_OUT,
)
from crosswire.protocols.anthropic.messages_encode import encode_messages
from crosswire.protocols.base import Target, UpstreamCall
from crosswire.protocols.common import clamp_temperature, dumps


def encode(request: ir.Request, target: Target, report: ir.Report) -> UpstreamCall:
    native: dict[str, Any] = dict(request.native.get(NAME) or {})
    api_version = version.resolve(target.api_version)
    strict = version.strict(api_version)
    system, turns = encode_messages(request, report, strict=strict)
    # The pipeline fills and clamps it (``requires_max_tokens``); a direct caller gets the
    # target's default.
    max_tokens = request.params.max_tokens
    if max_tokens is None:
        max_tokens = target.default_max_tokens
    thinking, max_tokens = _thinking(request, native, max_tokens, target, report)
    thinking_on = thinking is not None and thinking.get("type") != "disabled"
    body: dict[str, Any] = {"model": target.model or request.model, "max_tokens": max_tokens}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    tools = _tools(request, report)
    if tools:
        body["tools"] = tools
        choice = _tool_choice(request, thinking_on, report)
        if choice is not None:
            body["tool_choice"] = choice
    elif request.tool_choice is not None and request.tool_choice.mode != "none":
        report.dropped("tool_choice", "the request declares no tools")
    if thinking is not None:
        body["thinking"] = thinking
    if strict:
        _no_sampling(request.params, api_version, report)
    else:
        _sampling(body, request.params, thinking_on, report)
    _other_params(body, request.params, report)
    _response_format(body, request.response_format, report)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    _merge_native(body, native)
    headers = {"anthropic-version": api_version, "content-type": "application/json"}
    return UpstreamCall(
        path=MESSAGES_PATH, body=dumps(body), stream=request.stream, headers=headers
    )


# ---- limits and thinking ---------------------------------------------------------------------


def _thinking(
    request: ir.Request,
    native: dict[str, Any],
    max_tokens: int,
    target: Target,
    report: ir.Report,
) -> tuple[dict[str, Any] | None, int]:
    """The ``thinking`` object and the ``max_tokens`` it needs."""
    thinking = _thinking_config(request.reasoning, native, report)
    raw = native.pop("thinking", None)
    if isinstance(raw, dict):  # the Anthropic app's own object: its extra fields come back
        if thinking is None or raw.get("type") not in ("enabled", "adaptive", "disabled"):
            thinking = dict(raw)
        elif raw.get("type") == thinking["type"]:
            thinking = {**raw, **thinking}
    if thinking is None or thinking.get("type") != "enabled":
        return thinking, max_tokens
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        report.clamped("thinking.budget_tokens", f"{budget} → {MIN_THINKING_BUDGET} (the minimum)")
        budget = MIN_THINKING_BUDGET
    if budget >= max_tokens:
        wanted = budget + max_tokens
        ceiling = target.max_output_tokens
        if ceiling is not None and wanted > ceiling:
            wanted = ceiling
        if budget >= wanted:
            budget = wanted // 2
            if budget < MIN_THINKING_BUDGET:
                report.dropped(
                    "thinking",
                    f"no room for a {MIN_THINKING_BUDGET}-token budget below max_tokens {wanted}",
                )
                return None, max_tokens
            report.clamped("thinking.budget_tokens", f"{budget} (half of max_tokens {wanted})")
        report.clamped(
            "max_tokens", f"{max_tokens} → {wanted} (above the thinking budget {budget})"
        )
        max_tokens = wanted
    return {**thinking, "budget_tokens": budget}, max_tokens


def _thinking_config(
    r: ir.ReasoningConfig | None, native: dict[str, Any], report: ir.Report
) -> dict[str, Any] | None:
    if r is None:
        return None
    if r.enabled is False or r.effort == "none":
        return {"type": "disabled"}
    if r.adaptive:
        return {"type": "adaptive"}
    budget = r.budget_tokens
    app_effort = (
        isinstance(native.get("output_config"), dict) and "effort" in native["output_config"]
    )
    if budget is None and r.effort and not app_effort:
        effort = r.effort if r.effort in EFFORT_BUDGET else DEFAULT_EFFORT
        budget = EFFORT_BUDGET[effort]
        report.renamed("reasoning.effort", f"{r.effort} → thinking.budget_tokens {budget}")
    if budget is not None and budget <= 0:
        # Gemini: 0 turns thinking off, -1 lets the model decide.
        if budget == 0:
            return {"type": "disabled"}
        budget = None
    if budget is None:
        if not r.enabled:
            return None
        budget = EFFORT_BUDGET[DEFAULT_EFFORT]
        report.invented("thinking.budget_tokens", f"{budget} (thinking asked for without a budget)")
    return {"type": "enabled", "budget_tokens": budget}


# ---- sampling --------------------------------------------------------------------------------


def _no_sampling(p: ir.Params, api_version: str, report: ir.Report) -> None:
    """2026-10-21 refuses every sampling parameter, defaults included."""
    for name, value in (("temperature", p.temperature), ("top_p", p.top_p), ("top_k", p.top_k)):
        if value is not None:
            report.dropped(name, version.sampling_reason(api_version))


def _sampling(body: dict[str, Any], p: ir.Params, thinking_on: bool, report: ir.Report) -> None:
    """Older versions: sampling forwarded within what Anthropic accepts."""
    if p.temperature is not None:
        t = p.temperature
        if thinking_on and t != 1:
            report.dropped("temperature", "Anthropic allows only temperature 1 while thinking")
        else:
            body["temperature"] = clamp_temperature(t, 1.0, "Anthropic", report)
    if p.top_p is not None:
        if "temperature" in body:
            report.dropped(
                "top_p",
                "newer Claude models refuse temperature and top_p together; temperature kept",
            )
        elif thinking_on and p.top_p < THINKING_MIN_TOP_P:
            report.clamped(
                "top_p", f"{p.top_p} → {THINKING_MIN_TOP_P} (the minimum while thinking)"
            )
            body["top_p"] = THINKING_MIN_TOP_P
        else:
            body["top_p"] = p.top_p
    if p.top_k is not None:
        if thinking_on:
            report.dropped("top_k", "Anthropic refuses top_k while thinking")
        else:
            body["top_k"] = p.top_k


def _other_params(body: dict[str, Any], p: ir.Params, report: ir.Report) -> None:
    if p.n is not None and p.n > 1:
        raise UnsupportedFeature("'n' > 1: Anthropic returns one answer per request", param="n")
    if p.stop is not None:
        stops = [s for s in p.stop if s.strip()]
        if len(stops) != len(p.stop):
            report.dropped("stop", "Anthropic refuses empty or whitespace-only stop sequences")
        if stops:
            body["stop_sequences"] = stops
    for name, value in (
        ("seed", p.seed),
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
        ("min_tokens", p.min_tokens),
    ):
        if value is not None:
            report.dropped(name, "Anthropic Messages has no such parameter")


# ---- tools -----------------------------------------------------------------------------------


def _tools(request: ir.Request, report: ir.Report) -> list[dict[str, Any]]:
    out = []
    for tool in request.tools:
        parameters = dict(tool.parameters) if tool.parameters else {}
        parameters.setdefault("type", "object")  # edge 58
        block: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            block["description"] = tool.description
        block["input_schema"] = parameters
        extra = tool.native.get(NAME)
        if extra:
            block.update({k: v for k, v in extra.items() if k not in block})
        elif tool.strict:
            report.dropped(
                f"tools.{tool.name}.strict",
                "strict tool use is sent only for Anthropic apps' tools",
            )
        out.append(block)
    for native_tool in request.native_tools:
        if native_tool.origin == NAME:
            out.append(dict(native_tool.data))
        else:
            label = native_tool.data.get("type") or native_tool.data.get("name") or "?"
            report.dropped(
                f"tool {label}", f"a {native_tool.origin} server tool; Anthropic cannot run it"
            )
    return out


def _tool_choice(
    request: ir.Request, thinking_on: bool, report: ir.Report
) -> dict[str, Any] | None:
    choice = request.tool_choice
    parallel_off = request.parallel_tool_calls is False
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if parallel_off else None
    mode = choice.mode
    if thinking_on and mode in ("required", "tool"):
        report.moved(
            "tool_choice", f"{mode} → auto: Anthropic refuses forced tool use while thinking"
        )
        mode = "auto"
    out: dict[str, Any] = {"type": TOOL_CHOICE_OUT[mode]}
    if mode == "tool":
        out["name"] = choice.name
    if parallel_off and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


# ---- structured output -----------------------------------------------------------------------


def _response_format(
    body: dict[str, Any], fmt: ir.ResponseFormat | None, report: ir.Report
) -> None:
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_schema" and fmt.schema is not None:
        adapted, changed = schema.for_anthropic(fmt.schema)
        if changed:
            report.moved(
                "response_format.schema",
                "constraints Anthropic cannot enforce moved into descriptions; "
                "objects closed with additionalProperties: false",
            )
        body["output_config"] = {"format": {"type": "json_schema", "schema": adapted}}
        return
    instruction = {"type": "text", "text": JSON_OBJECT_INSTRUCTION}
    system = body.get("system")
    if isinstance(system, list):
        body["system"] = [*system, instruction]
    elif isinstance(system, str):
        body["system"] = f"{system}\n\n{JSON_OBJECT_INSTRUCTION}"
    else:
        body["system"] = JSON_OBJECT_INSTRUCTION
    report.moved(
        "response_format", "json_object: Anthropic has no JSON mode; asked for in the system prompt"
    )


def _merge_native(body: dict[str, Any], native: dict[str, Any]) -> None:
    """An Anthropic app's unmodelled fields, back where they were (modelled fields win)."""
    for key, value in native.items():
        if key in ("metadata", "output_config") and isinstance(value, dict):
            current = body.get(key)
            body[key] = {**value, **current} if isinstance(current, dict) else dict(value)
        else:
            body.setdefault(key, value)
