"""pydantic-ai through crosswire: a small script with an ``Agent`` and a ``@agent.tool_plain``
that reads a file, on ``openai:gpt-4.1-mini`` (Chat Completions) and
``openai-responses:gpt-4.1-mini`` (Responses) at ``api.openai.com`` with a fake key, each
routed to backends of other protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.apps.pyapps import assert_answered, assert_round_trip, run_script
from tests.e2e.apps.runner import Result, Workspace, workspace
from tests.e2e.harness import Proxy

pytestmark = [pytest.mark.e2e]

SCRIPT = '''
import sys

from pydantic_ai import Agent

model, prompt, with_tool = sys.argv[1], sys.argv[2], sys.argv[3] == "tool"
agent = Agent(model, instructions="Answer briefly. Use read_file to read files.")

if with_tool:

    @agent.tool_plain
    def read_file(path: str) -> str:
        """Return the text of the file at path."""
        with open(path) as f:
            return f.read()


print(agent.run_sync(prompt).output)
'''

#: (pydantic-ai model string, the backend) — each client protocol on two other protocols.
CASES = [
    ("openai:gpt-4.1-mini", "anthropic"),
    ("openai:gpt-4.1-mini", "gemini"),
    ("openai-responses:gpt-4.1-mini", "anthropic"),
    ("openai-responses:gpt-4.1-mini", "openai-chat"),
]


def pydantic_ai(
    start_proxy: Callable[..., Proxy], ws: Workspace, client: str, backend: str, tool: bool
) -> Result:
    return run_script(
        start_proxy,
        ws,
        app="pydantic-ai",
        source=SCRIPT,
        client=client,
        backend=backend,
        tool=tool,
        env={},
    )


@pytest.mark.parametrize(("model", "backend"), CASES)
def test_pydantic_ai_prompt(
    start_proxy: Callable[..., Proxy], tmp_path: Path, model: str, backend: str
) -> None:
    result = pydantic_ai(start_proxy, workspace(tmp_path), model, backend, tool=False)
    assert_answered(result, result.model.final)


@pytest.mark.parametrize(("model", "backend"), CASES)
def test_pydantic_ai_tool_round_trip(
    start_proxy: Callable[..., Proxy], tmp_path: Path, model: str, backend: str
) -> None:
    result = pydantic_ai(start_proxy, workspace(tmp_path), model, backend, tool=True)
    assert_round_trip(result)
