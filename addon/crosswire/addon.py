"""The mitmproxy hooks, and nothing else: options, guards, calls into the rest.

One routed flow: ``request`` detects the app's protocol, matches a route, converts (or passes
through) and leases a key; ``responseheaders`` installs the stream converter; ``response``
converts whole answers and errors, releases the lease, redacts the secret; ``error`` releases
and marks. Hooks that wait (the pool, config reload) are async so they delay only their own
flow; the stream callable is sync and cheap.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from crosswire import config as configmod
from crosswire import flows, ir
from crosswire.routing import Router

log = logging.getLogger("crosswire")

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "crosswire.yaml"


class Crosswire:
    """The addon. State lives in ``flows.Engine``; this class only adapts mitmproxy to it."""

    def __init__(self) -> None:
        self.engine: flows.Engine | None = None
        self._config_path: Path | None = None
        self._mtime: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---- options and config -------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "crosswire_config",
            str,
            "",
            "crosswire config file (default: $CROSSWIRE_CONFIG or config/crosswire.yaml)",
        )
        loader.add_option(
            "crosswire_reload",
            bool,
            True,
            "Reload the crosswire config file when it changes",
        )

    def configure(self, updated: set[str]) -> None:
        if "crosswire_config" in updated or self.engine is None:
            path = Path(
                ctx.options.crosswire_config or os.environ.get("CROSSWIRE_CONFIG") or DEFAULT_CONFIG
            )
            try:
                cfg = configmod.load(path)
            except configmod.ConfigError as exc:
                raise exceptions.OptionsError(str(exc)) from None
            self._config_path = path
            self._mtime = _mtime(path)
            self._apply(cfg)
        if "stream_large_bodies" in updated and ctx.options.stream_large_bodies:
            # It sends large requests to the original host before `request` can retarget them:
            # a key and prompt leak (MITMPROXY_NOTES §1.5).
            log.warning(
                "crosswire: stream_large_bodies is ignored for routed hosts; turning it off"
            )
            ctx.options.update(stream_large_bodies=None)
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            log.warning(
                "crosswire: connection_strategy must be lazy (routed hosts need not resolve)"
            )
            ctx.options.update(connection_strategy="lazy")

    def _apply(self, cfg: configmod.Config) -> None:
        if self.engine is None:
            self.engine = flows.Engine(cfg)
        else:
            self.engine.reconfigure(cfg)
        router: Router = self.engine.router
        metrics = self.engine.cfg.file.metrics_host.replace(".", r"\.")
        allow = [*router.allow_hosts_patterns(), f"^{metrics}(:\\d+)?$"]
        updates: dict[str, Any] = {}
        if list(ctx.options.allow_hosts) != allow:
            updates["allow_hosts"] = allow
        if ctx.options.connection_strategy != "lazy":
            updates["connection_strategy"] = "lazy"
        if ctx.options.stream_large_bodies:
            updates["stream_large_bodies"] = None
        if updates:
            ctx.options.update(**updates)

    def running(self) -> None:
        if ctx.options.crosswire_reload:
            self._tasks.append(asyncio.create_task(self._watch_config()))
        assert self.engine is not None
        self._tasks.append(asyncio.create_task(self.engine.background()))
        log.info("crosswire: %s", self.engine.summary())

    def done(self) -> None:
        # Sync on purpose: an async `done` breaks script hot-reload (MITMPROXY_NOTES §4).
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self.engine is not None:
            self.engine.relay.stop_listening()

    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            path = self._config_path
            if path is None:
                continue
            mtime = _mtime(path)
            if mtime == self._mtime:
                continue
            self._mtime = mtime
            try:
                cfg = configmod.load(path)
            except configmod.ConfigError as exc:
                log.error(
                    "crosswire: config change rejected, keeping the previous config:\n%s", exc
                )
                continue
            self._apply(cfg)
            log.info("crosswire: config reloaded from %s", path)

    # ---- hooks --------------------------------------------------------------------------

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or self.engine is None:
            return
        try:
            await self.engine.on_request(flow)
        except Exception:
            # Fail closed: a routed request must never fall through to its original host.
            log.exception("crosswire: routing %s failed", flow.request.pretty_url)
            self.engine.fail_closed(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        live = self.engine.live.get(flow.id) if self.engine else None
        if live is not None:
            try:
                self.engine.on_responseheaders(flow, live)  # type: ignore[union-attr]
            except Exception:
                log.exception(
                    "crosswire: responseheaders hook failed for %s", flow.request.pretty_url
                )

    async def response(self, flow: http.HTTPFlow) -> None:
        live = self.engine.live.get(flow.id) if self.engine else None
        if live is not None:
            try:
                await self.engine.on_response(flow, live)  # type: ignore[union-attr]
            except Exception:
                log.exception(
                    "crosswire: %s hook failed for %s", "response", flow.request.pretty_url
                )

    async def error(self, flow: http.HTTPFlow) -> None:
        live = self.engine.live.get(flow.id) if self.engine else None
        if live is not None:
            try:
                await self.engine.on_error(flow, live)  # type: ignore[union-attr]
            except Exception:
                log.exception("crosswire: %s hook failed for %s", "error", flow.request.pretty_url)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


__all__ = ["Crosswire", "ir"]
