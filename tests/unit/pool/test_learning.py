"""What answers teach about their key: rate-limit headers refuse a key before the provider
would; a 429 is a short rate limit or an exhausted quota, each cooled for as long as it lasts;
5xx and connection failures cool briefly; 401/403 disable. Real recorded headers and bodies
from tests/fixtures where they exist."""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest

from crosswire.pool import KeyState, Lease, NoKey, Outcome, Pool, buckets, limits

from .conftest import StoreFactory
from .helpers import Clock, key, make_pool, recorded, take

OPENAI_INSUFFICIENT_QUOTA = (
    b'{"error":{"message":"You exceeded your current quota, please check your plan and billing'
    b' details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'
)
OPENAI_RATE_LIMITED = (
    b'{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per'
    b' day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s.","type":'
    b'"requests","param":null,"code":"rate_limit_exceeded"}}'
)
ANTHROPIC_RATE_LIMITED = (
    b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens'
    b' has exceeded your per-minute rate limit"}}'
)
ANTHROPIC_OVERLOADED = (
    b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
)
ANTHROPIC_NO_CREDIT = (
    b'{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is'
    b" too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase"
    b' credits."}}'
)


async def state_of(pool: Pool, name: str = "a") -> KeyState:
    return {s.name: s for s in await pool.snapshot()}[name]


async def answer(
    pool: Pool,
    status: int | None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    name: str = "a",
) -> Lease:
    others = {k.name for k in pool.backends["b"].keys} - {name}
    lease = await take(pool, exclude=others)
    await pool.release(lease, Outcome(status=status, headers=headers or {}, body=body))
    return lease


def cooled_for(state: KeyState, now: float) -> float:
    assert state.cooling_until is not None, state
    return state.cooling_until - now


# ---- learnt limits: refused before the provider refuses ------------------------------------


async def test_no_requests_left_refuses_the_key_until_one_has_refilled(
    stores: StoreFactory,
) -> None:
    """OpenAI's reset is the time until the bucket is full: 60 rpm, 0 left, full in 60 s —
    one request is back after 1 s, not after the full minute."""
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    await answer(pool, 200, headers)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(1.0, abs=0.01)
    assert "provider requests limit: 0 left" in refused.reason
    state = await state_of(pool)
    assert cooled_for(state, clock.now) == pytest.approx(1.0, abs=0.01)
    assert state.cooldown_reason == "provider requests limit reached"
    clock.now += 1.01
    await take(pool)


async def test_concurrent_requests_draw_from_the_learnt_budget(stores: StoreFactory) -> None:
    """Two requests left: the third is refused at once rather than sent to a certain 429."""
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(
        pool,
        200,
        {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "2",
            "x-ratelimit-reset-requests": "58.8s",
        },
    )
    await take(pool)
    await take(pool)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey)
    assert refused.retry_after == pytest.approx(0.6, abs=0.01)  # 98 per 58.8 s → 1 per 0.6 s


