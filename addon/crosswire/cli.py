"""``crosswire run|web|exec|env|check|convert|keys|top``.

``run`` and ``web`` exec mitmdump / mitmweb with the addon and the options routing needs
(lazy connections, only routed hosts decrypted); everything after crosswire's own flags is
passed to mitmproxy unchanged. ``exec`` and ``env`` give an app the proxy and a CA bundle
(system CAs + the mitmproxy CA) for every runtime's way of reading one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from crosswire import config as configmod

PACKAGE_DIR = Path(__file__).resolve().parent
MITM_SCRIPT = PACKAGE_DIR / "mitm.py"
REPO_CONFIG = PACKAGE_DIR.parents[1] / "config" / "crosswire.yaml"


def default_config_path() -> Path:
    """$CROSSWIRE_CONFIG, else the user's config dir, else the repository's default config."""
    env = os.environ.get("CROSSWIRE_CONFIG")
    if env:
        return Path(env)
    user = (
        Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        / "crosswire"
        / "crosswire.yaml"
    )
    if user.exists():
        return user
    return REPO_CONFIG


def confdir() -> Path:
    return Path(os.environ.get("MITMPROXY_CONFDIR", Path.home() / ".mitmproxy"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv:
        parser.print_help()
        return 2
    args, rest = parser.parse_known_args(argv)
    if args.command in ("run", "web"):
        return _run(args, rest, web=args.command == "web")
    if rest and args.command not in ("exec",):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler = {
        "exec": _exec,
        "env": _env,
        "check": _check,
        "convert": _convert,
        "keys": _keys,
        "top": _top,
    }[args.command]
    return handler(args, rest)


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
        p.add_argument("-c", "--config", type=Path, default=None, help="config file")
        p.add_argument("--listen", default=None, help="HOST:PORT (default: the config's listen)")
    p = sub.add_parser(
        "exec", help="run CMD with HTTPS_PROXY and the CA bundle set (starts the proxy if needed)"
    )
    p.add_argument("-c", "--config", type=Path, default=None)
    p.add_argument("--listen", default=None)
    p = sub.add_parser("env", help="print the environment for an app, to eval in a shell")
    p.add_argument("-c", "--config", type=Path, default=None)
    p.add_argument("--listen", default=None)
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
    p.add_argument("-c", "--config", type=Path, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--listen", default=None)
    p = sub.add_parser("top", help="live view of the running proxy's pool (Ctrl-C quits)")
    p.add_argument("-c", "--config", type=Path, default=None)
    p.add_argument("--listen", default=None)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    return parser


def _load(path: Path | None) -> configmod.Config:
    path = path or default_config_path()
    try:
        return configmod.load(path)
    except configmod.ConfigError as exc:
        print(f"crosswire: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _listen(cfg: configmod.Config, override: str | None) -> tuple[str, int]:
    host, _, port = (override or cfg.file.listen).rpartition(":")
    return host or "127.0.0.1", int(port)


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        print(f"crosswire: {name} not found (is mitmproxy installed?)", file=sys.stderr)
        raise SystemExit(2)
    return found


def proxy_command(
    cfg_path: Path, host: str, port: int, *, web: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    cmd = [
        _bin("mitmweb" if web else "mitmdump"),
        "-s",
        str(MITM_SCRIPT),
        "--set",
        f"crosswire_config={cfg_path}",
        "--listen-host",
        host,
        "-p",
        str(port),
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"confdir={confdir()}",  # the CA that `exec` and `env` put in the app's bundle
    ]
    if web:
        for column in ("tls", "icon", "path", "method", "status", "size", "time", "comment"):
            cmd += ["--set", f"web_columns={column}"]  # a list option: one --set per column
    return cmd + list(extra)


def _run(args: argparse.Namespace, rest: list[str], *, web: bool) -> int:
    path = args.config or default_config_path()
    cfg = _load(path)
    host, port = _listen(cfg, args.listen)
    cmd = proxy_command(path.resolve(), host, port, web=web, extra=rest)
    os.execv(cmd[0], cmd)


# ---- exec / env --------------------------------------------------------------------------


def ca_bundle(conf: Path | None = None) -> tuple[Path, Path]:
    """(combined bundle, mitmproxy CA): the system CAs plus the mitmproxy CA in one PEM file,
    created (with the CA itself, if mitmproxy has not made one yet) on first use."""
    conf = conf or confdir()
    ca = conf / "mitmproxy-ca-cert.pem"
    if not ca.exists():
        from mitmproxy import certs

        conf.mkdir(parents=True, exist_ok=True)
        certs.CertStore.from_store(conf, "mitmproxy", 2048)
    bundle = conf / "crosswire-ca-bundle.pem"
    system = _system_cas()
    mitm = ca.read_bytes()
    content = (system.read_bytes() if system else b"").rstrip(b"\n") + b"\n" + mitm
    if not bundle.exists() or bundle.read_bytes() != content:
        bundle.write_bytes(content)
    return bundle, ca


def _system_cas() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi

        return Path(certifi.where())
    except ImportError:
        return None


def _java_truststore(conf: Path, ca: Path) -> Path | None:
    """A PKCS12 truststore with the mitmproxy CA, for JAVA_TOOL_OPTIONS (needs keytool)."""
    keytool = shutil.which("keytool")
    store = conf / "crosswire-truststore.p12"
    if store.exists():
        return store
    if not keytool:
        return None
    subprocess.run(
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-alias",
            "mitmproxy",
            "-file",
            str(ca),
            "-keystore",
            str(store),
            "-storetype",
            "PKCS12",
            "-storepass",
            "crosswire",
        ],
        check=False,
        capture_output=True,
    )
    return store if store.exists() else None


def app_env(host: str, port: int, conf: Path | None = None) -> dict[str, str]:
    conf = conf or confdir()
    bundle, ca = ca_bundle(conf)
    proxy = f"http://{host}:{port}"
    no_proxy = ",".join(
        dict.fromkeys(
            [
                *filter(None, os.environ.get("NO_PROXY", "").split(",")),
                "localhost",
                "127.0.0.1",
                "::1",
            ]
        )
    )
    env = {
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "SSL_CERT_FILE": str(bundle),
        "REQUESTS_CA_BUNDLE": str(bundle),
        "CURL_CA_BUNDLE": str(bundle),
        "NODE_EXTRA_CA_CERTS": str(bundle),
        "NODE_USE_ENV_PROXY": "1",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(bundle),
    }
    store = _java_truststore(conf, ca)
    java = [
        f"-Dhttps.proxyHost={host}",
        f"-Dhttps.proxyPort={port}",
        f"-Dhttp.proxyHost={host}",
        f"-Dhttp.proxyPort={port}",
    ]
    if store:
        java += [
            f"-Djavax.net.ssl.trustStore={store}",
            "-Djavax.net.ssl.trustStorePassword=crosswire",
            "-Djavax.net.ssl.trustStoreType=PKCS12",
        ]
    existing = os.environ.get("JAVA_TOOL_OPTIONS", "")
    env["JAVA_TOOL_OPTIONS"] = " ".join(filter(None, [existing, *java]))
    return env


def _env(args: argparse.Namespace, rest: list[str]) -> int:
    cfg = _load(args.config)
    host, port = _listen(cfg, args.listen)
    for name, value in app_env(host, port).items():
        if args.shell == "fish":
            print(f"set -gx {name} {shlex.quote(value)};")
        else:
            print(f"export {name}={shlex.quote(value)}")
    return 0


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _exec(args: argparse.Namespace, rest: list[str]) -> int:
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest:
        print(
            "crosswire exec: give a command after --, e.g. crosswire exec -- python app.py",
            file=sys.stderr,
        )
        return 2
    path = args.config or default_config_path()
    cfg = _load(path)
    host, port = _listen(cfg, args.listen)
    env = {**os.environ, **app_env(host, port)}
    proxy: subprocess.Popen[bytes] | None = None
    if not _listening(host, port):
        logdir = confdir()
        logdir.mkdir(parents=True, exist_ok=True)
        log = open(logdir / "crosswire-exec.log", "ab")  # noqa: SIM115 - lives as long as the proxy
        proxy = subprocess.Popen(
            proxy_command(path.resolve(), host, port, extra=["--set", "flow_detail=0"]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not _listening(host, port):
            if proxy.poll() is not None or time.monotonic() > deadline:
                print(
                    f"crosswire exec: the proxy did not start; see {logdir / 'crosswire-exec.log'}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.05)
    try:
        return subprocess.call(rest, env=env)
    except FileNotFoundError:
        print(f"crosswire exec: command not found: {rest[0]}", file=sys.stderr)
        return 127
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGINT)
            try:
                proxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proxy.kill()


# ---- check / convert / keys --------------------------------------------------------------


def _check(args: argparse.Namespace, rest: list[str]) -> int:
    path = args.config or default_config_path()
    cfg = _load(path)
    print(f"{path}: valid")
    print(f"listen {cfg.file.listen} · state {cfg.file.state}")
    print("routes (first match wins):")
    for i, route in enumerate(cfg.routes, 1):
        m = route.match
        cond = (
            " ".join(
                f"{k}={v}"
                for k, v in (
                    ("host", m.host),
                    ("path", m.path),
                    ("model", m.model),
                    ("protocol", m.protocol),
                )
                if v
            )
            or "(everything)"
        )
        rename = f" as {route.model}" if route.model else ""
        print(f"  {i}. {cond} → {' → '.join(route.backends)}{rename}")
    print("backends:")
    for name, backend in cfg.backends.items():
        c = backend.config
        if backend.keys:
            keys = ", ".join(k.name for k in backend.keys)
        elif c.keys_env:
            keys = f"none resolved ({c.keys_env} is unset or empty)"
        else:
            keys = "none"
        auth = " · else the app's own key" if c.client_auth else ""
        print(f"  {name}: {c.protocol} {c.base_url} · {c.strategy} · keys: {keys}{auth}")
    return 0


def _convert(args: argparse.Namespace, rest: list[str]) -> int:
    from crosswire import offline

    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        result = offline.convert(
            data,
            source=args.source,
            target=args.target,
            kind="stream" if args.stream else args.kind,
            model=args.model,
        )
    except offline.OfflineError as exc:
        print(f"crosswire convert: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(result.output)
    if not result.output.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    if result.notes:
        print("\nchanges:", file=sys.stderr)
        for note in result.notes:
            print(f"  {note.action}: {note.field} — {note.reason}", file=sys.stderr)
    return 0


def _keys(args: argparse.Namespace, rest: list[str]) -> int:
    import asyncio

    from crosswire import keyview

    cfg = _load(args.config)
    host, port = _listen(cfg, args.listen)
    states = asyncio.run(keyview.fetch(cfg, host, port))
    if args.json:
        print(json.dumps(states, indent=2))
    else:
        print(keyview.table(states))
    return 0


def _top(args: argparse.Namespace, rest: list[str]) -> int:
    from crosswire import top

    cfg = _load(args.config)
    host, port = _listen(cfg, args.listen)
    return top.run(
        host, port, cfg.file.metrics_host, interval=max(0.1, args.interval), once=args.once
    )


if __name__ == "__main__":
    raise SystemExit(main())
