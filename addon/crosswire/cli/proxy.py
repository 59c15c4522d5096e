"""``crosswire run`` / ``web``: mitmdump or mitmweb with the addon and the options it needs.

Everything after crosswire's own flags goes to mitmproxy unchanged — except the options
crosswire sets itself. mitmproxy refuses a second value for them ("multiple values"), so a
user's value replaces crosswire's where that is safe (``confdir``, the listen address, the web
columns, the config) and is refused, saying why, where it would break crosswire (``allow_hosts``
is the list of routed hosts; ``connection_strategy`` must stay lazy; ``stream_large_bodies``
would send a body to the original host before it is routed). Why: docs/mitmproxy.md §1–§3.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crosswire.cli.common import (
    MITM_SCRIPT,
    confdir,
    default_config_path,
    find_binary,
    listen,
    load,
)

#: mitmproxy options crosswire must own, and why (shown when a user sets one).
REFUSED = {
    "allow_hosts": "crosswire sets it to the hosts the config routes (only those are decrypted);"
    " add a route for the host instead (ignore_hosts still narrows it)",
    "stream_large_bodies": "a streamed request body would reach the original host before"
    " crosswire routes it (a key and prompt leak)",
}
#: Flags spelling an option crosswire sets (mitmproxy's own names for them).
_FLAGS = {
    "--allow-hosts": "allow_hosts",
    "--listen-host": "listen_host",
    "--listen-port": "listen_port",
    "-p": "listen_port",
    "-s": "scripts",
    "--scripts": "scripts",
}
WEB_COLUMNS = ("tls", "icon", "path", "method", "status", "size", "time", "comment")


class OptionConflict(Exception):
    """A mitmproxy option the user gave that crosswire cannot give up; the message says why."""


@dataclass
class UserOptions:
    """The user's mitmproxy arguments, with the options crosswire also sets taken out."""

    sets: dict[str, list[str | None]] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, extra: Sequence[str]) -> UserOptions:
        out = cls()
        args = list(extra)
        i = 0
        while i < len(args):
            arg = args[i]
            flag, eq, inline = arg.partition("=")
            if flag == "--set" or flag in _FLAGS:
                if eq:
                    value = inline
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    raise OptionConflict(f"{arg} needs a value")
                if flag == "--set":
                    name, has, setval = value.partition("=")
                    out.add(name, setval if has else None, spec=value)
                else:
                    out.sets.setdefault(_FLAGS[flag], []).append(value)
            else:
                out.rest.append(arg)
            i += 1
        return out

    def add(self, name: str, value: str | None, *, spec: str) -> None:
        if name in _OWNED:
            self.sets.setdefault(name, []).append(value)
        else:  # not crosswire's: passed on as given
            self.rest += ["--set", spec]

    def last(self, name: str) -> str | None:
        values = self.sets.get(name)
        return values[-1] if values else None

    def check(self) -> None:
        for name, why in REFUSED.items():
            if name in self.sets and any(v not in (None, "") for v in self.sets[name]):
                raise OptionConflict(f"{name} cannot be set under crosswire: {why}")
        strategy = self.sets.get("connection_strategy", [])
        if any(v != "lazy" for v in strategy):
            raise OptionConflict(
                "connection_strategy must stay lazy under crosswire: a routed host need not "
                "resolve (it is never connected to)"
            )
        configs = {v for v in self.sets.get("crosswire_config", []) if v}
        if len(configs) > 1:
            raise OptionConflict("crosswire_config is given twice; give the config once (-c)")


_OWNED = {
    "allow_hosts",
    "stream_large_bodies",
    "connection_strategy",
    "confdir",
    "crosswire_config",
    "listen_host",
    "listen_port",
    "scripts",
    "web_columns",
}


def proxy_command(
    cfg_path: Path,
    host: str,
    port: int,
    *,
    web: bool = False,
    extra: Sequence[str] | UserOptions = (),
) -> list[str]:
    """The mitmdump/mitmweb command line; raises ``OptionConflict`` for a refused option."""
    user = extra if isinstance(extra, UserOptions) else UserOptions.parse(extra)
    user.check()
    host = user.last("listen_host") or host
    port = int(user.last("listen_port") or port)
    cmd = [find_binary("mitmweb" if web else "mitmdump"), "-s", str(MITM_SCRIPT)]
    for script in user.sets.get("scripts", []):
        if script:
            cmd += ["-s", script]
    cmd += [
        "--set",
        f"crosswire_config={cfg_path}",
        "--listen-host",
        host,
        "-p",
        str(port),
        "--set",
        "connection_strategy=lazy",
        "--set",
        # The CA that `exec` and `env` put in the app's bundle, unless the user names another.
        f"confdir={user.last('confdir') or confdir()}",
    ]
    columns = [c for c in user.sets.get("web_columns", []) if c] or (WEB_COLUMNS if web else ())
    for column in columns:
        cmd += ["--set", f"web_columns={column}"]  # a list option: one --set per column
    return cmd + user.rest


def run(args: argparse.Namespace, rest: list[str], *, web: bool) -> int:
    try:
        user = UserOptions.parse(rest)
        user.check()
    except OptionConflict as exc:
        print(f"crosswire {'web' if web else 'run'}: {exc}", file=sys.stderr)
        return 2
    given = user.last("crosswire_config")
    if args.config is not None and given and Path(given).resolve() != args.config.resolve():
        print(
            f"crosswire: two configs given ({args.config} and crosswire_config={given});"
            " give one (-c)",
            file=sys.stderr,
        )
        return 2
    path = args.config or (Path(given) if given else default_config_path())
    cfg = load(path)
    host, port = listen(cfg, args.listen)
    cmd = proxy_command(path.resolve(), host, port, web=web, extra=user)
    os.execv(cmd[0], cmd)