async def test_a_learnt_token_budget_refuses_only_requests_that_would_not_fit(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    headers = {
        "x-ratelimit-limit-tokens": "160000",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-tokens": "59.625s",  # refills 2666.7 tokens/s
    }
    await answer(pool, 200, headers)
    refused = await pool.acquire("b", est_tokens=5000)
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(1.5, abs=0.01)
    assert "provider tokens limit: 1000 left" in refused.reason
    lease = await take(pool, est_tokens=900)
    assert lease.key_name == "a"
    [state] = await pool.snapshot()
    assert state.remaining_tokens == pytest.approx(100, abs=1)


async def test_the_doc_example_headers_leave_the_key_usable(stores: StoreFactory) -> None:
    """x-ratelimit-remaining-requests 4999 of 5000, reset 12ms: plenty left."""
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(
        pool,
        200,
        {
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-limit-tokens": "160000",
            "x-ratelimit-remaining-tokens": "159976",
            "x-ratelimit-reset-tokens": "9ms",
        },
    )
    state = await state_of(pool)
    assert state.cooling_until is None and state.remaining_requests == 4999
    await take(pool, est_tokens=20_000)
    assert (await state_of(pool)).remaining_requests == 4998
    clock.now += 0.025  # 2 requests refill in 24 ms
    assert (await state_of(pool)).remaining_requests is None, "full again: nothing to track"


async def test_recorded_anthropic_headers_and_an_empty_requests_bucket(
    stores: StoreFactory,
) -> None:
    """The recorded headers (plenty left, resets already passed) leave the key alone; with
    the requests bucket empty and 60 s to full, one request is back after 60/20000 s."""
    rec = recorded("anthropic/stream_text_basic.json")
    headers = rec["headers"]
    date = parsedate_to_datetime(headers["date"]).timestamp()
    clock = Clock(date)
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 200, headers)
    state = await state_of(pool)
    assert state.cooling_until is None and not state.disabled
    empty = dict(headers)
    empty["anthropic-ratelimit-requests-remaining"] = "0"
    empty["anthropic-ratelimit-requests-reset"] = (
        datetime.fromtimestamp(date + 60).astimezone().isoformat()
    )
    await answer(pool, 200, empty)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(0.003, abs=1e-4)
    clock.now += 0.0031
    await take(pool)


async def test_recorded_mistral_minute_window_headers(stores: StoreFactory) -> None:
    rec = recorded("mistral/chat_nonstream_json_schema.json")
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 200, rec["headers"])
    assert (await state_of(pool)).remaining_requests == 90
    spent = dict(rec["headers"], **{"x-ratelimit-remaining-req-minute": "0"})
    await answer(pool, 200, spent)
    refused = await pool.acquire("b")
    assert isinstance(refused, NoKey) and refused.retry_after == pytest.approx(0.6, abs=0.01)


async def test_a_spent_monthly_token_quota_cools_the_key_as_quota(stores: StoreFactory) -> None:
    rec = recorded("mistral/chat_nonstream_text_mistral_tiny.json")
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    spent = dict(rec["headers"], **{"x-ratelimit-remaining-tokens-month": "0"})
    await answer(pool, 200, spent)
    state = await state_of(pool)
    assert cooled_for(state, clock.now) >= 3600
    assert state.cooldown_reason == "quota exhausted: monthly tokens 0 left"


# ---- 429: rate limit or exhausted quota -----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "HTTP-DATE+30"}, 30.0),
    ],
)
async def test_429_cools_for_retry_after_and_the_other_keys_serve(
    stores: StoreFactory, headers: dict[str, str], expected: float
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), key("b"), clock=clock)
    if headers.get("retry-after", "").startswith("HTTP-DATE"):
        headers = {
            "retry-after": format_datetime(
                datetime.fromtimestamp(clock.now + 30).astimezone(), usegmt=False
            )
        }
    await answer(pool, 429, headers, ANTHROPIC_RATE_LIMITED)
    state = await state_of(pool)
    assert expected <= cooled_for(state, clock.now) <= expected * 1.1 + 0.05, "plus jitter"
    assert state.cooldown_reason == (
        "429 rate_limit_error: Number of request tokens has exceeded your per-minute rate limit"
    )
    for _ in range(3):
        assert (await take(pool)).key_name == "b"
    clock.now += expected * 1.1 + 0.06
    assert {(await take(pool)).key_name for _ in range(2)} == {"a", "b"}, "back on its own"


