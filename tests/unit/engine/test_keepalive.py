"""Keep-alives on silent streams, driven through mitmproxy's own ``HttpStream`` (patched by
``layer_patch``) event by event: when a wakeup sends bytes, when it only re-arms, when it lapses.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import connection, options
from mitmproxy.proxy import commands, context, events
from mitmproxy.proxy.layers import http as layer_http
from mitmproxy.proxy.layers.http._events import ResponseData
from mitmproxy.test import tflow

from crosswire.engine import layer_patch

KA = b": keep-alive\n\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("crosswire.engine.layer_patch._clock", c)
    return c


def new_stream(upstream_out: list[bytes | list[bytes]], *, register: bool = True) -> Any:
    """An ``HttpStream`` whose response has just been handed a stream callable."""
    assert layer_patch.install()
    client = connection.Client(
        peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080), timestamp_start=0
    )
    opts = options.Options()
    opts.add_option("store_streamed_bodies", bool, False, "a proxyserver option the layer reads")
    ctx = context.Context(client, opts)
    stream = layer_http.HttpStream(ctx, 1)
    flow = tflow.tflow(resp=True)
    answers = iter(upstream_out)
    assert flow.response is not None
    flow.response.stream = lambda data: next(answers)
    stream.flow = flow
    if register:
        layer_patch.keepalive(flow, KA, 5.0)
    return stream


def run(gen: Iterator[Any]) -> list[Any]:
    return list(gen)


def wakeups(cmds: list[Any]) -> list[Any]:
    return [c for c in cmds if isinstance(c, commands.RequestWakeup)]


def sent(cmds: list[Any]) -> list[bytes]:
    return [
        c.event.data
        for c in cmds
        if isinstance(c, layer_http.SendHttp) and isinstance(c.event, ResponseData)
    ]


def start(stream: Any) -> Any:
    """Start the response stream; the armed wakeup."""
    armed = wakeups(run(stream.start_response_stream()))
    assert len(armed) == 1
    return armed[0]


def wake(stream: Any, cmd: Any) -> list[Any]:
    return run(stream.handle_event(events.Wakeup(cmd)))


def data(stream: Any, chunk: bytes) -> list[Any]:
    return run(stream.handle_event(ResponseData(1, chunk)))


def test_idle_stream_gets_a_keepalive_and_is_rearmed(clock: Clock) -> None:
    stream = new_stream([])
    armed = start(stream)
    assert armed.delay == 5.0
    clock.now += 5.0
    cmds = wake(stream, armed)
    assert sent(cmds) == [KA]
    (again,) = wakeups(cmds)
    assert again.delay == 5.0
    assert layer_patch.keepalives_sent(stream.flow) == 1


def test_recent_bytes_only_rearm_for_the_rest_of_the_interval(clock: Clock) -> None:
    stream = new_stream([b"data: {}\n\n"])
    armed = start(stream)
    clock.now += 3.0
    assert sent(data(stream, b"upstream")) == [b"data: {}\n\n"]
    clock.now += 2.0  # 5 s after the start, 2 s after the last byte
    cmds = wake(stream, armed)
    assert sent(cmds) == []
    assert wakeups(cmds)[0].delay == pytest.approx(3.0)


def test_no_keepalive_inside_a_half_sent_event(clock: Clock) -> None:
    stream = new_stream([b'data: {"a":', [b"1}\n", b"\n"]])
    armed = start(stream)
    data(stream, b"x")
    clock.now += 6.0
    cmds = wake(stream, armed)
    assert sent(cmds) == []  # the app is mid-event
    (again,) = wakeups(cmds)
    data(stream, b"y")  # the event completes, split over two chunks
    clock.now += 6.0
    assert sent(wake(stream, again)) == [KA]


def test_crlf_event_ends_count_as_boundaries(clock: Clock) -> None:
    stream = new_stream([b"data: {}\r\n\r\n"])
    armed = start(stream)
    data(stream, b"x")
    clock.now += 5.0
    assert sent(wake(stream, armed)) == [KA]


def test_wakeup_after_the_stream_ended_lapses(clock: Clock) -> None:
    stream = new_stream([b"data: [DONE]\n\n", b""])
    armed = start(stream)
    data(stream, b"x")
    stream.flow.response.stream(b"")  # the end of the upstream body
    clock.now += 10.0
    assert wake(stream, armed) == []


def test_wakeup_on_an_errored_stream_lapses(clock: Clock) -> None:
    stream = new_stream([])
    armed = start(stream)
    stream.server_state = stream.state_errored
    clock.now += 10.0
    assert wake(stream, armed) == []


def test_unregistered_flows_arm_nothing() -> None:
    stream = new_stream([], register=False)
    assert wakeups(run(stream.start_response_stream())) == []


def test_zero_interval_or_no_bytes_registers_nothing() -> None:
    flow = tflow.tflow(resp=True)
    layer_patch.keepalive(flow, KA, 0)
    layer_patch.keepalive(flow, b"", 5.0)
    assert flow not in layer_patch._KEEPALIVE


def test_other_events_still_reach_mitmproxy() -> None:
    stream = new_stream([b"out"])
    start(stream)
    assert sent(data(stream, b"in")) == [b"out"]


def test_a_layer_of_another_shape_is_not_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layer_patch, "_keepalive_installed", False)

    class Stream:
        def _handle_event(self, event: Any) -> None: ...

    fake = SimpleNamespace(HttpStream=Stream, HttpLayer=layer_http.HttpLayer)
    assert layer_patch._install_keepalive(fake) is False
    assert "start_response_stream" not in Stream.__dict__
    flow = tflow.tflow(resp=True)
    layer_patch.keepalive(flow, KA, 5.0)
    assert flow not in layer_patch._KEEPALIVE
