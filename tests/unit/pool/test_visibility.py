"""What ``crosswire keys``, ``/keys`` and ``/metrics`` show: per key state and usage, usage
per route, Prometheus text — key names only, never a secret."""

from __future__ import annotations

import re

from crosswire.pool import BackendSpec, KeySpec, Lease, MemoryStore, Outcome, Pool, TokenUsage

from .conftest import StoreFactory
from .helpers import Clock, key, make_pool, take


async def test_snapshot_counts_usage_latency_and_budgets_per_key(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a", rpm=10, tpm=5000, max_concurrency=3), clock=clock)
    first = await take(pool, est_tokens=100)
    held = await take(pool, est_tokens=100)
    clock.now += 0.7
    usage = TokenUsage(input=120, output=30, cached=100)
    await pool.release(first, Outcome(status=200, usage=usage, route="chat"))
    failed = await take(pool)
    clock.now += 7
    await pool.release(failed, Outcome(status=500, body=b"boom"))
    [state] = await pool.snapshot()
    assert (state.requests, state.errors, state.last_status) == (2, 1, 500)
    assert (state.input_tokens, state.output_tokens, state.cached_tokens) == (120, 30, 100)
    assert (state.in_flight, state.max_concurrency) == (1, 3)
    assert (state.rpm_used, state.rpm_limit) == (3, 10)
    assert (state.tpm_used, state.tpm_limit) == (250, 5000)  # 150 real + 100 held + 0 failed
    assert state.latency_count == 2 and abs(state.latency_sum - 7.7) < 1e-6
    assert state.latency_buckets[:5] == [0, 1, 1, 1, 2]  # cumulative: ≤1 s, ≤10 s
    assert held.key_name == "a"


async def test_usage_is_counted_per_route_and_backend(stores: StoreFactory) -> None:
    pool = Pool(stores(), clock=Clock())
    pool.configure(
        [
            BackendSpec(name="main", keys=(key("a"),), max_wait=0),
            BackendSpec(name="spare", keys=(key("z"),), max_wait=0),
        ]
    )
    for backend, route, status in (
        ("main", "chat", 200),
        ("spare", "chat", 200),
        ("main", "embed", 200),
        ("main", "chat", 429),
    ):
        lease = await pool.acquire(backend)
        assert isinstance(lease, Lease), lease
        usage = TokenUsage(input=10, output=5, cached=1)
        await pool.release(lease, Outcome(status=status, usage=usage, route=route))
    rows = [
        (r.route, r.backend, r.requests, r.errors, r.input_tokens, r.output_tokens, r.cached_tokens)
        for r in await pool.route_usage()
    ]
    assert rows == [
        ("chat", "main", 2, 1, 20, 10, 2),
        ("chat", "spare", 1, 0, 10, 5, 1),
        ("embed", "main", 1, 0, 10, 5, 1),
    ]


async def test_prometheus_text_has_names_and_figures_never_secrets(stores: StoreFactory) -> None:
    clock = Clock()
    odd = KeySpec(name='team "a"', secret="sk-live-SECRET-0123456789abcdef")
    pool = make_pool(stores(), odd, key("b"), clock=clock)
    lease = await take(pool, exclude={"b"})
    clock.now += 1.5
    headers = {"x-ratelimit-remaining-requests": "7", "x-ratelimit-reset-requests": "1s"}
    await pool.release(
        lease,
        Outcome(status=200, headers=headers, usage=TokenUsage(10, 5, 2), route="route 1"),
    )
    other = await take(pool, exclude={odd.name})
    await pool.release(other, Outcome(status=401, body=b'{"error":{"message":"no"}}'))
    states = await pool.snapshot()
    text = pool.prometheus(states, await pool.route_usage())
    label = 'backend="b",key="team \\"a\\""'
    assert f"crosswire_key_requests_total{{{label}}} 1" in text
    assert f"crosswire_key_cached_tokens_total{{{label}}} 2" in text
    assert f"crosswire_key_remaining_requests{{{label}}} 7" in text
    assert 'crosswire_key_disabled{backend="b",key="b"} 1' in text
    assert f'crosswire_key_request_duration_seconds_bucket{{{label},le="1.0"}} 0' in text
    assert f'crosswire_key_request_duration_seconds_bucket{{{label},le="2.5"}} 1' in text
    assert f"crosswire_key_request_duration_seconds_sum{{{label}}} 1.5" in text
    assert 'crosswire_route_requests_total{route="route 1",backend="b"} 1' in text
    sample = re.compile(r"^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$|^# (HELP|TYPE) [a-z_]+ .+$")
    assert all(sample.match(line) for line in text.splitlines()), "exposition format"
    for secret in (odd.secret, pool.backends["b"].keys[1].secret):
        assert secret not in text + repr(states) + repr(lease) + repr(pool.backends)


async def test_a_lease_and_a_key_spec_never_show_their_secret() -> None:
    spec = key("a")
    pool = make_pool(MemoryStore(), spec)
    lease = await take(pool)
    assert lease.secret == spec.secret
    assert spec.secret not in repr(lease) + repr(spec) + str(lease)