async def test_429_without_a_hint_backs_off_doubling_per_consecutive_429(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    for base in (1, 2, 4, 8):
        await answer(pool, 429, {}, b"{}")
        waited = cooled_for(await state_of(pool), clock.now)
        assert base <= waited <= base * 1.25, (base, waited)
        clock.now += waited + 0.01
    await answer(pool, 200)
    await answer(pool, 429, {}, b"{}")
    assert 1 <= cooled_for(await state_of(pool), clock.now) <= 1.25, "a success resets it"


async def test_openai_try_again_hint_in_the_body_is_used(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 429, {}, OPENAI_RATE_LIMITED)
    state = await state_of(pool)
    assert 432 <= cooled_for(state, clock.now) <= 432 + 30
    assert "quota" not in (state.cooldown_reason or "")
    assert (state.cooldown_reason or "").startswith("429 rate_limit_exceeded: Rate limit reached")


async def test_gemini_per_minute_429_is_a_rate_limit_not_an_exhausted_quota(
    stores: StoreFactory,
) -> None:
    """The recorded Gemini 429 says "You exceeded your current quota … billing" for a
    per-minute token quota: its QuotaFailure quotaId (…PerMinute) and RetryInfo (48s) decide."""
    rec = recorded("gemini/error_429_resource_exhausted.json")
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 429, rec["headers"], rec["body"])
    state = await state_of(pool)
    assert 48 <= cooled_for(state, clock.now) <= 48 * 1.1 + 0.05
    assert (state.cooldown_reason or "").startswith("429 RESOURCE_EXHAUSTED: You exceeded")
    assert "quota exhausted" not in (state.cooldown_reason or "")


async def test_gemini_per_day_quota_cools_until_midnight_pacific(stores: StoreFactory) -> None:
    rec = recorded("gemini/error_429_resource_exhausted.json")
    data = json.loads(rec["body"])
    violation = data["error"]["details"][1]["violations"][0]
    violation["quotaId"] = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 429, {}, json.dumps(data).encode())
    state = await state_of(pool)
    local = datetime.fromtimestamp(clock.now, ZoneInfo("America/Los_Angeles"))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    assert state.cooling_until is not None
    assert midnight <= state.cooling_until <= midnight + 30
    assert (state.cooldown_reason or "").startswith("quota exhausted: 429 RESOURCE_EXHAUSTED")


async def test_openai_insufficient_quota_cools_an_hour_and_says_so(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 429, {}, OPENAI_INSUFFICIENT_QUOTA)
    state = await state_of(pool)
    assert 3600 <= cooled_for(state, clock.now) <= 3630
    assert state.cooldown_reason == (
        "quota exhausted: 429 insufficient_quota: You exceeded your current quota, please"
        " check your plan and billing details."
    )


async def test_anthropic_spent_credit_balance_cools_as_quota_not_disabled(
    stores: StoreFactory,
) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    await answer(pool, 400, {}, ANTHROPIC_NO_CREDIT)
    state = await state_of(pool)
    assert not state.disabled and cooled_for(state, clock.now) >= 3600
    assert (state.cooldown_reason or "").startswith("quota exhausted: 400 invalid_request_error")


