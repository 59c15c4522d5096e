"""Running one real app through a real crosswire against a scripted model.

A test names the app (see :mod:`tests.e2e.apps.install`), the backend protocol, the hosts to
route and the scripted conversation; :func:`run_app` starts crosswire (the harness ``Proxy``,
flows saved) with a config routing those hosts to a ``ScriptedModel`` upstream, runs the app
with exactly the environment ``crosswire exec`` gives (``crosswire.cli.app_env``) in a fresh
HOME and workspace, and returns what happened.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.apps import install
from tests.e2e.apps.scripted import BASE_PATH, Script, ScriptedModel
from tests.e2e.harness import Proxy, Upstream

#: Environment every app gets: no telemetry, update checks or colours, wherever the app
#: reads them (each app's own switches are added by its test).
QUIET = {
    "CI": "1",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
    "TERM": "dumb",
    "DO_NOT_TRACK": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "NO_UPDATE_NOTIFIER": "1",
}


@dataclass
class Workspace:
    """A temp project with a file holding a random secret word: a tool result can only
    contain the word if the app really ran its tool."""

    root: Path
    home: Path
    secret_file: Path
    word: str


def workspace(tmp_path: Path) -> Workspace:
    root, home = tmp_path / "project", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    word = f"crosswire-{secrets.token_hex(4)}"
    secret = root / "secret.txt"
    secret.write_text(f"The secret word is {word}\n")
    (root / "README.md").write_text("A test project.\n")
    # A git work tree: agents take it as the project root (files outside it need permission).
    subprocess.run(["git", "init", "-q", str(root)], check=False, capture_output=True)
    return Workspace(root, home, secret, word)


def tool_script(ws: Workspace, tool: str, arguments: dict[str, object]) -> Script:
    """The round trip every app test plays: call ``tool``, expect the secret word back."""
    return Script(
        final=f"The secret word is {ws.word}.", tool=tool, arguments=arguments, expect=ws.word
    )


def plain_script() -> Script:
    return Script(final="Hello from the scripted model.")


def config(
    protocol: str, upstream: Upstream, hosts: Sequence[str], model: str = "", backend: str = ""
) -> str:
    """A crosswire config routing every host in ``hosts`` to the scripted upstream (renaming
    the model when ``model`` is given; ``backend`` adds YAML lines to the backend)."""
    rename = f"\n    model: {model}" if model else ""
    routes = "".join(f"  - match: {{host: {h}}}\n    backend: scripted{rename}\n" for h in hosts)
    return (
        "backends:\n  scripted:\n"
        f"    protocol: {protocol}\n    base_url: {upstream.url}{BASE_PATH[protocol]}\n"
        '    keys: [{name: k, secret: "scripted-backend-key"}]\n'
        + "".join(f"    {line}\n" for line in backend.splitlines())
        + f"routes:\n{routes}"
    )


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    model: ScriptedModel
    proxy: Proxy

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return (
            f"exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n"
            f"{self.stderr[-3000:]}\n--- {self.model.explain()}\n--- proxy log\n"
            f"{self.proxy.log()[-3000:]}"
        )

    def hosts(self) -> list[str]:
        """``host path`` of every flow crosswire intercepted (routed hosts only)."""
        return [
            f"{f.request.pretty_host} {f.request.path.split('?')[0]}" for f in self.proxy.flows()
        ]


def executable(name: str) -> Path:
    """The installed app, installing it now if the cache lacks it; skips with the reason."""
    node, why = install.install(install.NODE, retry=False)
    if node is None:
        pytest.skip(f"Node runtime unavailable: {why}")
    exe, why = install.install(install.APPS[name], retry=False)
    if exe is None:
        pytest.skip(why)
    return exe


def run_app(
    start_proxy: Callable[..., Proxy],
    ws: Workspace,
    argv: Sequence[str],
    *,
    protocol: str,
    script: Script,
    hosts: Sequence[str],
    env: dict[str, str] | None = None,
    model: str = "",
    backend: str = "",
    timeout: float = 90,
) -> Result:
    from crosswire.cli import app_env

    upstream = Upstream()
    scripted = ScriptedModel(protocol, script)
    upstream.handler = scripted
    try:
        proxy = start_proxy(config(protocol, upstream, hosts, model, backend))
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
            **QUIET,
            **install.node_env(),
            **app_env("127.0.0.1", proxy.port, proxy.confdir),
            "HOME": str(ws.home),
            "PWD": str(ws.root),  # some apps take the project from $PWD, not the cwd
            "XDG_CONFIG_HOME": str(ws.home / ".config"),
            "XDG_DATA_HOME": str(ws.home / ".local" / "share"),
            "XDG_STATE_HOME": str(ws.home / ".local" / "state"),
            "XDG_CACHE_HOME": str(ws.home / ".cache"),
            **(env or {}),
        }
        try:
            out = subprocess.run(
                list(argv),
                env=full_env,
                cwd=ws.root,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
            code, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired as exc:
            code, stdout, stderr = -9, exc.stdout or b"", (exc.stderr or b"") + b"\n[timed out]"
        return Result(
            code,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
            scripted,
            proxy,
        )
    finally:
        upstream.close()
