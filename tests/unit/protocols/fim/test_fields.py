"""FIM fields (mistralai 3.7 ``FIMCompletionRequest``, openai 3.54 completions): decoded, sent
only to the server that knows them (checked key by key against the SDK TypedDicts), and
answers/errors in the Mistral SDK's own shapes."""

from __future__ import annotations

import json

from mistralai.client.models import CompletionChunk, fimcompletionrequest
from openai.types import completion_create_params

from crosswire import ir
from crosswire.protocols import codec
from crosswire.protocols.base import ClientCall, Target
from tests.unit.protocols.openai_chat.strict_typeddict import assert_fits
from tests.unit.protocols.openai_chat.support import data_lines

F, COMP = codec("fim"), codec("openai-completions")
MISTRAL = ClientCall(protocol="fim", endpoint="generate", variant="fim", dialect="mistral")
BODY = {
    "model": "codestral-latest",
    "prompt": "def f(",
    "suffix": "return x",
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 64,
    "min_tokens": 1,
    "stop": ["\n\n"],
    "random_seed": 3,
    "metadata": {"k": "v"},
    "prompt_cache_key": "file-1",
}


def _request() -> ir.Request:
    report = ir.Report()
    request = F.decode_request(MISTRAL, json.dumps(BODY).encode(), report)
    assert not report.notes
    return request


def test_every_codestral_field_reaches_codestral_unchanged() -> None:
    report = ir.Report()
    up = F.encode_request(_request(), Target(protocol="fim", model="codestral-latest"), report)
    body = json.loads(up.body)
    assert body == BODY and not report.notes
    assert_fits(body, fimcompletionrequest.FIMCompletionRequestTypedDict)


def test_codestral_only_fields_are_dropped_for_completions_backends() -> None:
    request = _request()
    report = ir.Report()
    target = Target(protocol="openai-completions", model="coder")
    body = json.loads(COMP.encode_request(request, target, report).body)
    assert body["seed"] == 3 and body["suffix"] == "return x"
    assert "min_tokens" in report.dropped_fields
    assert_fits(body, completion_create_params.CompletionCreateParamsNonStreaming)
    # the completions codec's own unknown fields never reach the server either
    own = COMP.decode_request(
        ClientCall(protocol="openai-completions", endpoint="generate"),
        json.dumps({"model": "m", "prompt": "a", "echo": False, "x": 1}).encode(),
        ir.Report(),
    )
    report = ir.Report()
    body = json.loads(COMP.encode_request(own, target, report).body)
    assert body["echo"] is False and "x" not in body and "x" in report.dropped_fields


def test_fim_stream_chunks_validate_with_the_mistral_sdk() -> None:
    encoder = F.stream_encoder(MISTRAL, _request(), ir.Report())
    events: list[ir.Event] = [
        ir.ResponseStart(id="r", model="codestral-latest"),
        ir.PartStart(index=0, part=ir.Text(text="")),
        ir.PartDelta(index=0, kind="text", text="x):"),
        ir.PartEnd(index=0),
        ir.StreamFinish(finish=ir.Finish(reason="stop"), usage=ir.Usage(input_tokens=3)),
    ]
    payloads = data_lines(b"".join(encoder.encode(e) for e in events))
    assert payloads[-1] == "[DONE]"
    chunks = [CompletionChunk.model_validate_json(p) for p in payloads[:-1]]
    assert "".join(str(c.choices[0].delta.content or "") for c in chunks) == "x):"


def test_errors_are_mistral_shaped_for_the_mistral_sdk() -> None:
    error = ir.Error(kind="rate_limit", message="Rate limit exceeded", status=429)
    assert json.loads(F.encode_error(MISTRAL, error).body)["type"] == "rate_limited"
    assert "error" in json.loads(F.encode_error(None, error).body)
    encoder = F.stream_encoder(MISTRAL, _request(), ir.Report())
    out = encoder.encode(ir.StreamError(error=error))
    assert json.loads(data_lines(out)[0])["object"] == "error"
