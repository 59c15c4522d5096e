"""``crosswire keys`` / ``top``: the running proxy's pool, asked through the proxy itself."""

from __future__ import annotations

import argparse
import json

from crosswire.cli.common import listen, load


def keys_command(args: argparse.Namespace, rest: list[str]) -> int:
    import asyncio

    from crosswire import keyview

    # Full load: without a running proxy, a Redis pool is read with the configured keys.
    cfg = load(args.config)
    host, port = listen(cfg, args.listen)
    states = asyncio.run(keyview.fetch(cfg, host, port))
    if args.json:
        print(json.dumps(states, indent=2))
    else:
        print(keyview.table(states))
    return 0


def top_command(args: argparse.Namespace, rest: list[str]) -> int:
    from crosswire import top

    cfg = load(args.config, secrets=False)  # the address and the metrics host only
    host, port = listen(cfg, args.listen)
    return top.run(
        host, port, cfg.file.metrics_host, interval=max(0.1, args.interval), once=args.once
    )
