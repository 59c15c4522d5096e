"""``crosswire run|web|exec|env|check|convert|keys|top``.

``run`` and ``web`` exec mitmdump / mitmweb with the addon and the options routing needs
(lazy connections, only routed hosts decrypted); everything after crosswire's own flags is
passed to mitmproxy (``proxy``). ``exec`` and ``env`` give an app the proxy and a CA bundle
(system CAs + the mitmproxy CA) for every runtime's way of reading one, never the pool's
secrets (``app``, ``trust``). ``check``/``convert`` need no proxy (``offline``); ``keys``/``top``
ask the running one (``live``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from crosswire.cli.app import app_env, env_command, exec_command
from crosswire.cli.common import confdir, default_config_path
from crosswire.cli.live import keys_command, top_command
from crosswire.cli.offline import check_command, convert_command
from crosswire.cli.proxy import proxy_command, run
from crosswire.cli.trust import ca_bundle

__all__ = ["app_env", "ca_bundle", "confdir", "default_config_path", "main", "proxy_command"]

_HANDLERS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "exec": exec_command,
    "env": env_command,
    "check": check_command,
    "convert": convert_command,
    "keys": keys_command,
    "top": top_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv:
        parser.print_help()
        return 2
    args, rest = parser.parse_known_args(argv)
    if args.command in ("run", "web"):
        return run(args, rest, web=args.command == "web")
    if rest and args.command != "exec":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _HANDLERS[args.command](args, rest)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosswire", description="Any AI app, any model: a mitmproxy addon."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the proxy (mitmdump + crosswire); extra args go to mitmdump"),
        ("web", "run the proxy under mitmweb; extra args go to mitmweb"),
    ):
        p = sub.add_parser(name, help=help_text, add_help=True)
        _config_and_listen(p, listen_help="HOST:PORT (default: the config's listen)")
    p = sub.add_parser(
        "exec",
        help="run CMD with HTTPS_PROXY and the CA bundle set, without the config's secret "
        "variables (starts the proxy if needed)",
    )
    _config_and_listen(p)
    p = sub.add_parser("env", help="print the environment for an app, to eval in a shell")
    _config_and_listen(p)
    p.add_argument("--shell", choices=("sh", "fish"), default="sh")
    p = sub.add_parser("check", help="validate the config; list routes and which keys resolve")
    p.add_argument("-c", "--config", type=Path, default=None)
    p = sub.add_parser("convert", help="convert a saved request, response or stream offline")
    p.add_argument("--from", dest="source", required=True, help="the protocol FILE is in")
    p.add_argument("--to", dest="target", required=True, help="the protocol to convert to")
    p.add_argument("--stream", action="store_true", help="FILE is a stream (SSE / NDJSON)")
    p.add_argument("--kind", choices=("auto", "request", "response", "stream"), default="auto")
    p.add_argument("--model", default=None, help="model name for the target (requests)")
    p.add_argument("file", help="a file, or - for standard input")
    p = sub.add_parser("keys", help="the pool's state: per key in flight, cooling, disabled, usage")
    _config_and_listen(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("top", help="live view of the running proxy's pool (Ctrl-C quits)")
    _config_and_listen(p)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    return parser


def _config_and_listen(p: argparse.ArgumentParser, listen_help: str | None = None) -> None:
    p.add_argument("-c", "--config", type=Path, default=None, help="config file")
    p.add_argument("--listen", default=None, help=listen_help or "HOST:PORT of the proxy")
