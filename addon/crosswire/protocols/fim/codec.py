"""Codestral FIM (``/v1/fim/completions``) and OpenAI-style ``/v1/completions`` with ``suffix``.

Both carry a fill-in-the-middle prompt (prefix + suffix) instead of messages. FIM answers look
like chat completions (``choices[].message.content`` / ``delta.content``); completions answers
like ``text_completion`` objects (``choices[].text``). A chat request (messages, no prompt)
routed to one of these backends cannot be served: it gets a 400 in the app's shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from crosswire import ir
from crosswire.ir.errors import ClientRequestError, UnsupportedFeature, UpstreamProtocolError
from crosswire.protocols import openai_errors, usage_scan
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ProtocolName,
    Target,
    UpstreamCall,
    Wire,
)
from crosswire.protocols.common import (
    as_list,
    dumps,
    expect,
    loads_client,
    loads_upstream,
    optional,
)
from crosswire.streams import SSEEventDecoder

_FINISH_IN: dict[str, ir.FinishReason] = {
    "stop": "stop",
    "length": "length",
    "model_length": "length",
    "eos": "stop",
    "error": "error",
}
_FINISH_OUT: dict[str, str] = {
    "length": "length",
    "pause": "length",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}
_MODELLED = {
    "model",
    "prompt",
    "suffix",
    "max_tokens",
    "min_tokens",
    "stop",
    "temperature",
    "top_p",
    "random_seed",
    "seed",
    "stream",
    "stream_options",
    "n",
}


def _usage_in(raw: Any) -> ir.Usage:
    if not isinstance(raw, dict):
        return ir.Usage()
    p, c = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return ir.Usage(
        input_tokens=p if isinstance(p, int) else None,
        output_tokens=c if isinstance(c, int) else None,
    )


def _usage_out(u: ir.Usage) -> dict[str, int]:
    i, o = u.input_tokens or 0, u.output_tokens or 0
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}


class _FimFamily(Codec):
    """Shared by both wire shapes; subclasses say how an answer's text is carried."""

    path: ClassVar[str]
    chat_shaped: ClassVar[bool]
    wire = Wire(
        stream_terminators=(b"[DONE]",),
        max_tokens_keys=("max_tokens",),
        sdk_base_prefix="/v1",
        probe_path="/models",
        scan_usage=usage_scan.json_objects(("usage",), _usage_in),
    )

    # ---- client side -------------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        data = loads_client(body)
        prompt = data.get("prompt")
        if isinstance(prompt, list):
            if len(prompt) == 1 and isinstance(prompt[0], str):
                prompt = prompt[0]
            else:
                raise UnsupportedFeature(
                    "'prompt' must be one string (token arrays and batches are not supported)",
                    param="prompt",
                )
        prompt = expect(prompt, str, "prompt")
        stop = data.get("stop")
        stops = (
            (stop,)
            if isinstance(stop, str)
            else tuple(expect(s, str, "stop[]") for s in stop)
            if isinstance(stop, list)
            else None
        )
        seed = optional(data, "random_seed", int)
        temperature, top_p = (
            optional(data, "temperature", (int, float)),
            optional(data, "top_p", (int, float)),
        )
        opts = optional(data, "stream_options", dict) or {}
        native = {k: v for k, v in data.items() if k not in _MODELLED}
        return ir.Request(
            model=optional(data, "model", str) or "",
            fim=ir.FimPrompt(prefix=prompt, suffix=optional(data, "suffix", str)),
            params=ir.Params(
                max_tokens=optional(data, "max_tokens", int),
                min_tokens=optional(data, "min_tokens", int),
                temperature=None if temperature is None else float(temperature),
                top_p=None if top_p is None else float(top_p),
                stop=stops,
                seed=seed if seed is not None else optional(data, "seed", int),
                n=optional(data, "n", int),
            ),
            stream=bool(optional(data, "stream", bool)),
            include_usage=opts.get("include_usage")
            if isinstance(opts.get("include_usage"), bool)
            else None,
            native={self.name: native} if native else {},
        )

    def encode_response(
        self, call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
    ) -> bytes:
        text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
        finish = _FINISH_OUT.get(response.finish.reason, "stop")
        if self.chat_shaped:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": None},
                "finish_reason": finish,
            }
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return dumps(
            {
                "id": response.id or "cmpl-crosswire",
                "object": obj,
                "created": response.created or int(time.time()),
                "model": response.model or request.model,
                "choices": [choice],
                "usage": _usage_out(response.usage),
            }
        )

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> FimStreamEncoder:
        return FimStreamEncoder(request, self.chat_shaped)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return openai_errors.encode(error)

    # ---- backend side ------------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        if request.fim is None:
            raise UnsupportedFeature(
                "this backend only completes code (fill-in-the-middle); route chat requests "
                "to a chat backend",
                param="messages",
            )
        p = request.params
        body: dict[str, Any] = {
            "model": target.model or request.model,
            "prompt": request.fim.prefix,
        }
        if request.fim.suffix is not None:
            body["suffix"] = request.fim.suffix
        max_tokens = p.max_tokens
        if (
            max_tokens is not None
            and target.max_output_tokens is not None
            and max_tokens > target.max_output_tokens
        ):
            report.clamped(
                "max_tokens", f"{max_tokens} → {target.max_output_tokens} (backend limit)"
            )
            max_tokens = target.max_output_tokens
        for key, value in (
            ("max_tokens", max_tokens),
            ("temperature", p.temperature),
            ("top_p", p.top_p),
        ):
            if value is not None:
                body[key] = value
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["random_seed" if self.chat_shaped else "seed"] = p.seed
        if p.min_tokens is not None:
            if self.chat_shaped:
                body["min_tokens"] = p.min_tokens
            else:
                report.dropped("min_tokens", "OpenAI-style completions have no minimum length")
        if request.stream:
            body["stream"] = True
            if not self.chat_shaped:
                body["stream_options"] = {"include_usage": True}
        for key, value in (request.native.get(self.name) or {}).items():
            body.setdefault(key, value)
        return UpstreamCall(
            path=self.path,
            body=dumps(body),
            stream=request.stream,
            headers={"content-type": "application/json"},
        )

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        data = loads_upstream(body)
        if not isinstance(data, dict):
            raise UpstreamProtocolError("completion is not a JSON object")
        choices = as_list(data.get("choices"))
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        text = _choice_text(choice)
        raw = choice.get("finish_reason")
        return ir.Response(
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            parts=(ir.Text(text=text),) if text else (),
            finish=ir.Finish(
                reason=_FINISH_IN.get(str(raw), "stop"), raw=raw if isinstance(raw, str) else None
            ),
            usage=_usage_in(data.get("usage")),
        )

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> FimStreamDecoder:
        return FimStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        return openai_errors.decode(status, headers, body)


