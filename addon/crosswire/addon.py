"""The crosswire mitmproxy addon: options, the config (with hot reload), and the engine's hooks.

Glue only. The config becomes a ``Runtime`` (router, pool, keeper, quotas); the hooks
hand each flow to the ``Engine``, which gives it to the right kind of flight. Hooks that wait
(the pool, failover) are async so they delay only their own flow; stream callables are sync
and cheap (docs/mitmproxy.md §10). While no other addon would act on a routed flow, its
``request`` and ``responseheaders`` work is done from inside mitmproxy's HTTP layer instead,
without the hook rounds (``engine/layer_hooks``, docs/mitmproxy.md §18). The addons around it
— the metrics endpoint, client access, client quotas — share the same runtime through this
object (see ``mitm.py`` for their order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http
from mitmproxy.addonmanager import traverse

from crosswire import config as configmod
from crosswire import heap, ir, lifecycle, quiet_hooks
from crosswire.engine import answer, layer_early, layer_hooks, layer_patch, layer_retry
from crosswire.engine.dispatch import Engine
from crosswire.engine.runtime import Runtime

log = logging.getLogger("crosswire")

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "crosswire.yaml"


class Crosswire:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.engine: Engine | None = None
        self._config_path: Path | None = None
        self._mtime: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Why the ``request`` / ``responseheaders`` round runs for routed flows ("": it does not).
        self._loud: tuple[str, str] | None = None
        #: The other addons' ``request`` work for a flow routed in the layer: before crosswire's
        #: (client admission) and after it (``quiet_hooks``).
        self._leaders: tuple[Callable[[http.HTTPFlow], object], ...] = ()
        self._followers: tuple[Callable[[http.HTTPFlow], object], ...] = ()
        #: Flows between the ``request`` hook and their ``response``/``error``: what a drain
        #: waits for (also requests still queued for a key, not yet flights).
        self._live: set[str] = set()
        self.drain = lifecycle.Drain(
            in_flight=lambda: len(self._live),
            stop_listening=lambda: ctx.options.update(server=False),
            shutdown=lambda: ctx.master.shutdown(),
        )

    # ---- options and config -------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "crosswire_config",
            str,
            "",
            "crosswire config file (default: $CROSSWIRE_CONFIG or config/crosswire.yaml)",
        )
        loader.add_option(
            "crosswire_reload", bool, True, "Reload the crosswire config file when it changes"
        )
        loader.add_option(
            "crosswire_in_layer",
            bool,
            True,
            "Route requests and follow answers' heads inside mitmproxy's HTTP layer, without the "
            "request/responseheaders hook rounds, while no other addon would act on them",
        )
        layer_patch.install()
        layer_retry.install()  # wraps layer_patch's error path: retry first, then answer
        layer_early.install()
        layer_hooks.install()

    def configure(self, updated: set[str]) -> None:
        if "crosswire_config" in updated or self.runtime is None:
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
            # a key and prompt leak (docs/mitmproxy.md §3).
            log.warning(
                "crosswire: stream_large_bodies is ignored for routed hosts; turning it off"
            )
            ctx.options.update(stream_large_bodies=None)
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            log.warning(
                "crosswire: connection_strategy must be lazy (routed hosts need not resolve)"
            )
            ctx.options.update(connection_strategy="lazy")
        if self._tasks:  # running: options may have turned another addon's hook on or off
            self._check_hooks()
        if self.runtime is not None:
            # Copies of streamed bodies serve the content view: mitmweb, or saved flows.
            self.runtime.keep_copies = bool(
                ctx.master.addons.get("webaddon")
                or getattr(ctx.options, "save_stream_file", None)
                or getattr(ctx.options, "hardump", None)
            )

    def _apply(self, cfg: configmod.Config) -> None:
        if self.runtime is None:
            self.runtime = Runtime(cfg)
            self.engine = Engine(self.runtime)
        else:
            self.runtime.reconfigure(cfg)
        router = self.runtime.router
        metrics = cfg.file.metrics_host.replace(".", r"\.")
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

    def _check_hooks(self) -> None:
        """Answer the ``request`` and ``responseheaders`` hooks in mitmproxy's HTTP layer while
        no other addon's would act on a routed flow (``quiet_hooks``); checked again whenever
        options change, and each second (a script may be reloaded with new hooks)."""
        chain = list(traverse(ctx.master.addons.chain))
        request = quiet_hooks.survey(chain, ctx.options, self, "request")
        headers = quiet_hooks.survey(chain, ctx.options, self, "responseheaders")
        self._leaders, self._followers = request.leaders, request.followers
        if ctx.options.crosswire_in_layer:
            loud = (_acting(request.loud), _acting(headers.loud))
        else:
            loud = ("crosswire_in_layer is off",) * 2
        if loud != self._loud:
            self._loud = loud
            if loud[0]:
                log.info("crosswire: routed requests take mitmproxy's request hook (%s)", loud[0])
            else:
                log.info("crosswire: routed requests are routed in mitmproxy's HTTP layer")
            if loud[1]:
                log.info("crosswire: answers take mitmproxy's responseheaders hook (%s)", loud[1])
        running = self.engine is not None
        layer_hooks.enable(
            self._request_now if running and not loud[0] else None,
            self._headers_now if running and not loud[1] else None,
        )

    def running(self) -> None:
        rt = self.runtime
        assert rt is not None
        self._check_hooks()
        self._tasks.append(asyncio.create_task(self._watch()))
        self._tasks.append(asyncio.create_task(self._background(rt)))
        log.info("crosswire: %s", rt.summary())
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # Replaces mitmproxy's own SIGTERM handler (stop at once); SIGINT keeps it.
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: self.drain.start(rt.cfg.file.drain_timeout)
            )
        lifecycle.check_ca_key(Path(ctx.options.confdir).expanduser())
        proxyserver = ctx.master.addons.get("proxyserver")
        if proxyserver is not None:
            lifecycle.warn_if_exposed(
                proxyserver.listen_addrs(), ctx.options.proxyauth or "", len(rt.cfg.file.clients)
            )
        heap.settle()  # the start's objects out of the collector's way (crosswire/heap.py)

    async def _background(self, rt: Runtime) -> None:
        probes = asyncio.create_task(rt.keeper.probe_loop())
        try:
            await ctx.master.should_exit.wait()
        finally:
            probes.cancel()
            await rt.close()  # the upstream client, Redis

    def done(self) -> None:
        # Sync on purpose: an async `done` breaks script hot-reload (docs/mitmproxy.md §10).
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.drain.cancel()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._check_hooks()
            if ctx.options.crosswire_reload:
                self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        path = self._config_path
        if path is None:
            return
        mtime = _mtime(path)
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            cfg = configmod.load(path)
        except configmod.ConfigError as exc:
            log.error("crosswire: config change rejected, keeping the previous config:\n%s", exc)
            return
        self._apply(cfg)
        heap.release()  # the replaced config must be freeable
        log.info("crosswire: config reloaded from %s", path)

    # ---- hooks --------------------------------------------------------------------------

    def _request_now(self, flow: http.HTTPFlow) -> bool:
        """The ``request`` hook's work inside the HTTP layer (``layer_hooks``): True when the
        flow is routed or answered, False to leave it to the hook."""
        engine = self.engine
        if engine is None or self.drain.draining or not quiet_hooks.quiet_for(flow):
            return False
        self._live.add(flow.id)
        try:
            for lead in self._leaders:
                lead(flow)
            done = flow.response is not None or engine.request_now(flow)
        except Exception:
            log.exception("crosswire: routing %s failed", flow.request.pretty_url)
            engine.fail_closed(flow)
            done = True
        if not done:
            self._live.discard(flow.id)
            return False
        for hook in self._followers:
            hook(flow)
        return True

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or self.engine is None:
            if self.engine is not None:
                self.engine.runtime.take_intake(flow.id)  # kept for this hook, not used now
            return
        if self.drain.draining:
            self.engine.runtime.take_intake(flow.id)  # client access's, never used now
            _refuse_draining(flow)
            return
        self._live.add(flow.id)
        try:
            await self.engine.request(flow)
        except Exception:
            # Fail closed: a routed request must never fall through to its original host.
            log.exception("crosswire: routing %s failed", flow.request.pretty_url)
            self.engine.fail_closed(flow)

    def _headers_now(self, flow: http.HTTPFlow) -> bool:
        """The ``responseheaders`` hook, called from inside the HTTP layer (``layer_hooks``)."""
        self.responseheaders(flow)
        return True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if self.engine is not None:
            try:
                self.engine.responseheaders(flow)
            except Exception:
                _log_failure("responseheaders", flow)

    async def response(self, flow: http.HTTPFlow) -> None:
        self._live.discard(flow.id)
        if self.engine is not None:
            try:
                await self.engine.response(flow)
            except Exception:
                _log_failure("response", flow)

    async def crosswire_retry(self, flow: http.HTTPFlow) -> None:
        """From the HTTP layer (``layer_retry``): an attempt failed before the first byte."""
        if self.engine is not None:
            try:
                await self.engine.retry(flow)
            except Exception:
                _log_failure("failover", flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        self._live.discard(flow.id)
        if self.engine is not None:
            try:
                await self.engine.error(flow)
            except Exception:
                _log_failure("error hook", flow)


def _acting(names: tuple[str, ...]) -> str:
    """Why a hook round runs: the addons that would act in it ("" when none)."""
    if not names:
        return ""
    return f"{', '.join(names)} {'acts' if len(names) == 1 else 'act'} on them"


def _log_failure(step: str, flow: http.HTTPFlow) -> None:
    """A crosswire bug in a later hook is logged; the flow and the proxy go on. (A plain
    ``try`` in each hook, not a context manager: that costs a generator per answer.)"""
    log.exception("crosswire: %s failed for %s", step, flow.request.pretty_url)


def _refuse_draining(flow: http.HTTPFlow) -> None:
    """A new request on a connection opened before the drain: a 503 in the app's protocol,
    and the connection closed, so the app's retry opens a new one (to another instance)."""
    req = flow.request
    protocol = answer.protocol_of(req)
    err = ir.Error(
        kind="unavailable",
        status=503,
        message="crosswire: this proxy is shutting down; retry (a new connection)",
        retry_after=1.0,
    )
    answer.refuse(flow, protocol, None, err, f"{protocol} (refused) · shutting down")
    assert flow.response is not None
    if not (req.is_http2 or req.is_http3):  # connection headers are HTTP/1 only
        flow.response.headers["connection"] = "close"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
