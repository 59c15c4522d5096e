"""The pool's figures in the Prometheus text exposition format (version 0.0.4).

Labels are backend, key *name* and route — never a secret (a ``KeyState`` holds none).
https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

from collections.abc import Sequence

from crosswire.pool.model import LATENCY_BUCKETS, KeyState, RouteUsage

#: (metric, type, help, KeyState attribute) for the per-key series.
KEY_SERIES: tuple[tuple[str, str, str, str], ...] = (
    ("crosswire_key_requests_total", "counter", "Requests sent with this key", "requests"),
    ("crosswire_key_errors_total", "counter", "Requests that failed (>= 400, no answer)", "errors"),
    ("crosswire_key_input_tokens_total", "counter", "Input tokens", "input_tokens"),
    ("crosswire_key_output_tokens_total", "counter", "Output tokens", "output_tokens"),
    ("crosswire_key_cached_tokens_total", "counter", "Input tokens from a cache", "cached_tokens"),
    ("crosswire_key_in_flight", "gauge", "Requests in flight on this key", "in_flight"),
    ("crosswire_key_rpm_used", "gauge", "Requests started in the last minute", "rpm_used"),
    ("crosswire_key_tpm_used", "gauge", "Tokens used in the last minute", "tpm_used"),
)

#: (metric, help, RouteUsage attribute) for the per-route counters.
ROUTE_SERIES: tuple[tuple[str, str, str], ...] = (
    ("crosswire_route_requests_total", "Requests of this route served by this backend", "requests"),
    ("crosswire_route_errors_total", "Failed requests of this route on this backend", "errors"),
    ("crosswire_route_input_tokens_total", "Input tokens of this route", "input_tokens"),
    ("crosswire_route_output_tokens_total", "Output tokens of this route", "output_tokens"),
    ("crosswire_route_cached_tokens_total", "Cached input tokens of this route", "cached_tokens"),
)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def render(states: Sequence[KeyState], routes: Sequence[RouteUsage] = ()) -> str:
    lines: list[str] = []
    labels = [f'backend="{_esc(s.backend)}",key="{_esc(s.name)}"' for s in states]

    def family(metric: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} {kind}")

    for metric, kind, help_text, attr in KEY_SERIES:
        family(metric, kind, help_text)
        lines.extend(
            f"{metric}{{{lab}}} {getattr(s, attr)}" for s, lab in zip(states, labels, strict=True)
        )
    family("crosswire_key_cooling", "gauge", "1 while the key cools down or waits for a limit")
    lines.extend(
        f"crosswire_key_cooling{{{lab}}} {int(s.cooling_until is not None)}"
        for s, lab in zip(states, labels, strict=True)
    )
    family(
        "crosswire_key_cooling_until_seconds",
        "gauge",
        "When the key's cooldown ends (Unix time; 0 when not cooling)",
    )
    lines.extend(
        f"crosswire_key_cooling_until_seconds{{{lab}}} {_num(s.cooling_until or 0)}"
        for s, lab in zip(states, labels, strict=True)
    )
    family("crosswire_key_disabled", "gauge", "1 while the key is disabled (401/403)")
    lines.extend(
        f"crosswire_key_disabled{{{lab}}} {int(s.disabled)}"
        for s, lab in zip(states, labels, strict=True)
    )
    for attr, metric, what in (
        ("remaining_requests", "crosswire_key_remaining_requests", "requests"),
        ("remaining_tokens", "crosswire_key_remaining_tokens", "tokens"),
    ):
        known = [
            (s, lab) for s, lab in zip(states, labels, strict=True) if getattr(s, attr) is not None
        ]
        if known:
            family(metric, "gauge", f"What the provider's headers say is left ({what})")
            lines.extend(f"{metric}{{{lab}}} {getattr(s, attr):.0f}" for s, lab in known)
    metric = "crosswire_key_request_duration_seconds"
    family(metric, "histogram", "Lease to release: a streamed answer's whole length")
    for s, lab in zip(states, labels, strict=True):
        for bound, count in zip(LATENCY_BUCKETS, s.latency_buckets, strict=True):
            lines.append(f'{metric}_bucket{{{lab},le="{bound}"}} {count}')
        lines.append(f'{metric}_bucket{{{lab},le="+Inf"}} {s.latency_count}')
        lines.append(f"{metric}_sum{{{lab}}} {_num(s.latency_sum)}")
        lines.append(f"{metric}_count{{{lab}}} {s.latency_count}")
    for metric, help_text, attr in ROUTE_SERIES:
        family(metric, "counter", help_text)
        lines.extend(
            f'{metric}{{route="{_esc(r.route)}",backend="{_esc(r.backend)}"}} {getattr(r, attr)}'
            for r in routes
        )
    return "\n".join(lines) + "\n"
