"""Real Node apps through a real crosswire: each app, on backends of other protocols, answers a
plain prompt and completes a tool round trip (the scripted model asks for a read-only tool, and
answers only once the tool's real result — a secret word from the workspace — comes back).

Apps come from ``tests/e2e/apps/install.py`` (pinned, cached); one that cannot be installed is
skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps.cases import CASES, PROMPT, TOOL_PROMPT, AppCase
from tests.e2e.apps.runner import executable, plain_script, run_app, tool_script, workspace
from tests.e2e.harness import Proxy

pytestmark = [pytest.mark.e2e]

PARAMS = [
    pytest.param(
        case,
        backend,
        scenario,
        id=f"{case.id}-{scenario}-{backend}",
        marks=[pytest.mark.xfail(strict=True, reason=case.xfail[(backend, scenario)])]
        if (backend, scenario) in case.xfail
        else [],
    )
    for case in CASES
    for backend in case.backends
    for scenario in case.scenarios
]


@pytest.mark.parametrize(("case", "backend", "scenario"), PARAMS)
def test_app(
    start_proxy: Callable[..., Proxy], tmp_path: Path, case: AppCase, backend: str, scenario: str
) -> None:
    exe = executable(case.name)
    ws = workspace(tmp_path)
    if case.setup:
        case.setup(ws)
    tool = scenario == "tool"
    script = tool_script(ws, case.tool, case.arguments(ws)) if tool else plain_script()
    result = run_app(
        start_proxy,
        ws,
        case.argv(exe, TOOL_PROMPT if tool else PROMPT, ws),
        protocol=backend,
        script=script,
        hosts=case.hosts,
        env=case.env,
    )
    assert result.returncode == 0, result.explain()
    assert result.model.final in result.stdout, result.explain()
    if tool:
        assert result.model.round_trip, result.explain()
    assert not result.model.unexpected, result.explain()


def test_claude_code_on_a_vllm_model_is_renamed_and_clamped(
    start_proxy: Callable[..., Proxy], tmp_path: Path
) -> None:
    """The route's model rename and the backend's max_output_tokens apply to every request
    Claude Code makes (it asks for far more output tokens than a local model serves)."""
    case = next(c for c in CASES if c.name == "claude")
    exe = executable(case.name)
    ws = workspace(tmp_path)
    result = run_app(
        start_proxy,
        ws,
        case.argv(exe, PROMPT, ws),
        protocol="openai-chat",
        script=plain_script(),
        hosts=case.hosts,
        env=case.env,
        model="qwen",
        backend="dialect: vllm\nmax_output_tokens: 8192",
    )
    assert result.returncode == 0, result.explain()
    assert result.model.final in result.stdout, result.explain()
    bodies = [r.json() for r in result.model.requests if r.method == "POST"]
    assert bodies, result.explain()
    for body in bodies:
        assert body["model"] == "qwen"
        assert 0 < body.get("max_tokens", body.get("max_completion_tokens", 0)) <= 8192, body
