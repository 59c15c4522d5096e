"""What the addon remembers about one routed flow between its hooks.

Two halves: ``Live`` holds objects (the converter, the lease, the secret) that exist only
while the flow is in flight and never reach a saved flow; ``record()`` is the plain,
secret-free dict stored in ``flow.metadata["crosswire"]`` for flow files and the content view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crosswire.convert import Exchange, StreamConverter
from crosswire.ir import Report
from crosswire.usage import Tap

if TYPE_CHECKING:
    from crosswire.planner import Candidate, Planner

#: ``flow.metadata`` key of the secret-free record (mitmweb does not show metadata; the comment
#: and ``flow.marked`` carry what the flow list shows, filterable with ``~comment``/``~marked``).
META = "crosswire"
#: ``flow.metadata`` keys of the bodies the content view shows beside the flow's own.
ORIGINAL_REQUEST = "crosswire.original_request"
ORIGINAL_URL = "crosswire.original_url"
UPSTREAM_BODY = "crosswire.upstream_body"


@dataclass(slots=True)
class Live:
    mode: str  # passthrough | convert | local
    client_protocol: str
    backend_protocol: str
    route: str = ""
    backend: str = ""
    key_name: str | None = None
    secret: str | None = field(default=None, repr=False)
    auth_header: str | None = None
    exchange: Exchange | None = None
    converter: StreamConverter | None = None
    report: Report = field(default_factory=Report)
    model_in: str | None = None
    model_out: str | None = None
    stream: bool = False
    lease: Any = None
    started: float = 0.0
    upstream_url: str = ""
    upstream_copy: bytearray | None = None
    client_copy: bytearray | None = None
    copy_limit: int = 0
    attempts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    tap: Tap | None = None
    planner: Planner | None = None
    relay_url: str | None = None
    relay_failed: bool = False
    cut_short: bool = False
    client_name: str | None = None

    def use(self, candidate: Candidate) -> None:
        """Take the serving candidate's backend, key, codec and report."""
        self.mode = candidate.mode
        self.backend_protocol = candidate.protocol
        self.backend = candidate.backend.name
        self.key_name = candidate.key_name
        self.secret = candidate.secret
        self.auth_header = candidate.auth_header
        self.exchange = candidate.exchange
        self.report = candidate.report
        self.model_out = candidate.model_out
        self.stream = candidate.stream
        self.lease = candidate.lease
        self.upstream_url = candidate.url

    def client_content_type(self) -> str:
        ex = self.exchange
        if ex is not None and ex.request is not None and ex.request.stream:
            return ex.client.stream_encoder(ex.call, ex.request, self.report).content_type
        return "application/json"

    def tee(self, upstream: bytes, client: bytes) -> None:
        """Keep bounded copies of both sides of a stream for the view."""
        if self.upstream_copy is not None and len(self.upstream_copy) < self.copy_limit:
            self.upstream_copy += upstream[: self.copy_limit - len(self.upstream_copy)]
        if self.client_copy is not None and len(self.client_copy) < self.copy_limit:
            self.client_copy += client[: self.copy_limit - len(self.client_copy)]

    def comment(self) -> str:
        if self.mode == "convert":
            parts = [f"{self.client_protocol} → {self.backend_protocol}"]
        else:
            parts = [f"{self.client_protocol} ({self.mode})"]
        if self.route:
            parts.append(self.route)
        if self.backend:
            parts.append(f"backend {self.backend}")
        if self.key_name:
            parts.append(f"key {self.key_name}")
        if self.model_in and self.model_out and self.model_in != self.model_out:
            parts.append(f"{self.model_in} → {self.model_out}")
        elif self.model_out:
            parts.append(self.model_out)
        if self.failures:
            parts.append(
                "failover: "
                + ", ".join(self.failures)
                + f" → served by {self.backend}/{self.key_name or '-'}"
                if not self.relay_failed
                else "all attempts failed: " + ", ".join(self.failures)
            )
        if self.cut_short:
            parts.append("upstream stream cut short")
        dropped = self.report.header_value()
        if dropped:
            parts.append(f"dropped: {dropped}")
        return " · ".join(parts)

    def record(self) -> dict[str, Any]:
        """The secret-free summary kept with the flow."""
        return {
            "mode": self.mode,
            "client_protocol": self.client_protocol,
            "backend_protocol": self.backend_protocol,
            "route": self.route,
            "backend": self.backend,
            "key": self.key_name,
            "model_in": self.model_in,
            "model_out": self.model_out,
            "stream": self.stream,
            "attempts": list(self.attempts),
            "failures": list(self.failures),
            "client": self.client_name,
            "notes": [
                {"action": n.action, "field": n.field, "reason": n.reason}
                for n in self.report.notes
            ],
        }
