"""The secret-free account of one exchange: what mitmweb, saved flows, telemetry and quotas see.

A ``Record`` is filled in as the exchange goes (route, attempts, the serving backend, usage,
finish) and written to ``flow.metadata["crosswire"]`` as a plain dict at every hook, so a flow
file, the content view and the addons that run after crosswire's (telemetry, client quotas)
read one stable shape. Secrets never enter it: keys by *name* only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from crosswire import ir

#: ``flow.metadata`` key of the record (mitmweb does not show metadata; the comment and
#: ``flow.marked`` carry what the flow list shows, filterable with ``~comment``/``~marked``:
#: docs/mitmproxy.md §12).
META = "crosswire"
#: ``flow.metadata`` keys of the bodies the content view shows beside the flow's own.
ORIGINAL_REQUEST = "crosswire.original_request"
ORIGINAL_URL = "crosswire.original_url"
UPSTREAM_BODY = "crosswire.upstream_body"


@dataclass(slots=True)
class Failure:
    """An attempt that did not serve: who, the upstream status (None: unreachable), why."""

    attempt: str
    status: int | None
    reason: str = ""
    at: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"{self.attempt} {self.status if self.status is not None else 'unreachable'}"


@dataclass(slots=True)
class Record:
    mode: str  # passthrough | convert | local | refused
    client_protocol: str
    backend_protocol: str
    route: str = ""
    backend: str = ""
    key: str | None = None
    client: str | None = None
    model_in: str | None = None
    model_out: str | None = None
    response_model: str | None = None
    stream: bool = False
    attempts: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    report: ir.Report = field(default_factory=ir.Report)
    status: int | None = None
    usage: ir.Usage | None = None
    finish: str | None = None
    error: ir.Error | None = None
    all_failed: bool = False
    cut_short: bool = False
    started: float = field(default_factory=time.time)
    first_byte: float | None = None
    ended: float | None = None

    def served_by(self, backend: str, key: str | None, protocol: str, mode: str) -> None:
        self.backend, self.key, self.backend_protocol, self.mode = backend, key, protocol, mode

    def comment(self) -> str:
        """The one line mitmweb's flow list shows (and ``~comment`` filters on)."""
        if self.mode == "convert":
            parts = [f"{self.client_protocol} → {self.backend_protocol}"]
        else:
            parts = [f"{self.client_protocol} ({self.mode})"]
        if self.route:
            parts.append(self.route)
        if self.backend:
            parts.append(f"backend {self.backend}")
        if self.key:
            parts.append(f"key {self.key}")
        if self.model_in and self.model_out and self.model_in != self.model_out:
            parts.append(f"{self.model_in} → {self.model_out}")
        elif self.model_out:
            parts.append(self.model_out)
        if self.failures:
            tried = ", ".join(str(f) for f in self.failures)
            if self.all_failed:
                parts.append(f"all attempts failed: {tried}")
            else:
                parts.append(f"failover: {tried} → served by {self.backend}/{self.key or '-'}")
        if self.cut_short:
            parts.append("upstream stream cut short")
        dropped = self.report.header_value()
        if dropped:
            parts.append(f"dropped: {dropped}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict stored with the flow (the content view, telemetry and quotas read it)."""
        usage = self.usage
        return {
            "mode": self.mode,
            "client_protocol": self.client_protocol,
            "backend_protocol": self.backend_protocol,
            "route": self.route,
            "backend": self.backend,
            "key": self.key,
            "client": self.client,
            "model_in": self.model_in,
            "model_out": self.model_out,
            "response_model": self.response_model,
            "stream": self.stream,
            "attempts": list(self.attempts),
            "failures": [str(f) for f in self.failures],
            "failovers": [
                {"attempt": f.attempt, "status": f.status, "reason": f.reason, "at": f.at}
                for f in self.failures
            ],
            "notes": [
                {"action": n.action, "field": n.field, "reason": n.reason}
                for n in self.report.notes
            ],
            "status": self.status,
            "usage": None
            if usage is None
            else {
                "input": usage.input_tokens,
                "output": usage.output_tokens,
                "cached": usage.cache_read_tokens,
                "cache_write": usage.cache_write_tokens,
                "reasoning": usage.reasoning_tokens,
                "estimated": usage.estimated,
            },
            "finish": self.finish,
            "error": None
            if self.error is None
            else {"type": self.error.kind, "message": self.error.message},
            "started": self.started,
            "duration_s": None if self.ended is None else self.ended - self.started,
            "ttfb_s": None if self.first_byte is None else self.first_byte - self.started,
        }
