"""``crosswire keys``: the pool's live state, from the running proxy (or straight from Redis).

The proxy answers ``http://crosswire.local/keys`` through itself; with ``state: redis://`` and
no proxy running, the shared store is read directly. Key names only — never secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

from crosswire.config import Config


def poll(host: str, port: int, metrics_host: str, timeout: float = 3.0) -> dict[str, Any]:
    """``/keys`` of the proxy at host:port (raises OSError when it does not answer)."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://{host}:{port}"})
    )
    with opener.open(f"http://{metrics_host}/keys", timeout=timeout) as resp:
        data = json.loads(resp.read())
    return data if isinstance(data, dict) else {}


async def fetch(cfg: Config, host: str, port: int) -> list[dict[str, Any]]:
    try:
        return list(poll(host, port, cfg.file.metrics_host).get("keys", []))
    except OSError:
        if not cfg.file.state.startswith(("redis://", "rediss://", "unix://")):
            raise SystemExit(
                f"crosswire keys: no crosswire is running at {host}:{port} "
                "(with state: memory the pool lives in the running proxy)"
            ) from None
    from crosswire.endpoint import state_dict
    from crosswire.engine.keeper import pool_specs
    from crosswire.pool import Pool, make_store

    pool = Pool(make_store(cfg.file.state))
    pool.configure(pool_specs(cfg))
    try:
        return [state_dict(s) for s in await pool.snapshot()]
    finally:
        await pool.close()


def table(states: list[dict[str, Any]]) -> str:
    if not states:
        return "no keys configured"
    rows = [("BACKEND", "KEY", "IN FLIGHT", "STATE", "REQUESTS", "ERRORS", "TOKENS IN/OUT/CACHED")]
    for s in states:
        state = "ok"
        if s.get("disabled"):
            state = f"disabled: {s.get('disabled_reason') or '?'}"
        elif s.get("cooling_until"):
            until = dt.datetime.fromtimestamp(float(s["cooling_until"])).strftime("%H:%M:%S")
            state = f"cooling until {until}: {s.get('cooldown_reason') or ''}".rstrip(": ")
        tokens = (
            f"{s.get('input_tokens', 0)}/{s.get('output_tokens', 0)}/{s.get('cached_tokens', 0)}"
        )
        rows.append(
            (
                str(s.get("backend")),
                str(s.get("name")),
                str(s.get("in_flight", 0)),
                state,
                str(s.get("requests", 0)),
                str(s.get("errors", 0)),
                tokens,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
