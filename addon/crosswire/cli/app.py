"""``crosswire exec`` / ``env``: an app gets the proxy and the CA bundle — and nothing else.

Both need only the listen address and the CA, so they read the config for its shape only: a
shell without the pool's secrets can still start an app. ``exec`` also takes every variable a
secret of the config comes from (``${VAR}`` in keys, headers, client tokens, telemetry headers,
``keys_env``) out of the app's environment: the pool's keys are the proxy's, never the app's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from crosswire.cli.common import confdir, default_config_path, listen, load
from crosswire.cli.proxy import proxy_command
from crosswire.cli.trust import JAVA_STORE_PASSWORD, ca_bundle, java_truststore

#: Seconds `exec` waits for a proxy it started to listen.
START_TIMEOUT = 30.0


def app_env(host: str, port: int, conf: Path | None = None) -> dict[str, str]:
    """The variables that send every common runtime through the proxy, trusting its CA."""
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
    store = java_truststore(conf, ca)
    java = [
        f"-Dhttps.proxyHost={host}",
        f"-Dhttps.proxyPort={port}",
        f"-Dhttp.proxyHost={host}",
        f"-Dhttp.proxyPort={port}",
    ]
    if store:
        java += [
            f"-Djavax.net.ssl.trustStore={store}",
            f"-Djavax.net.ssl.trustStorePassword={JAVA_STORE_PASSWORD}",
            "-Djavax.net.ssl.trustStoreType=PKCS12",
        ]
    existing = os.environ.get("JAVA_TOOL_OPTIONS", "")
    env["JAVA_TOOL_OPTIONS"] = " ".join(filter(None, [existing, *java]))
    return env


def without_secrets(env: Mapping[str, str], secret_vars: tuple[str, ...]) -> dict[str, str]:
    """``env`` minus the variables the config's secrets come from."""
    drop = set(secret_vars)
    return {name: value for name, value in env.items() if name not in drop}


def env_command(args: argparse.Namespace, rest: list[str]) -> int:
    cfg = load(args.config, secrets=False)
    host, port = listen(cfg, args.listen)
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


def exec_command(args: argparse.Namespace, rest: list[str]) -> int:
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest:
        print(
            "crosswire exec: give a command after --, e.g. crosswire exec -- python app.py",
            file=sys.stderr,
        )
        return 2
    path = args.config or default_config_path()
    cfg = load(path, secrets=False)
    host, port = listen(cfg, args.listen)
    env = {**without_secrets(os.environ, cfg.secret_vars), **app_env(host, port)}
    proxy: subprocess.Popen[bytes] | None = None
    if not _listening(host, port):
        load(path)  # the proxy started here needs its secrets: say which one is missing
        proxy = _start_proxy(path, host, port)
        if proxy is None:
            return 1
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


def _start_proxy(path: Path, host: str, port: int) -> subprocess.Popen[bytes] | None:
    """A proxy for this app alone (it keeps the environment's secrets), or None if it failed."""
    logdir = confdir()
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / "crosswire-exec.log"
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        proxy = subprocess.Popen(
            proxy_command(path.resolve(), host, port, extra=["--set", "flow_detail=0"]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not _listening(host, port):
        if proxy.poll() is not None or time.monotonic() > deadline:
            print(f"crosswire exec: the proxy did not start; see {log_path}", file=sys.stderr)
            if proxy.poll() is None:
                proxy.kill()
            return None
        time.sleep(0.05)
    return proxy
