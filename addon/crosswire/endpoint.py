"""``http://crosswire.local/metrics`` (Prometheus) and ``/keys`` (JSON), answered through the
proxy itself — shaped like mitmproxy's ``onboarding`` addon, which serves ``mitm.it``.

Key names and counters only; never a secret.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable
from typing import Any

from mitmproxy import http

from crosswire.engine import headers
from crosswire.engine.runtime import Hub, Runtime


class MetricsEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def quiet_request(self) -> bool:
        """Its ``request`` answers its own host only, which is never a routed one."""
        return True

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Not async itself: every request passes here and almost none is for this endpoint;
        mitmproxy awaits what a hook returns only when it is awaitable."""
        rt = self.hub.runtime
        if rt is None or flow.response or flow.error or not flow.live:
            return None
        if headers.target_host(flow.request) != rt.cfg.file.metrics_host:
            return None
        return self._serve(flow, rt)

    async def _serve(self, flow: http.HTTPFlow, rt: Runtime) -> None:
        path = flow.request.path.split("?", 1)[0]
        states = await rt.pool.snapshot()
        if path == "/metrics":
            body = rt.pool.prometheus(states, await rt.pool.route_usage()).encode()
            flow.response = http.Response.make(
                200, body, {"content-type": "text/plain; version=0.0.4"}
            )
        elif path in ("/keys", "/keys.json"):
            clients = await rt.quotas.usage([c.name for c in rt.cfg.file.clients])
            data = {"keys": [state_dict(s) for s in states], "clients": clients}
            flow.response = http.Response.make(
                200, json.dumps(data, indent=2).encode(), {"content-type": "application/json"}
            )
        else:
            flow.response = http.Response.make(
                404, b"crosswire: /metrics or /keys\n", {"content-type": "text/plain"}
            )
        flow.comment = f"crosswire {path}"


def state_dict(state: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {k: v for k, v in dataclasses.asdict(state).items() if k != "secret"}
    return dict(state)
