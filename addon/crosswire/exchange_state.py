"""What the addon remembers about one routed flow between its hooks.

Two halves: ``Live`` holds objects (the converter, the lease) that exist only while the flow
is in flight and never reach a saved flow; ``record`` is the plain, secret-free dict stored in
``flow.metadata["crosswire"]`` for mitmweb, flow files and the content view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crosswire.convert import Exchange, StreamConverter
from crosswire.ir import Report
from crosswire.usage import Tap

#: ``flow.metadata`` key of the secret-free record (mitmweb does not show metadata; the comment
#: and ``flow.marked`` carry what the flow list shows, filterable with ``~comment``/``~marked``).
META = "crosswire"
#: ``flow.metadata`` keys of the bodies the content view shows beside the flow's own.
ORIGINAL_REQUEST = "crosswire.original_request"
ORIGINAL_URL = "crosswire.original_url"
UPSTREAM_BODY = "crosswire.upstream_body"


@dataclass(slots=True)
class Live:
    mode: str  # passthrough | convert | local | refused
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
    upstream_copy: bytearray | None = None
    client_copy: bytearray | None = None
    copy_limit: int = 0
    attempts: list[str] = field(default_factory=list)
    released: bool = False
    tap: Tap | None = None

    def tee(self, upstream: bytes, client: bytes) -> None:
        """Keep bounded copies of both sides of a stream for the view."""
        if self.upstream_copy is not None and len(self.upstream_copy) < self.copy_limit:
            self.upstream_copy += upstream[: self.copy_limit - len(self.upstream_copy)]
        if self.client_copy is not None and len(self.client_copy) < self.copy_limit:
            self.client_copy += client[: self.copy_limit - len(self.client_copy)]

    def comment(self) -> str:
        parts = [
            f"{self.client_protocol} → {self.backend_protocol}"
            if self.mode == "convert"
            else f"{self.client_protocol} ({self.mode})"
        ]
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
        if len(self.attempts) > 1:
            parts.append("failover " + ", ".join(self.attempts))
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
            "notes": [
                {"action": n.action, "field": n.field, "reason": n.reason}
                for n in self.report.notes
            ],
        }
