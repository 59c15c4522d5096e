"""The OpenTelemetry SDK side: providers, the OTLP/HTTP exporters, the GenAI instruments.

Imported only when telemetry is on (the SDK is the optional ``otel`` extra). Nothing here runs
network I/O on the caller's thread: ``BatchSpanProcessor`` queues ended spans for its own
export thread, histogram records are in-memory aggregations collected by the
``PeriodicExportingMetricReader``'s thread. Only ``shutdown`` waits (bounded by the timeout).
Own providers, never the global ones: crosswire must not change what other code in the
process (another addon) sees as the global tracer.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from crosswire.telemetry.semconv import SECONDS_BUCKETS, TOKEN_BUCKETS, Exchange
from crosswire.telemetry.settings import Settings

SCOPE = "crosswire"
VERSION = "0.1.0"


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class Exporter:
    """Spans and GenAI metrics for finished exchanges. ``span_processor``/``metric_reader``
    replace the OTLP ones (tests use the SDK's in-memory reader and a simple processor)."""

    def __init__(
        self,
        settings: Settings,
        *,
        span_processor: SpanProcessor | None = None,
        metric_reader: MetricReader | None = None,
    ) -> None:
        resource = Resource.create(
            {
                **settings.resource,
                "service.name": settings.service_name,
                "service.version": VERSION,
            }
        )
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        if span_processor is None and settings.traces_endpoint:
            exporter: SpanExporter = OTLPSpanExporter(
                endpoint=settings.traces_endpoint,
                headers=dict(settings.headers) or None,
                timeout=settings.timeout,
            )
            span_processor = BatchSpanProcessor(
                exporter, export_timeout_millis=settings.timeout * 1e3
            )
        if span_processor is not None:
            self.tracer_provider = TracerProvider(resource=resource)
            self.tracer_provider.add_span_processor(span_processor)
        if metric_reader is None and settings.metrics_endpoint:
            interval = settings.metric_interval
            metric_reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(
                    endpoint=settings.metrics_endpoint,
                    headers=dict(settings.headers) or None,
                    timeout=settings.timeout,
                ),
                export_interval_millis=interval * 1e3 if interval else None,
                export_timeout_millis=settings.timeout * 1e3,
            )
        if metric_reader is not None:
            self.meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
        self.tracer = (
            self.tracer_provider.get_tracer(SCOPE, VERSION) if self.tracer_provider else None
        )
        meter = self.meter_provider.get_meter(SCOPE, VERSION) if self.meter_provider else None
        self.token_usage: Any = None
        self.duration: Any = None
        self.first_chunk: Any = None
        if meter is not None:
            self.token_usage = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
            )
            self.duration = meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
            )
            self.first_chunk = meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time to receive the first chunk of a streamed answer.",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
            )

    def emit(self, ex: Exchange) -> None:
        if self.tracer is not None:
            span = self.tracer.start_span(
                ex.name, kind=SpanKind.CLIENT, start_time=_ns(ex.start), attributes=ex.attributes
            )
            for event in ex.events:
                span.add_event(
                    event.name,
                    attributes=event.attributes,
                    timestamp=_ns(event.at) if event.at else None,
                )
            if ex.error:
                span.set_status(Status(StatusCode.ERROR, ex.error))
            span.end(end_time=_ns(ex.end))
        if self.duration is not None:
            attrs = dict(ex.metric_attributes)
            if ex.error:
                attrs["error.type"] = ex.error
            self.duration.record(ex.duration, attributes=attrs)
            if ex.time_to_first_chunk is not None:
                self.first_chunk.record(ex.time_to_first_chunk, attributes=ex.metric_attributes)
            for kind, count in (("input", ex.input_tokens), ("output", ex.output_tokens)):
                if count is not None:
                    self.token_usage.record(
                        count, attributes={**ex.metric_attributes, "gen_ai.token.type": kind}
                    )

    def shutdown(self) -> None:
        """Flush what is queued and stop the export threads (waits at most the timeout)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
