"""A real OTLP/HTTP receiver for the telemetry tests: a loopback HTTP server that accepts
protobuf POSTs on /v1/traces and /v1/metrics (what a collector accepts) and decodes them with
opentelemetry-proto. It keeps every raw body too, for the secret scans.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attrs(v.kvlist_value.values)
    return getattr(v, kind) if kind else None


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


class Receiver:
    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with owner._lock:
                    owner.raw.append(body)
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    if self.path == "/v1/traces":
                        owner.traces.append(ExportTraceServiceRequest.FromString(body))
                        reply = ExportTraceServiceResponse().SerializeToString()
                    elif self.path == "/v1/metrics":
                        owner.metric_requests.append(ExportMetricsServiceRequest.FromString(body))
                        reply = ExportMetricsServiceResponse().SerializeToString()
                    else:
                        self.send_response(404)
                        self.send_header("content-length", "0")
                        self.end_headers()
                        return
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            requests = list(self.traces)
        for req in requests:
            for rs in req.resource_spans:
                resource = attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            {
                                "name": s.name,
                                "kind": s.kind,
                                "attributes": attrs(s.attributes),
                                "events": [
                                    {
                                        "name": e.name,
                                        "time": e.time_unix_nano,
                                        "attributes": attrs(e.attributes),
                                    }
                                    for e in s.events
                                ],
                                "status": s.status.code,
                                "status_message": s.status.message,
                                "start": s.start_time_unix_nano,
                                "end": s.end_time_unix_nano,
                                "resource": resource,
                                "scope": ss.scope.name,
                            }
                        )
        return out

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Histogram points by metric name (every export; cumulative, so the last is the total)."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            requests = list(self.metric_requests)
        for req in requests:
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        for p in m.histogram.data_points:
                            out.setdefault(m.name, []).append(
                                {
                                    "unit": m.unit,
                                    "attributes": attrs(p.attributes),
                                    "count": p.count,
                                    "sum": p.sum,
                                    "bounds": list(p.explicit_bounds),
                                }
                            )
        return out

    def wait_for(self, check: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return check()
