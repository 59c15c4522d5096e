"""aider through crosswire. aider has no tools: its round trip is an edit. It sends the file
it was given (``--file``) to the model and applies the ``whole``-format answer (the file name,
then the new content in a fence) to disk. So the edit round trip verifies both directions: the
upstream request (in the backend's protocol) carries the file's current content, a random
word, and the file on disk afterwards holds exactly what the model answered. aider calls
``api.openai.com`` through litellm (Chat Completions, streamed and whole), routed to backends
of other protocols. Headless: ``--message`` with ``--yes-always``, no git, no analytics, no
update check, no model-price download.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps.pyapps import OTHER, PY_QUIET, app_bin, assert_answered
from tests.e2e.apps.runner import Result, Workspace, plain_script, run_app, workspace
from tests.e2e.apps.scripted import Script
from tests.e2e.harness import Proxy

pytestmark = [pytest.mark.e2e]

BACKENDS = OTHER["openai-chat"]

QUIET_AIDER = [
    "--yes-always",
    "--no-git",
    "--no-gitignore",
    "--analytics-disable",
    "--no-check-update",
    "--no-show-release-notes",
    "--no-show-model-warnings",
    "--no-pretty",
    "--no-fancy-input",
    "--no-detect-urls",
    "--map-tokens",
    "0",
    "--edit-format",
    "whole",
]


def aider(
    start_proxy: Callable[..., Proxy],
    ws: Workspace,
    backend: str,
    message: str,
    script: Script,
    *,
    stream: bool,
    files: tuple[Path, ...] = (),
) -> Result:
    argv = [str(app_bin("aider")), "--model", "gpt-4.1-mini", *QUIET_AIDER]
    argv += ["--stream" if stream else "--no-stream", "--message", message]
    for f in files:
        argv += ["--file", str(f)]
    env = {
        **PY_QUIET,
        "OPENAI_API_KEY": "app-fake-key",
        # litellm would download its model-price map at import
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    return run_app(
        start_proxy, ws, argv, protocol=backend, script=script, hosts=["api.openai.com"], env=env
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_aider_prompt(start_proxy: Callable[..., Proxy], tmp_path: Path, backend: str) -> None:
    ws = workspace(tmp_path)
    result = aider(start_proxy, ws, backend, "Say hello.", plain_script(), stream=True)
    assert_answered(result, result.model.final)


#: Streamed on one backend, whole on the other (aider's ``--stream`` / ``--no-stream``).
@pytest.mark.parametrize(("backend", "stream"), [(BACKENDS[0], True), (BACKENDS[1], False)])
def test_aider_edit_round_trip(
    start_proxy: Callable[..., Proxy], tmp_path: Path, backend: str, stream: bool
) -> None:
    ws = workspace(tmp_path)
    target = ws.root / "greet.py"
    target.write_text(f'print("{ws.word}")\n')
    new = f'print("edited by the scripted model: {ws.word[::-1]}")\n'
    script = Script(final=f"greet.py\n```python\n{new}```\n")
    result = aider(
        start_proxy,
        ws,
        backend,
        "Change the greeting.",
        script,
        stream=stream,
        files=(target,),
    )
    assert result.returncode == 0, result.explain()
    sent = [r for r in result.model.requests if ws.word.encode() in r.body]
    assert sent, "the file's content never reached the upstream\n" + result.explain()
    assert target.read_text() == new, result.explain()
