"""The attempts' timeouts: one sweep for all of them, and no timer left when none is in the air."""

from __future__ import annotations

import asyncio
import time

from mitmproxy.test import tflow

from crosswire.engine.deadline import TICK, Deadlines


def connected_flow() -> tflow.HTTPFlow:
    flow = tflow.tflow()
    flow.server_conn.address = (flow.request.host, flow.request.port)
    flow.server_conn.timestamp_tcp_setup = time.time()
    return flow


def unconnected_flow() -> tflow.HTTPFlow:
    flow = tflow.tflow()
    flow.server_conn.timestamp_tcp_setup = None
    return flow


async def test_one_timer_sweeps_every_attempt_and_stops_when_none_is_left() -> None:
    deadlines = Deadlines()
    never = deadlines.start(unconnected_flow(), connect=0.01, read=5)
    up = deadlines.start(connected_flow(), connect=0.01, read=5)
    gone = deadlines.start(tflow.tflow(), connect=5, read=5)
    gone.stop()
    assert set(deadlines.active) == {never, up}
    await asyncio.sleep(0.01 + 2 * TICK)
    # The unconnected attempt is dropped; the connected one now waits for its answer.
    assert set(deadlines.active) == {up}
    assert up.phase == "headers" and up.due == up.last + 5
    up.stop()
    await asyncio.sleep(2 * TICK)
    assert not deadlines.active and deadlines._timer is None
    deadlines.close()


async def test_a_stream_chunk_moves_the_silence_not_the_timer() -> None:
    deadlines = Deadlines()
    attempt = deadlines.start(connected_flow(), connect=0.01, read=0.3)
    await asyncio.sleep(0.01 + 2 * TICK)
    watched = attempt.watch(lambda data: data)
    for _ in range(5):  # a chunk every 0.1 s: never 0.3 s of silence
        await asyncio.sleep(0.1)
        assert watched(b"x") == b"x"
    assert attempt in deadlines.active and attempt.phase == "stream"
    deadlines.close()
