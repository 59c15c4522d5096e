"""``crosswire check`` / ``convert``: commands that need no running proxy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswire.cli.common import default_config_path, load


def check_command(args: argparse.Namespace, rest: list[str]) -> int:
    path = args.config or default_config_path()
    cfg = load(path)
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


def convert_command(args: argparse.Namespace, rest: list[str]) -> int:
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
