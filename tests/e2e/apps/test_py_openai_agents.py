"""The OpenAI Agents SDK (``openai-agents``) through crosswire: a small script with an
``Agent``, a ``@function_tool`` that reads a file and ``Runner.run_sync``, pointed at
``api.openai.com`` with a fake key. The SDK speaks OpenAI Responses by default and Chat
Completions after ``set_default_openai_api("chat_completions")``: both are driven, each routed
to backends of other protocols. Tracing (which posts to api.openai.com) is off.
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

from agents import Agent, Runner, function_tool, set_default_openai_api, set_tracing_disabled

api, prompt, with_tool = sys.argv[1], sys.argv[2], sys.argv[3] == "tool"
set_tracing_disabled(True)
set_default_openai_api(api)


@function_tool
def read_file(path: str) -> str:
    """Return the text of the file at path."""
    with open(path) as f:
        return f.read()


agent = Agent(
    name="reader",
    instructions="Answer briefly. Use read_file to read files.",
    model="gpt-4.1-mini",
    tools=[read_file] if with_tool else [],
)
print(Runner.run_sync(agent, prompt).final_output)
'''

#: (the SDK's API setting, the backend) — each client protocol on two other protocols.
CASES = [
    ("responses", "anthropic"),
    ("responses", "gemini"),
    ("chat_completions", "anthropic"),
    ("chat_completions", "openai-responses"),
]


def agents(
    start_proxy: Callable[..., Proxy], ws: Workspace, client: str, backend: str, tool: bool
) -> Result:
    return run_script(
        start_proxy,
        ws,
        app="openai-agents",
        source=SCRIPT,
        client=client,
        backend=backend,
        tool=tool,
        env={"OPENAI_AGENTS_DISABLE_TRACING": "1"},
    )


@pytest.mark.parametrize(("api", "backend"), CASES)
def test_agents_prompt(
    start_proxy: Callable[..., Proxy], tmp_path: Path, api: str, backend: str
) -> None:
    result = agents(start_proxy, workspace(tmp_path), api, backend, tool=False)
    assert_answered(result, result.model.final)


@pytest.mark.parametrize(("api", "backend"), CASES)
def test_agents_tool_round_trip(
    start_proxy: Callable[..., Proxy], tmp_path: Path, api: str, backend: str
) -> None:
    result = agents(start_proxy, workspace(tmp_path), api, backend, tool=True)
    assert_round_trip(result)
