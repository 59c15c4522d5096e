"""The telemetry addon: after crosswire's own addon, turns each finished exchange's record into
an OpenTelemetry span and GenAI metric points.

It sits after ``Crosswire`` in the addon chain, so in ``response`` and ``error`` the record in
``flow.metadata["crosswire"]`` is final. It reads crosswire's loaded config (the ``telemetry:``
section, backend URLs for ``server.address``, the secrets to scrub) from that addon, and
follows its reloads. The SDK is imported only when telemetry is on; when it is not installed
the proxy runs on and says once how to install it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from crosswire.telemetry import semconv
from crosswire.telemetry.settings import Settings, resolve

log = logging.getLogger("crosswire")

#: flow.metadata keys crosswire's addon writes (kept literal: importing the engine modules
#: here would tie this addon to their internals).
META = "crosswire"
ORIGINAL_URL = "crosswire.original_url"

_UNSET = object()

INSTALL_HINT = (
    "crosswire: telemetry is configured but the OpenTelemetry SDK is not installed; "
    "install the 'otel' extra (uv sync --extra otel, or pip install 'crosswire[otel]')"
)


class Telemetry:
    """``config_source`` returns crosswire's loaded ``Config`` (default: the ``crosswire``
    addon's); ``exporter_factory`` builds the exporter from settings (tests inject one)."""

    def __init__(
        self,
        config_source: Callable[[], Any] | None = None,
        exporter_factory: Callable[[Settings], Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._source = config_source
        self._factory = exporter_factory
        self._env = env
        self._cfg: Any = _UNSET
        self._scrub = semconv.Scrubber()
        self._settings: Settings | None = None
        self.exporter: Any = None
        self._hinted = False
        self._done: OrderedDict[str, None] = OrderedDict()

    # ---- setup ---------------------------------------------------------------------------

    def _config(self) -> Any:
        if self._source is not None:
            return self._source()
        from mitmproxy import ctx

        owner = ctx.master.addons.get("crosswire")  # type: ignore[no-untyped-call]
        engine = getattr(owner, "engine", None)
        return getattr(engine, "cfg", None)

    def configure(self, updated: set[str]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """(Re)build the exporter when crosswire's config object changed (load or reload)."""
        cfg = self._config()
        if cfg is self._cfg:
            return
        self._cfg = cfg
        self._scrub = semconv.Scrubber(getattr(cfg, "secrets", ()))  # once per config
        section = getattr(getattr(cfg, "file", None), "telemetry", None)
        settings = resolve(section, os.environ if self._env is None else self._env)
        if settings == self._settings and self.exporter is not None:
            return
        self._stop(background=True)
        self._settings = settings
        if settings is None:
            return
        if settings.ignored_protocol:
            log.warning(
                "crosswire: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; exporting "
                "OTLP over http/protobuf",
                settings.ignored_protocol,
            )
        try:
            if self._factory is not None:
                self.exporter = self._factory(settings)
            else:
                from crosswire.telemetry.export import Exporter

                self.exporter = Exporter(settings)
        except ImportError:
            if not self._hinted:
                log.warning(INSTALL_HINT)
                self._hinted = True
            return
        log.info(
            "crosswire: OpenTelemetry export on (traces: %s, metrics: %s, service %s)",
            _where(settings.traces_endpoint),
            _where(settings.metrics_endpoint),
            settings.service_name,
        )

    # ---- hooks ---------------------------------------------------------------------------

    def response(self, flow: Any) -> None:
        self._emit(flow)

    def error(self, flow: Any) -> None:
        self._emit(flow)

    def done(self) -> None:
        self._stop(background=False)

    def _emit(self, flow: Any) -> None:
        record = flow.metadata.get(META)
        if not isinstance(record, Mapping) or flow.id in self._done:
            return
        if getattr(flow, "websocket", None) is not None:  # a Responses socket: no one exchange
            return
        self._refresh()
        if self.exporter is None:
            return
        self._done[flow.id] = None
        if len(self._done) > 4096:
            self._done.popitem(last=False)
        try:
            ex = self._exchange(flow, record)
            if ex is not None:
                self.exporter.emit(ex)
        except Exception:  # telemetry must never break a flow
            log.exception("crosswire: telemetry export failed for one exchange")

    def _exchange(self, flow: Any, record: Mapping[str, Any]) -> semconv.Exchange | None:
        cfg = self._cfg
        backend_url = None
        backend = (getattr(cfg, "backends", None) or {}).get(record.get("backend") or "")
        if backend is not None:
            backend_url = backend.config.base_url
        # The host the app called (the request itself is retargeted by now).
        original = str(flow.metadata.get(ORIGINAL_URL) or "")
        app_host = urlsplit(original.partition(" ")[2]).hostname if original else None
        req, resp = flow.request, flow.response
        start = req.timestamp_start
        end = (resp.timestamp_end if resp is not None else None) or (
            flow.error.timestamp if flow.error is not None else None
        )
        return semconv.exchange(
            record,
            start=start,
            end=end or start,
            status=resp.status_code if resp is not None else None,
            backend_url=backend_url,
            app_host=app_host,
            scrub=self._scrub,
        )

    def _stop(self, *, background: bool) -> None:
        exporter, self.exporter = self.exporter, None
        if exporter is None:
            return
        if background:  # a reload: the old exporter's last flush must not hold up flows
            threading.Thread(target=exporter.shutdown, name="otel-shutdown", daemon=True).start()
        else:
            exporter.shutdown()


def _where(url: str | None) -> str:
    """An endpoint for the log: scheme, host and path only (no userinfo, no query)."""
    if not url:
        return "off"
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
