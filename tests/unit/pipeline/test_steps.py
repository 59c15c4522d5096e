"""The pipeline's IR→IR steps: the one max_tokens clamp for every backend, the order the steps
run in, and their undoing on the way down (whole answers and streams)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crosswire import ir
from crosswire.pipeline import STEPS, Pipeline
from crosswire.pipeline.clamp import Clamp
from crosswire.pipeline.fim_bridge import FimBridge
from crosswire.pipeline.orphans import Orphans
from crosswire.pipeline.rename import ModelRename
from crosswire.pipeline.tool_names import ToolNames
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName, Target

#: Where each backend's encoder writes ``Params.max_tokens``.
MAX_TOKENS_FIELD: dict[ProtocolName, tuple[str, ...]] = {
    "openai-chat": ("max_completion_tokens",),
    "openai-responses": ("max_output_tokens",),
    "anthropic": ("max_tokens",),
    "gemini": ("generationConfig", "maxOutputTokens"),
    "ollama": ("options", "num_predict"),
    "fim": ("max_tokens",),
    "openai-completions": ("max_tokens",),
}


def _request(backend: ProtocolName, **params: Any) -> ir.Request:
    if backend in ("fim", "openai-completions"):
        return ir.Request(
            model="app", fim=ir.FimPrompt(prefix="a", suffix="b"), params=ir.Params(**params)
        )
    user = ir.Message(role="user", parts=(ir.Text(text="q"),))
    return ir.Request(model="app", messages=(user,), params=ir.Params(**params))


def _encoded(backend: ProtocolName, request: ir.Request, target: Target, report: ir.Report) -> Any:
    prepared = Pipeline(codec(backend), target, report).up(request)
    value: Any = json.loads(codec(backend).encode_request(prepared, target, report).body)
    for key in MAX_TOKENS_FIELD[backend]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@pytest.mark.parametrize("backend", list(MAX_TOKENS_FIELD))
def test_max_tokens_is_clamped_once_for_every_backend(backend: ProtocolName) -> None:
    """Edge 81: the backend's ceiling, one ``clamped`` note, the encoder writes the value."""
    report = ir.Report()
    target = Target(protocol=backend, model="m", max_output_tokens=8192)
    assert _encoded(backend, _request(backend, max_tokens=64000), target, report) == 8192
    clamped = [n for n in report.notes if n.action == "clamped"]
    assert [(n.field, n.reason) for n in clamped] == [
        ("max_tokens", "64000 → 8192 (backend limit)")
    ]


@pytest.mark.parametrize("backend", list(MAX_TOKENS_FIELD))
def test_max_tokens_is_invented_only_where_the_wire_requires_it(backend: ProtocolName) -> None:
    report = ir.Report()
    target = Target(protocol=backend, model="m", default_max_tokens=2048, max_output_tokens=1000)
    got = _encoded(backend, _request(backend), target, report)
    if backend == "anthropic":
        assert got == 1000
        assert [(n.action, n.reason) for n in report.notes if n.field == "max_tokens"] == [
            ("invented", "2048 (anthropic requires it)"),
            ("clamped", "2048 → 1000 (backend limit)"),
        ]
    else:
        assert got is None
        assert "max_tokens" not in [n.field for n in report.notes]


def test_the_steps_run_in_the_stated_order() -> None:
    assert (ModelRename, Orphans, ToolNames, FimBridge, Clamp) == STEPS


def test_a_long_tool_name_is_shortened_up_and_restored_down() -> None:
    long = "mcp__server__" + "x" * 80
    call = ir.ToolCall(id="c1", name=long, arguments="{}")
    request = ir.Request(
        model="app",
        messages=(ir.Message(role="user", parts=(ir.Text(text="q"),)),),
        tools=(ir.Tool(name=long, parameters={"type": "object"}),),
    )
    report = ir.Report()
    pipeline = Pipeline(codec("openai-chat"), Target(protocol="openai-chat", model="m"), report)
    up = pipeline.up(request)
    short = up.tools[0].name
    assert len(short) <= 64 and up.model == "m"
    assert [n.action for n in report.notes] == ["renamed"]
    answer = ir.Response(
        id="r",
        model="m",
        parts=(ir.ToolCall(id="c1", name=short, arguments="{}"),),
        finish=ir.Finish(reason="tool_calls", raw=None),
    )
    assert pipeline.down(answer).parts == (call,)
    [restore] = pipeline.stream_filters()
    events = [e for event in ir.replay(answer) for e in restore(event)]
    assert ir.accumulate(events).parts == (call,)


def test_a_fim_prompt_is_bridged_only_to_a_backend_without_fim() -> None:
    request = ir.Request(model="app", fim=ir.FimPrompt(prefix="def f():\n    ", suffix="\n"))
    for backend, bridged in (("openai-chat", True), ("ollama", False), ("fim", False)):
        pipeline = Pipeline(codec(backend), Target(protocol=backend, model="m"), ir.Report())  # type: ignore[arg-type]
        assert (pipeline.up(request).fim is None) is bridged
        assert len(pipeline.stream_filters()) == int(bridged)
