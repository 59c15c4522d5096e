"""The pool's keeper: the config's keys into the pool, leases back with what was learnt, and
probes that bring disabled keys back.

Kept apart from the flow handlers so that everything the pool hears about an answer (status,
rate-limit headers, error body, tokens) goes through one door, whatever kind of flow it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from crosswire import ir, upstream
from crosswire.config import Backend, Config
from crosswire.convert import infer_dialect
from crosswire.pool import BackendSpec, Lease, Outcome, Pool, TokenUsage
from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName

log = logging.getLogger("crosswire")


class Keeper:
    def __init__(self, pool: Pool, client: httpx.AsyncClient) -> None:
        self.pool = pool
        self.client = client
        self.backends: Mapping[str, Backend] = {}

    def configure(self, cfg: Config) -> None:
        self.backends = cfg.backends
        self.pool.configure(pool_specs(cfg))

    def release(
        self,
        lease: Lease | None,
        status: int | None,
        route: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        usage: ir.Usage | None = None,
    ) -> None:
        """Give a lease back with the answer's lessons; status 0 = never sent (nothing learnt).
        Never raises, never waits: the pool settles with its store in the background
        (``Pool.release_soon``), so a shared store's round trip is off the request's path."""
        if lease is None:
            return
        tokens = None
        if usage is not None:
            tokens = TokenUsage(
                input=usage.input_tokens or 0,
                output=usage.output_tokens or 0,
                cached=usage.cache_read_tokens or 0,
            )
        self.pool.release_soon(
            lease,
            Outcome(status=status, headers=headers or {}, body=body, usage=tokens, route=route),
        )

    async def probe_loop(self) -> None:
        """Every second: probe the disabled keys that are due (a cheap authenticated call)."""
        while True:
            await asyncio.sleep(1)
            for backend_name, key in self.pool.due_probes():
                backend = self.backends.get(backend_name)
                if backend is None:
                    continue
                ok = await self.probe(backend, key.secret)
                await self.pool.mark_probe(backend_name, key.name, ok)
                if ok:
                    log.info(
                        "crosswire: key %s/%s answers again; re-enabled", backend_name, key.name
                    )

    async def probe(self, backend: Backend, secret: str) -> bool:
        protocol: ProtocolName = (
            "openai-chat" if backend.protocol == "auto" else backend.protocol  # type: ignore[assignment]
        )
        wire = codec(protocol).wire
        dialect = infer_dialect(protocol, backend.config.base_url, backend.config.dialect)
        name, value = wire.credential(secret, dialect)
        try:
            resp = await self.client.get(
                upstream.join(backend.config.base_url, wire.probe_path),
                headers={name: value, **wire.probe_headers},
                timeout=10,
            )
        except Exception:
            return False
        return resp.status_code < 400


def pool_specs(cfg: Config) -> list[BackendSpec]:
    return [
        BackendSpec(
            name=backend.name,
            keys=backend.keys,
            strategy=backend.config.strategy,
            max_wait=backend.config.max_wait,
            sticky=backend.config.sticky,
            probe_interval=backend.config.probe_interval,
        )
        for backend in cfg.backends.values()
    ]