async def test_anthropic_usage_limit_cools_until_the_date_it_names(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    body = (
        b'{"type":"error","error":{"type":"invalid_request_error","message":"You have reached'
        b" your specified API usage limits. You will regain access on 2026-06-01 at 00:00 UTC."
        b'"}}'
    )
    await answer(pool, 400, {}, body)
    at = datetime.fromisoformat("2026-06-01T00:00:00+00:00").timestamp()
    state = await state_of(pool)
    assert state.cooling_until is not None and at <= state.cooling_until <= at + 30


# ---- transient failures and client errors ---------------------------------------------------


async def test_overloaded_and_5xx_and_no_answer_cool_briefly(stores: StoreFactory) -> None:
    clock = Clock()
    pool = make_pool(stores(), key("a"), clock=clock)
    expected = [(529, ANTHROPIC_OVERLOADED, 1.0), (500, b"oops", 2.0), (None, None, 4.0)]
    for status, body, base in expected:
        await answer(pool, status, {}, body)
        state = await state_of(pool)
        assert base <= cooled_for(state, clock.now) <= base * 1.25
        clock.now += cooled_for(state, clock.now) + 0.01
    assert state.cooldown_reason == "no answer (connection failed or timed out)"
    for _ in range(3):
        await answer(pool, 502, {}, b"")
        clock.now += 10
    await answer(pool, 503, {}, b"")
    assert cooled_for(await state_of(pool), clock.now) <= 5 * 1.25, "capped: a few seconds"
    clock.now += 10
    await answer(pool, 503, {"retry-after": "3"}, b"")
    assert 3 <= cooled_for(await state_of(pool), clock.now) <= 3.4


async def test_a_client_error_neither_cools_nor_disables_the_key(stores: StoreFactory) -> None:
    rec = recorded("openai_responses/error_400_context_length_exceeded.json")
    pool = make_pool(stores(), key("a"))
    await answer(pool, rec["status"], rec["headers"], rec["body"])
    state = await state_of(pool)
    assert state.cooling_until is None and not state.disabled
    assert state.errors == 1 and state.last_status == 400
    await take(pool)


# ---- 401/403 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("anthropic/error_401_authentication.json", "401 authentication_error: invalid x-api-key"),
        (
            "gemini/error_400_api_key_invalid.json",
            "400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
        ),
        ("mistral/chat_error_401_unauthorized.json", "401: Invalid API Key"),
        (
            "openai_responses/error_401_invalid_api_key.json",
            "401 invalid_api_key: Incorrect API key provided: invalid-key. You can find your API"
            " key at https://platform.openai.com/account/api-keys.",
        ),
    ],
)
async def test_a_rejected_key_is_disabled_with_the_providers_reason(
    stores: StoreFactory, fixture: str, reason: str
) -> None:
    rec = recorded(fixture)
    pool = make_pool(stores(), key("a"), key("b"))
    await answer(pool, rec["status"], rec["headers"], rec["body"])
    state = await state_of(pool)
    assert state.disabled and state.disabled_reason == reason
    for _ in range(4):
        assert (await take(pool)).key_name == "b"


async def test_a_reason_never_carries_the_secret_even_when_the_body_echoes_it(
    stores: StoreFactory,
) -> None:
    pool = make_pool(stores(), key("a"))
    secret = pool.backends["b"].keys[0].secret
    body = json.dumps(
        {
            "error": {
                "message": f"Incorrect API key provided: {secret}. Also sk-proj-abc123def456*****xyz9.",
                "code": "invalid_api_key",
            }
        }
    ).encode()
    await answer(pool, 401, {}, body)
    refused = await pool.acquire("b")
    state = await state_of(pool)
    assert isinstance(refused, NoKey)
    for text in (state.disabled_reason or "", refused.reason):
        assert secret not in text and "sk-proj" not in text
        assert "Incorrect API key provided: <key>. Also <key>" in text


# ---- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("13s", 13.0),
        ("48.939935699s", 48.939935699),
        ("0.5", 0.5),
        ("abc", None),
        ("5x", None),
        ("", None),
    ],
)
def test_durations_of_rate_limit_headers(text: str, seconds: float | None) -> None:
    assert buckets.parse_duration(text) == (pytest.approx(seconds) if seconds else None)


def test_reset_times_in_every_format() -> None:
    now = 1_780_000_000.0
    assert buckets.parse_reset("2026-05-28T20:26:50Z", now) == 1_780_000_010.0
    assert buckets.parse_reset("Thu, 28 May 2026 20:26:50 GMT", now) == 1_780_000_010.0
    assert buckets.parse_reset("10s", now) == now + 10
    assert buckets.parse_reset("soon", now) is None


def test_an_html_error_page_gives_its_title_as_the_reason() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><hr>nginx</body></html>"
    assert limits.reason_of(502, page, "s") == "502: 502 Bad Gateway"
    assert limits.reason_of(503, b"<html><body>down</body></html>", "s") == "503"
    assert limits.reason_of(500, b"upstream connect error", "s") == "500: upstream connect error"
