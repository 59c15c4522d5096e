"""How each real app runs headless, and on which backends the suite drives it.

Every app talks to its own provider's real host with a fake key; crosswire routes that host to
the scripted model speaking a *different* protocol. The tool each app is asked to call is a
read-only one it really has (read a file, or run ``cat``), aimed at the workspace's secret file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.apps.runner import Workspace

Argv = Callable[[Path, str, Workspace], list[str]]


@dataclass(frozen=True)
class AppCase:
    name: str  # key in install.APPS
    hosts: tuple[str, ...]  # what crosswire routes (the app's provider)
    backends: tuple[str, ...]  # backend protocols, none the app's own
    argv: Argv  # (executable, prompt, workspace) -> command line
    tool: str
    arguments: Callable[[Workspace], dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Workspace], None] | None = None
    #: (backend, scenario) -> why it fails because of crosswire (strict xfail).
    xfail: dict[tuple[str, str], str] = field(default_factory=dict)
    scenarios: tuple[str, ...] = ("prompt", "tool")
    label: str = ""  # test id prefix when one app has several cases

    @property
    def id(self) -> str:
        return self.label or self.name


PROMPT = "Say hello."
TOOL_PROMPT = "Read the file secret.txt and tell me the secret word."

CODEX_HTTPS = [
    # The built-in provider, but over HTTPS: the Responses WebSocket is left to its own tests.
    "-c", "model_provider=oai",
    "-c", "model_providers.oai.name=OpenAI",
    "-c", "model_providers.oai.base_url=https://api.openai.com/v1",
    "-c", "model_providers.oai.env_key=OPENAI_API_KEY",
    "-c", "model_providers.oai.wire_api=responses",
    "-c", "model_providers.oai.supports_websockets=false",
]  # fmt: skip


def _continue_config(ws: Workspace) -> None:
    (ws.home / "cn.yaml").write_text(
        "name: crosswire-test\nversion: 0.0.1\nschema: v1\nmodels:\n"
        "  - name: claude\n    provider: anthropic\n    model: claude-sonnet-4-5\n"
        "    apiKey: sk-ant-fake-app-key\n    roles: [chat, edit, apply]\n"
    )


CASES = [
    AppCase(
        "claude",
        ("api.anthropic.com",),
        ("openai-chat", "gemini"),
        lambda exe, prompt, ws: [
            str(exe),
            "-p",
            prompt,
            "--model",
            "claude-sonnet-4-5",
            "--allowedTools",
            "Read",
        ],
        "Read",
        lambda ws: {"file_path": str(ws.secret_file)},
        env={
            "ANTHROPIC_API_KEY": "sk-ant-fake-app-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        },
    ),
    AppCase(
        "gemini",
        ("generativelanguage.googleapis.com",),
        ("openai-chat", "anthropic"),
        lambda exe, prompt, ws: [
            str(exe),
            "-p",
            prompt,
            "-m",
            "gemini-2.5-flash",
            "--allowed-tools",
            "read_file",
        ],
        "read_file",
        lambda ws: {"file_path": str(ws.secret_file)},
        env={"GEMINI_API_KEY": "fake-gemini-app-key", "GEMINI_CLI_TRUST_WORKSPACE": "true"},
    ),
    AppCase(
        "codex",
        ("api.openai.com",),
        ("anthropic", "gemini"),
        lambda exe, prompt, ws: [
            str(exe),
            "exec",
            "--skip-git-repo-check",
            *CODEX_HTTPS,
            "-m",
            "gpt-5",
            prompt,
        ],
        "exec_command",
        lambda ws: {"cmd": "cat secret.txt"},
        env={"OPENAI_API_KEY": "sk-fake-app-key"},
    ),
    AppCase(  # Codex's own transport: the Responses WebSocket, served by crosswire
        "codex",
        ("api.openai.com",),
        ("openai-chat",),
        lambda exe, prompt, ws: [str(exe), "exec", "--skip-git-repo-check", "-m", "gpt-5", prompt],
        "exec_command",
        lambda ws: {"cmd": "cat secret.txt"},
        env={"OPENAI_API_KEY": "sk-fake-app-key"},
        scenarios=("tool",),
        label="codex-websocket",
    ),
    AppCase(
        "opencode",
        ("api.anthropic.com",),
        ("gemini", "openai-responses"),
        lambda exe, prompt, ws: [str(exe), "run", "-m", "anthropic/claude-sonnet-4-5", prompt],
        "read",
        lambda ws: {"filePath": str(ws.secret_file)},
        env={
            "ANTHROPIC_API_KEY": "sk-ant-fake-app-key",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
        },
    ),
    AppCase(
        "qwen",
        ("api.openai.com",),
        ("anthropic", "gemini"),
        lambda exe, prompt, ws: [str(exe), "--auth-type", "openai", "-p", prompt],
        "read_file",
        lambda ws: {"file_path": str(ws.secret_file)},
        env={
            "OPENAI_API_KEY": "sk-fake-app-key",
            "OPENAI_BASE_URL": "https://api.openai.com/v1",
            "OPENAI_MODEL": "gpt-4o",
        },
    ),
    AppCase(
        "continue",
        ("api.anthropic.com",),
        ("openai-chat", "openai-responses"),
        lambda exe, prompt, ws: [str(exe), "--config", str(ws.home / "cn.yaml"), "-p", prompt],
        "Read",
        lambda ws: {"filepath": "secret.txt"},
        setup=_continue_config,
    ),
    AppCase(
        "pi",
        ("generativelanguage.googleapis.com",),
        ("anthropic", "openai-responses"),
        lambda exe, prompt, ws: [
            str(exe),
            "--offline",
            "--no-session",
            "--provider",
            "google",
            "--model",
            "gemini-2.5-flash",
            "-p",
            prompt,
        ],
        "read",
        lambda ws: {"path": "secret.txt"},
        env={"GEMINI_API_KEY": "fake-gemini-app-key"},
    ),
]
