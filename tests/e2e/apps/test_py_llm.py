"""simonw's ``llm`` CLI through crosswire: its OpenAI Chat models (gpt-4.1-mini), its OpenAI
Responses models (gpt-5-mini) and the llm-anthropic / llm-gemini plugins, each on backends of
other protocols. The tool is a ``--functions`` Python function that reads a file; ``llm``
runs it itself (no approval prompt unless ``--ta``) and chains the result back to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps.pyapps import PY_QUIET, app_bin, assert_answered, assert_round_trip
from tests.e2e.apps.runner import Result, Workspace, plain_script, run_app, tool_script, workspace
from tests.e2e.harness import Proxy

pytestmark = [pytest.mark.e2e]

READ_FILE = """
def read_file(path: str) -> str:
    "Return the text of the file at path."
    with open(path) as f:
        return f.read()
"""

#: (llm model id, the host it calls, the env var its key comes from, the plugin it needs:
#: ``LLM_LOAD_PLUGINS`` loads only that one, which halves llm's start-up)
CLIENTS = {
    "openai-chat": ("gpt-4.1-mini", "api.openai.com", "OPENAI_API_KEY", ""),
    "openai-responses": ("gpt-5-mini", "api.openai.com", "OPENAI_API_KEY", ""),
    "anthropic": ("claude-sonnet-4.5", "api.anthropic.com", "ANTHROPIC_API_KEY", "llm-anthropic"),
    "gemini": (
        "gemini-2.5-flash",
        "generativelanguage.googleapis.com",
        "LLM_GEMINI_KEY",
        "llm-gemini",
    ),
}

CASES = [
    ("openai-chat", "anthropic"),
    ("openai-chat", "gemini"),
    ("openai-responses", "anthropic"),
    ("anthropic", "openai-chat"),
    ("gemini", "openai-responses"),
]


def llm(
    start_proxy: Callable[..., Proxy], ws: Workspace, client: str, backend: str, tool: bool
) -> Result:
    model, host, key_var, plugin = CLIENTS[client]
    argv = [str(app_bin("llm")), "prompt", "-m", model, "--no-log"]
    if tool:
        argv += ["--functions", READ_FILE, f"Read the file {ws.secret_file} and tell me the word."]
        script = tool_script(ws, "read_file", {"path": str(ws.secret_file)})
    else:
        argv += ["Say hello."]
        script = plain_script()
    env = {
        **PY_QUIET,
        key_var: "app-fake-key",
        "LLM_USER_PATH": str(ws.home / "llm"),
        "LLM_LOAD_PLUGINS": plugin,
    }
    return run_app(
        start_proxy, ws, argv, protocol=backend, script=script, hosts=[host], env=env, timeout=60
    )


@pytest.mark.parametrize(("client", "backend"), CASES)
def test_llm_prompt(
    start_proxy: Callable[..., Proxy], tmp_path: Path, client: str, backend: str
) -> None:
    result = llm(start_proxy, workspace(tmp_path), client, backend, tool=False)
    assert_answered(result, result.model.final)


@pytest.mark.parametrize(("client", "backend"), CASES)
def test_llm_tool_round_trip(
    start_proxy: Callable[..., Proxy], tmp_path: Path, client: str, backend: str
) -> None:
    result = llm(start_proxy, workspace(tmp_path), client, backend, tool=True)
    assert_round_trip(result)
