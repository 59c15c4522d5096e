"""Mistral Vibe (the ``vibe`` CLI, on the mistralai SDK) through crosswire: its default
provider is ``api.mistral.ai`` (OpenAI Chat in Mistral's dialect); crosswire routes that host
to backends of other protocols. Headless: ``vibe -p PROMPT --auto-approve --trust``; the tool
round trip is Vibe's own ``read_file`` tool on a file in the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps.pyapps import (
    OTHER,
    PY_QUIET,
    app_bin,
    assert_answered,
    assert_round_trip,
)
from tests.e2e.apps.runner import Result, Workspace, plain_script, run_app, tool_script, workspace
from tests.e2e.apps.scripted import Script
from tests.e2e.harness import Proxy

pytestmark = [pytest.mark.e2e]

BACKENDS = OTHER["openai-chat"]

#: Vibe's config switches, as VIBE_* environment overrides: no telemetry (it posts to
#: api.mistral.ai, which is routed here), no update check, no model catalog fetch.
QUIET_VIBE = {
    "VIBE_ENABLE_TELEMETRY": "false",
    "VIBE_ENABLE_UPDATE_CHECKS": "false",
    "VIBE_EXPERIMENTAL_ENABLE_MODEL_CATALOG": "false",
    "VIBE_ENABLE_NOTIFICATIONS": "false",
}


def vibe(
    start_proxy: Callable[..., Proxy], ws: Workspace, backend: str, prompt: str, script: Script
) -> Result:
    argv = [
        str(app_bin("vibe")),
        "-p",
        prompt,
        "--output",
        "text",
        "--max-turns",
        "4",
        "--auto-approve",
        "--trust",
    ]
    env = {
        **PY_QUIET,
        **QUIET_VIBE,
        "MISTRAL_API_KEY": "app-fake-key",
        "VIBE_HOME": str(ws.home / ".vibe"),
    }
    return run_app(
        start_proxy, ws, argv, protocol=backend, script=script, hosts=["api.mistral.ai"], env=env
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_vibe_prompt(start_proxy: Callable[..., Proxy], tmp_path: Path, backend: str) -> None:
    ws = workspace(tmp_path)
    result = vibe(start_proxy, ws, backend, "Say hello.", plain_script())
    assert_answered(result, result.model.final)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vibe_tool_round_trip(
    start_proxy: Callable[..., Proxy], tmp_path: Path, backend: str
) -> None:
    ws = workspace(tmp_path)
    script = tool_script(ws, "read_file", {"path": str(ws.secret_file)})
    result = vibe(start_proxy, ws, backend, f"What is the secret word in {ws.secret_file}?", script)
    assert_round_trip(result)
