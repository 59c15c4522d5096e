"""Shared parts of the Python-app tests (``test_py_*.py``): the installed app, skipping with
the installer's reason when it is unavailable, and the switches that keep every Python app
quiet (no telemetry, no update checks, no colours) on top of the runner's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps import install_py
from tests.e2e.apps.runner import Result, Workspace, plain_script, run_app, tool_script
from tests.e2e.harness import Proxy

#: Python-side quiet switches (the runner adds the generic ones).
PY_QUIET = {
    "PYTHONUNBUFFERED": "1",
    "PYTHONWARNINGS": "ignore",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}

#: Backend protocols other than each app's own, in the order the tests use them.
OTHER = {
    "openai-chat": ("anthropic", "gemini"),
    "openai-responses": ("anthropic", "openai-chat"),
    "anthropic": ("openai-chat", "gemini"),
    "gemini": ("openai-responses", "anthropic"),
}


#: What a test may spend installing its app when the cache lacks it (pytest-timeout is 120 s);
#: CI installs every app before the tests run.
INSTALL_BUDGET = 75.0


def app_bin(name: str, binary: str | None = None) -> Path:
    """The app's executable in its own venv, installing it first if needed (skips, with the
    installer's reason, when it cannot be installed here)."""
    try:
        app = install_py.ensure(name, budget=INSTALL_BUDGET)
    except install_py.Unavailable as exc:
        pytest.skip(f"{name} unavailable: {exc}")
    return install_py.bin_path(app, binary)


def assert_answered(result: Result, text: str) -> None:
    assert result.returncode == 0, result.explain()
    assert text in result.stdout, result.explain()


def assert_round_trip(result: Result) -> None:
    """The app ran its tool, the scripted model saw the file's secret word in the result, and
    the app showed the model's final answer (which quotes the word)."""
    assert result.model.tool_calls >= 1, result.explain()
    assert result.model.round_trip, result.explain()
    assert_answered(result, result.model.final)


def run_script(
    start_proxy: Callable[..., Proxy],
    ws: Workspace,
    *,
    app: str,
    source: str,
    client: str,
    backend: str,
    tool: bool,
    env: dict[str, str],
) -> Result:
    """Run a small agent script (``source``) on ``app``'s venv Python as
    ``python agent.py CLIENT PROMPT tool|plain``, with ``api.openai.com`` routed to a scripted
    ``backend``; with ``tool`` the model calls ``read_file(path=...)`` on the secret file."""
    script_file = ws.home / "agent.py"
    script_file.write_text(source)
    if tool:
        prompt = f"What is the secret word in {ws.secret_file}?"
        script = tool_script(ws, "read_file", {"path": str(ws.secret_file)})
    else:
        prompt, script = "Say hello.", plain_script()
    argv = [str(app_bin(app)), str(script_file), client, prompt, "tool" if tool else "plain"]
    return run_app(
        start_proxy,
        ws,
        argv,
        protocol=backend,
        script=script,
        hosts=["api.openai.com"],
        env={**PY_QUIET, "OPENAI_API_KEY": "app-fake-key", **env},
    )
