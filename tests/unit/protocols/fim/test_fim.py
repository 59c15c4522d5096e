"""Codestral FIM, OpenAI-style completions, and FIM over chat models (edge 95)."""

from __future__ import annotations

import json
from pathlib import Path

from mistralai.client.models import FIMCompletionResponse

from crosswire import ir
from crosswire.pipeline.fim_bridge import FimAnswerCleaner, clean_middle, fim_to_chat
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.streamsplit import feed_all

FIX = (
    Path(__file__).resolve().parents[3]
    / "fixtures"
    / "mistral"
    / "fim_nonstream_codestral2501.json"
)
F, COMP = codec("fim"), codec("openai-completions")
CALL = ClientCall(protocol="fim", endpoint="generate", variant="fim")


def test_recorded_codestral_answer_round_trips_through_the_sdk_model() -> None:
    rec = json.loads(FIX.read_text())
    req = F.decode_request(CALL, json.dumps(rec["request"]["body"]).encode(), ir.Report())
    assert req.fim == ir.FimPrompt(prefix=rec["request"]["body"]["prompt"], suffix="golang")
    resp = F.decode_response(rec["response"]["body"].encode(), ir.Report())
    FIMCompletionResponse.model_validate_json(F.encode_response(CALL, req, resp, ir.Report()))


def test_completions_backend_gets_prompt_and_suffix_and_streams_decode() -> None:
    req = ir.Request(
        model="m",
        fim=ir.FimPrompt(prefix="a", suffix="b"),
        stream=True,
        params=ir.Params(stop=("\n",)),
    )
    up = COMP.encode_request(req, Target(protocol="openai-completions", model="coder"), ir.Report())
    assert up.path == "/completions" and json.loads(up.body)["suffix"] == "b"
    body = (
        b'data: {"id":"c","choices":[{"text":"x","index":0,"finish_reason":null}]}\n\n'
        b'data: {"id":"c","choices":[{"text":"y","index":0,"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    r = ir.accumulate(feed_all(lambda: COMP.stream_decoder(req, ir.Report()), [body]))
    assert r.parts == (ir.Text(text="xy"),)


def test_chat_requests_to_a_fim_backend_are_refused() -> None:
    req = ir.Request(model="m", messages=(ir.Message(role="user", parts=(ir.Text(text="hi"),)),))
    try:
        F.encode_request(req, Target(protocol="fim", model="m"), ir.Report())
    except ir.UnsupportedFeature as exc:
        assert "only completes code" in str(exc)
    else:
        raise AssertionError("expected UnsupportedFeature")


def test_chat_bridge_prompt_and_cleaner() -> None:
    req = ir.Request(
        model="m", fim=ir.FimPrompt(prefix="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))")
    )
    chat = fim_to_chat(req, ir.Report())
    assert chat.fim is None and "<FILL_HERE>" in chat.messages[1].parts[0].text  # type: ignore[union-attr]
    answer = "```python\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n```"
    assert clean_middle(answer, req.fim.prefix, req.fim.suffix) == "return a + b"  # type: ignore[union-attr]
    for size in (1, 3, 7, 100):
        cleaner = FimAnswerCleaner(req.fim)  # type: ignore[arg-type]
        events: list[ir.Event] = [
            ir.ResponseStart(id="r", model="m"),
            ir.PartStart(index=0, part=ir.Text(text="")),
        ]
        events += [
            ir.PartDelta(index=0, kind="text", text=answer[i : i + size])
            for i in range(0, len(answer), size)
        ]
        events += [ir.PartEnd(index=0), ir.StreamFinish(finish=ir.Finish(reason="stop"))]
        out = [o for e in events for o in cleaner.feed(e)]
        assert ir.accumulate(out).parts == (ir.Text(text="return a + b"),)
