"""The services every flow shares, built from the config: router, pool, keeper, quotas.

One ``Runtime`` lives as long as the proxy; a config reload swaps the router and the pool's
keys in place (leases in flight keep their keys). The addons (crosswire's engine, client access,
the metrics endpoint) hold the same runtime, so they agree on routes and the pool.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from crosswire.config import Config
from crosswire.engine.deadline import Deadlines
from crosswire.engine.intake import Incoming, Intake, classify
from crosswire.engine.keeper import Keeper
from crosswire.pool import Pool, make_store
from crosswire.quotas import Quotas
from crosswire.routing import Router

log = logging.getLogger("crosswire")


def upstream_client() -> httpx.AsyncClient:
    """The in-process client for crosswire's own calls upstream (key probes)."""
    return httpx.AsyncClient(
        trust_env=False,
        timeout=httpx.Timeout(30.0, connect=10.0),
        follow_redirects=False,
    )


class Runtime:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.router = Router(cfg)
        self.pool = Pool(make_store(cfg.file.state))
        self.client = upstream_client()
        self.keeper = Keeper(self.pool, self.client)
        self.keeper.configure(cfg)
        self.quotas = Quotas(cfg.file.state)
        #: The connect and read timeouts of every attempt in the air, swept by one timer.
        self.deadlines = Deadlines()
        #: Keep bounded copies of streamed bodies for the content view (mitmweb, saved flows);
        #: a plain mitmdump keeps none.
        self.keep_copies = True
        self._intakes: dict[str, Intake] = {}

    def reconfigure(self, cfg: Config) -> None:
        if cfg.file.state != self.cfg.file.state:
            log.warning("crosswire: 'state' changes take effect on restart")
        self.cfg = cfg
        self.router = Router(cfg)
        self.keeper.configure(cfg)

    def summary(self) -> str:
        keys = sum(len(b.keys) for b in self.cfg.backends.values())
        return (
            f"{len(self.cfg.routes)} routes, {len(self.cfg.backends)} backends, {keys} keys; "
            f"decrypting {', '.join(self.router.hosts) or 'nothing'}"
        )

    def classify(self, incoming: Incoming) -> Intake:
        return classify(incoming, self.router, self.cfg.file.limits.max_body_bytes)

    def keep_intake(self, flow_id: str, intake: Intake) -> None:
        """Hand a request's intake on to the engine (client access classifies first), so the
        request is read and classified once."""
        self._intakes[flow_id] = intake

    def has_intake(self, flow_id: str) -> bool:
        """Whether this flow was classified already (and kept for the engine)."""
        return flow_id in self._intakes

    def take_intake(self, flow_id: str) -> Intake | None:
        """The intake kept for this flow, if any — forgotten here (the engine takes it once)."""
        return self._intakes.pop(flow_id, None)

    async def close(self) -> None:
        """Close what holds sockets: the upstream client, the quota counters, the store."""
        self.deadlines.close()
        try:
            await self.client.aclose()
            await self.quotas.close()
        finally:
            await self.pool.close()


class Hub(Protocol):
    """What the addons around the engine hold: the runtime, once the config is loaded."""

    @property
    def runtime(self) -> Runtime | None: ...