def _choice_text(choice: dict[str, Any]) -> str:
    for holder in (choice.get("message"), choice.get("delta")):
        if isinstance(holder, dict) and isinstance(holder.get("content"), str):
            return holder["content"]
    text = choice.get("text")
    return text if isinstance(text, str) else ""


class FimStreamDecoder(SSEEventDecoder):
    """Either wire shape: ``delta.content`` or ``text`` per chunk, ``[DONE]`` at the end."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._open = False
        self._finish: str | None = None
        self._usage = ir.Usage()

    def _eof(self, out: list[ir.Event]) -> None:
        if self._finish is not None:
            self._end(out)
        else:
            self._done = True
            out.append(
                ir.StreamError(
                    error=ir.Error.of("api_error", "upstream stream ended before [DONE]")
                )
            )

    def _frame(self, data: str, out: list[ir.Event]) -> None:
        if self._done or not data:
            return
        if data == "[DONE]":
            self._end(out)
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"invalid JSON in completion stream: {exc}") from exc
        if not isinstance(chunk, dict):
            return
        if "error" in chunk and not chunk.get("choices"):
            self._done = True
            out.append(
                ir.StreamError(error=openai_errors.decode(500, {}, json.dumps(chunk).encode()))
            )
            return
        if not self._started:
            self._started = True
            out.append(
                ir.ResponseStart(id=str(chunk.get("id") or ""), model=str(chunk.get("model") or ""))
            )
        if isinstance(chunk.get("usage"), dict):
            self._usage = self._usage.merged(_usage_in(chunk["usage"]))
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            text = _choice_text(choice)
            if text:
                if not self._open:
                    self._open = True
                    out.append(ir.PartStart(index=0, part=ir.Text(text="")))
                out.append(ir.PartDelta(index=0, kind="text", text=text))
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])

    def _end(self, out: list[ir.Event]) -> None:
        self._done = True
        if not self._started:
            out.append(ir.ResponseStart(id="", model=""))
        if self._open:
            out.append(ir.PartEnd(index=0))
        out.append(
            ir.StreamFinish(
                finish=ir.Finish(
                    reason=_FINISH_IN.get(self._finish or "stop", "stop"), raw=self._finish
                ),
                usage=self._usage,
            )
        )


class FimStreamEncoder:
    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: ir.Request, chat_shaped: bool) -> None:
        self._chat = chat_shaped
        self._model = request.model
        self._include_usage = (
            request.include_usage is not False if chat_shaped else bool(request.include_usage)
        )
        self._id = "cmpl-crosswire"
        self._usage = ir.Usage()
        self._done = False

    def _chunk(self, text: str | None, finish: str | None, usage: ir.Usage | None = None) -> bytes:
        if self._chat:
            delta: dict[str, Any] = {"content": text} if text is not None else {}
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        payload: dict[str, Any] = {
            "id": self._id,
            "object": obj,
            "created": int(time.time()),
            "model": self._model,
            "choices": [choice],
        }
        if usage is not None:
            payload["usage"] = _usage_out(usage)
        return (
            b"data: "
            + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            + b"\n\n"
        )

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.ResponseStart():
                self._id = event.id or self._id
                self._model = event.model or self._model
                return self._chunk("", None) if self._chat else b""
            case ir.PartStart():
                part = event.part
                return (
                    self._chunk(part.text, None) if isinstance(part, ir.Text) and part.text else b""
                )
            case ir.PartDelta() if event.kind == "text":
                return self._chunk(event.text, None)
            case ir.UsageUpdate():
                self._usage = self._usage.merged(event.usage)
            case ir.StreamFinish():
                self._done = True
                usage = self._usage.merged(event.usage)
                finish = _FINISH_OUT.get(event.finish.reason, "stop")
                return (
                    self._chunk(None, finish, usage if self._include_usage else None)
                    + b"data: [DONE]\n\n"
                )
            case ir.StreamError():
                self._done = True
                return b"data: " + json.dumps(openai_errors.body(event.error)).encode() + b"\n\n"
        return b""

    def close(self) -> bytes:
        return b""


class FimCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "fim"
    path = "/fim/completions"
    chat_shaped = True


class CompletionsCodec(_FimFamily):
    name: ClassVar[ProtocolName] = "openai-completions"
    path = "/completions"
    chat_shaped = False


_ = ClientRequestError
