"""Ollama's native API: ``/api/chat`` and ``/api/generate``, NDJSON streams.

Tool calls carry no ids and their arguments are JSON *objects* both ways (edge 30); tool
results name the tool (``tool_name``); images are raw base64 lists on user messages; ``think``
asks for reasoning (returned as ``thinking``); ``format`` is ``"json"`` or a JSON schema;
``options`` hold the sampling parameters; streams default to on and end with a
``done: true`` object carrying ``done_reason`` and the token counts (edge 8).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from crosswire import ir
from crosswire.ir import ids
from crosswire.ir.errors import (
    ClientRequestError,
    UnsupportedFeature,
    UpstreamProtocolError,
    kind_for_status,
)
from crosswire.protocols import usage_scan
from crosswire.protocols.base import (
    ClientCall,
    Codec,
    EncodedError,
    ModelInfo,
    Target,
    UpstreamCall,
    Wire,
)
from crosswire.protocols.common import (
    dumps,
    expect,
    loads_client,
    loads_upstream,
    optional,
    parse_data_url,
)
from crosswire.streams import NDJSONDecoder

NAME = "ollama"
_OPTIONS = {
    "num_predict": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class OllamaCodec(Codec):
    name = "ollama"
    wire = Wire(
        stream_terminators=(b'"done":true', b'"done": true'),
        probe_path="/api/tags",
        scan_usage=usage_scan.top_level_counts(("prompt_eval_count", "eval_count")),
    )
    content_type = "application/json"

    # ---- client side -------------------------------------------------------------------------

    def decode_request(self, call: ClientCall, body: bytes, report: ir.Report) -> ir.Request:
        data = loads_client(body)
        options = optional(data, "options", dict) or {}
        stop = options.get("stop")
        params = ir.Params(
            max_tokens=_opt_int(options, "num_predict"),
            temperature=_opt_num(options, "temperature"),
            top_p=_opt_num(options, "top_p"),
            top_k=_opt_int(options, "top_k"),
            seed=_opt_int(options, "seed"),
            stop=tuple(str(s) for s in stop)
            if isinstance(stop, list)
            else (stop,)
            if isinstance(stop, str)
            else None,
        )
        think = data.get("think")
        reasoning = None
        if isinstance(think, bool):
            reasoning = ir.ReasoningConfig(enabled=think, include_thoughts=think)
        elif isinstance(think, str):
            reasoning = ir.ReasoningConfig(enabled=True, effort=think, include_thoughts=True)
        fmt = data.get("format")
        response_format = None
        if fmt == "json":
            response_format = ir.ResponseFormat(type="json_object")
        elif isinstance(fmt, dict):
            response_format = ir.ResponseFormat(type="json_schema", schema=fmt)
        rest_options = {k: v for k, v in options.items() if k not in _OPTIONS and k != "stop"}
        native: dict[str, Any] = {
            k: v for k, v in data.items() if k in ("keep_alive", "raw", "template", "context")
        }
        if rest_options:
            native["options"] = rest_options
        common = ir.Request(
            model=optional(data, "model", str) or "",
            params=params,
            reasoning=reasoning,
            response_format=response_format,
            stream=data.get("stream") is not False,
            include_usage=True,
            native={NAME: native} if native else {},
        )
        if call.variant == "generate":
            messages: tuple[ir.Message, ...] = ()
            system = optional(data, "system", str)
            if system:
                messages = (ir.Message(role="system", parts=(ir.Text(text=system),)),)
            images = optional(data, "images", list) or []
            if images:
                raise UnsupportedFeature(
                    "images on /api/generate are not converted; use /api/chat", param="images"
                )
            return dataclasses.replace(
                common,
                messages=messages,
                fim=ir.FimPrompt(
                    prefix=expect(data.get("prompt", ""), str, "prompt"),
                    suffix=optional(data, "suffix", str),
                ),
            )
        msgs: list[ir.Message] = []
        calls_seen: list[ir.ToolCall] = []
        for i, raw in enumerate(expect(data.get("messages"), list, "messages")):
            msgs.append(
                self._decode_message(
                    expect(raw, dict, f"messages[{i}]"), f"messages[{i}]", i, calls_seen
                )
            )
        tools = []
        for i, t in enumerate(optional(data, "tools", list) or []):
            fn = expect(
                expect(t, dict, f"tools[{i}]").get("function"), dict, f"tools[{i}].function"
            )
            tools.append(
                ir.Tool(
                    name=expect(fn.get("name"), str, f"tools[{i}].function.name"),
                    description=optional(fn, "description", str),
                    parameters=optional(fn, "parameters", dict),
                )
            )
        return dataclasses.replace(common, messages=tuple(msgs), tools=tuple(tools))

    def _decode_message(
        self, m: dict[str, Any], where: str, position: int, calls: list[ir.ToolCall]
    ) -> ir.Message:
        role = m.get("role")
        content = m.get("content") or ""
        content = expect(content, str, f"{where}.content")
        if role == "tool":
            name = optional(m, "tool_name", str) or optional(m, "name", str)
            match = next(
                (c for c in reversed(calls) if c.name == name), calls[-1] if calls else None
            )
            call_id = match.id if match else ids.derived_call_id(f"tool:{name}", position)
            return ir.Message(
                role="tool",
                parts=(
                    ir.ToolResult(call_id=call_id, name=name, content=(ir.Text(text=content),)),
                ),
            )
        if role not in ("system", "user", "assistant"):
            raise ClientRequestError(
                f"'{where}.role' must be system, user, assistant or tool", param=f"{where}.role"
            )
        parts: list[ir.Part] = []
        thinking = m.get("thinking")
        if isinstance(thinking, str) and thinking:
            parts.append(ir.Reasoning(text=thinking, origin=NAME))
        if content:
            parts.append(ir.Text(text=content))
        for img in optional(m, "images", list) or []:
            parts.append(
                ir.File(kind="image", data=expect(img, str, f"{where}.images[]"), media_type=None)
            )
        for j, tc in enumerate(optional(m, "tool_calls", list) or []):
            fn = expect(
                expect(tc, dict, f"{where}.tool_calls[{j}]").get("function"),
                dict,
                f"{where}.tool_calls[{j}].function",
            )
            name = expect(fn.get("name"), str, f"{where}.tool_calls[{j}].function.name")
            args = fn.get("arguments", {})
            text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            call = ir.ToolCall(
                id=ids.derived_call_id(f"{name}:{text}", position * 100 + j),
                name=name,
                arguments=text,
            )
            calls.append(call)
            parts.append(call)
        return ir.Message(role=role, parts=tuple(parts))

    def encode_response(
        self, call: ClientCall, request: ir.Request, response: ir.Response, report: ir.Report
    ) -> bytes:
        return dumps(self._answer(call, response, done=True))

    def _answer(
        self, call: ClientCall | None, response: ir.Response, *, done: bool
    ) -> dict[str, Any]:
        text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
        thinking = "".join(p.text for p in response.parts if isinstance(p, ir.Reasoning))
        calls = [p for p in response.parts if isinstance(p, ir.ToolCall)]
        out: dict[str, Any] = {"model": response.model, "created_at": _now()}
        if call is not None and call.variant == "generate":
            out["response"] = text
            if thinking:
                out["thinking"] = thinking
        else:
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                msg["thinking"] = thinking
            if calls:
                msg["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": _args_object(c.arguments)}}
                    for c in calls
                ]
            out["message"] = msg
        if done:
            out.update(_done_fields(response.finish, response.usage))
        else:
            out["done"] = False
        return out

    def stream_encoder(
        self, call: ClientCall, request: ir.Request, report: ir.Report
    ) -> OllamaStreamEncoder:
        return OllamaStreamEncoder(call, request)

    def encode_error(self, call: ClientCall | None, error: ir.Error) -> EncodedError:
        return EncodedError(
            status=error.status if error.status != 529 else 503,
            body=dumps({"error": error.message}),
        )

    def encode_models(self, call: ClientCall, models: Sequence[ModelInfo]) -> bytes:
        return dumps(
            {
                "models": [
                    {
                        "name": m.id,
                        "model": m.id,
                        "modified_at": _now(),
                        "size": 0,
                        "digest": "",
                        "details": {
                            "format": "",
                            "family": "",
                            "parameter_size": "",
                            "quantization_level": "",
                        },
                    }
                    for m in models
                ]
            }
        )

    # ---- backend side ------------------------------------------------------------------------

    def encode_request(
        self, request: ir.Request, target: Target, report: ir.Report
    ) -> UpstreamCall:
        body: dict[str, Any] = {"model": target.model or request.model}
        p = request.params
        options: dict[str, Any] = {}
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
            ("num_predict", max_tokens),
            ("temperature", p.temperature),
            ("top_p", p.top_p),
            ("top_k", p.top_k),
            ("seed", p.seed),
            ("presence_penalty", p.presence_penalty),
            ("frequency_penalty", p.frequency_penalty),
        ):
            if value is not None:
                options[key] = value
        if p.stop:
            options["stop"] = list(p.stop)
        if p.n is not None and p.n > 1:
            raise UnsupportedFeature("'n' > 1: Ollama returns one answer", param="n")
        native = dict(request.native.get(NAME) or {})
        options.update(
            {k: v for k, v in (native.pop("options", None) or {}).items() if k not in options}
        )
        if options:
            body["options"] = options
        r = request.reasoning
        if r is not None:
            body["think"] = (
                r.effort if r.effort in ("low", "medium", "high") else bool(r.enabled is not False)
            )
        fmt = request.response_format
        if fmt is not None and fmt.type != "text":
            body["format"] = (
                "json" if fmt.type == "json_object" or not fmt.schema else dict(fmt.schema)
            )
        body["stream"] = request.stream
        body.update({k: v for k, v in native.items() if k not in body})
        if request.fim is not None:
            body["prompt"] = request.fim.prefix
            if request.fim.suffix is not None:
                body["suffix"] = request.fim.suffix
            system = "\n".join(
                pt.text
                for m in request.messages
                if m.role in ("system", "developer")
                for pt in m.parts
                if isinstance(pt, ir.Text)
            )
            if system:
                body["system"] = system
            return UpstreamCall(
                path="/api/generate",
                body=dumps(body),
                stream=request.stream,
                headers={"content-type": "application/json"},
            )
        body["messages"] = self._encode_messages(request, report)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description or "",
                        "parameters": t.parameters or {"type": "object", "properties": {}},
                    },
                }
                for t in request.tools
            ]
        for nt in request.native_tools:
            report.dropped(
                f"tool {nt.data.get('type') or nt.data.get('name')}", f"a {nt.origin} server tool"
            )
        if request.tool_choice is not None and request.tool_choice.mode not in ("auto",):
            report.dropped("tool_choice", "Ollama has no tool_choice; the model decides")
        return UpstreamCall(
            path="/api/chat",
            body=dumps(body),
            stream=request.stream,
            headers={"content-type": "application/json"},
        )

    def _encode_messages(self, request: ir.Request, report: ir.Report) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for msg in request.messages:
            if msg.role == "tool":
                images: list[str] = []
                for part in msg.parts:
                    if isinstance(part, ir.ToolResult):
                        text = "".join(c.text for c in part.content if isinstance(c, ir.Text))
                        images += [_raw_image(c) for c in part.content if isinstance(c, ir.File)]
                        entry: dict[str, Any] = {
                            "role": "tool",
                            "content": f"Error: {text}" if part.is_error else text,
                        }
                        if part.name:
                            entry["tool_name"] = part.name
                        out.append(entry)
                if images:
                    out.append({"role": "user", "content": "", "images": images})
                    report.moved("tool_result images", "Ollama takes images only on user messages")
                continue
            role = "system" if msg.role == "developer" else msg.role
            entry = {
                "role": role,
                "content": "".join(p.text for p in msg.parts if isinstance(p, ir.Text)),
            }
            images = [_raw_image(p) for p in msg.parts if isinstance(p, ir.File)]
            if images:
                entry["images"] = images
            thinking = "".join(p.text for p in msg.parts if isinstance(p, ir.Reasoning))
            if thinking and role == "assistant":
                entry["thinking"] = thinking
            calls = [p for p in msg.parts if isinstance(p, ir.ToolCall)]
            if calls:
                entry["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": _args_object(c.arguments)}}
                    for c in calls
                ]
            out.append(entry)
        return out

    def decode_response(self, body: bytes, report: ir.Report) -> ir.Response:
        data = loads_upstream(body)
        if not isinstance(data, dict):
            raise UpstreamProtocolError("Ollama answer is not a JSON object")
        parts = _parts_of(data, seed=str(data.get("created_at") or ""))
        return ir.Response(
            id=f"ollama-{data.get('created_at', '')}",
            model=str(data.get("model") or ""),
            parts=tuple(parts),
            finish=_finish(data, any(isinstance(p, ir.ToolCall) for p in parts)),
            usage=_usage(data),
        )

    def stream_decoder(self, request: ir.Request, report: ir.Report) -> OllamaStreamDecoder:
        return OllamaStreamDecoder()

    def decode_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ir.Error:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        message = (
            data.get("error")
            if isinstance(data, dict) and isinstance(data.get("error"), str)
            else body.decode("utf-8", "replace")[:500].strip() or f"upstream answered HTTP {status}"
        )
        return ir.Error(kind=kind_for_status(status), message=message, status=status)


def _opt_int(options: dict[str, Any], key: str) -> int | None:
    v = options.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _opt_num(options: dict[str, Any], key: str) -> float | None:
    v = options.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _args_object(arguments: str) -> Any:
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _raw_image(part: ir.File) -> str:
    if part.data:
        return part.data
    if part.url:
        parsed = parse_data_url(part.url)
        if parsed:
            return parsed[1]
    raise UnsupportedFeature(
        f"Ollama takes images as base64 only, not by URL ({part.url})", param="images"
    )


def _usage(data: dict[str, Any]) -> ir.Usage:
    i, o = data.get("prompt_eval_count"), data.get("eval_count")
    return ir.Usage(
        input_tokens=i if isinstance(i, int) else None,
        output_tokens=o if isinstance(o, int) else None,
    )


def _finish(data: dict[str, Any], has_calls: bool) -> ir.Finish:
    raw = data.get("done_reason") if isinstance(data.get("done_reason"), str) else None
    if has_calls:
        return ir.Finish(reason="tool_calls", raw=raw)
    return ir.Finish(reason="length" if raw == "length" else "stop", raw=raw)


def _done_fields(finish: ir.Finish, usage: ir.Usage) -> dict[str, Any]:
    reason = "length" if finish.reason in ("length", "pause") else "stop"
    return {
        "done": True,
        "done_reason": reason,
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": usage.input_tokens or 0,
        "prompt_eval_duration": 0,
        "eval_count": usage.output_tokens or 0,
        "eval_duration": 0,
    }


def _parts_of(data: dict[str, Any], seed: str, start: int = 0) -> list[ir.Part]:
    parts: list[ir.Part] = []
    msg = data.get("message") if isinstance(data.get("message"), dict) else None
    thinking = (msg or data).get("thinking")
    if isinstance(thinking, str) and thinking:
        parts.append(ir.Reasoning(text=thinking, origin=NAME))
    text = msg.get("content") if msg is not None else data.get("response")
    if isinstance(text, str) and text:
        parts.append(ir.Text(text=text))
    for j, tc in enumerate((msg or {}).get("tool_calls") or []):
        fn = (
            tc.get("function")
            if isinstance(tc, dict) and isinstance(tc.get("function"), dict)
            else {}
        )
        args = fn.get("arguments", {})
        parts.append(
            ir.ToolCall(
                id=ids.derived_call_id(seed, start + j),
                name=str(fn.get("name") or ""),
                arguments=args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
            )
        )
    return parts


class OllamaStreamDecoder:
    """NDJSON objects → events; each tool call (Ollama sends them whole) becomes its own part."""

    def __init__(self) -> None:
        self._nd = NDJSONDecoder()
        self._started = False
        self._done = False
        self._next = 0
        self._open: str | None = None
        self._calls = 0
        self._seed = ""

    def feed(self, data: bytes) -> list[ir.Event]:
        out: list[ir.Event] = []
        for obj in self._nd.feed(data):
            self._obj(obj, out)
        return out

    def flush(self) -> list[ir.Event]:
        out: list[ir.Event] = []
        for obj in self._nd.flush():
            self._obj(obj, out)
        if not self._done:
            self._done = True
            out.append(
                ir.StreamError(
                    error=ir.Error.of("api_error", "upstream stream ended before done: true")
                )
            )
        return out

    def _obj(self, obj: Any, out: list[ir.Event]) -> None:
        if self._done or not isinstance(obj, dict):
            return
        if isinstance(obj.get("error"), str):
            self._done = True
            out.append(ir.StreamError(error=ir.Error.of("api_error", obj["error"])))
            return
        if not self._started:
            self._started = True
            self._seed = str(obj.get("created_at") or "")
            out.append(
                ir.ResponseStart(id=f"ollama-{self._seed}", model=str(obj.get("model") or ""))
            )
        for part in _parts_of(obj, self._seed, self._calls):
            if isinstance(part, ir.ToolCall):
                self._close(out)
                self._calls += 1
                out.append(
                    ir.PartStart(
                        index=self._next, part=ir.ToolCall(id=part.id, name=part.name, arguments="")
                    )
                )
                if part.arguments:
                    out.append(
                        ir.PartDelta(index=self._next, kind="arguments", text=part.arguments)
                    )
                out.append(ir.PartEnd(index=self._next))
                self._next += 1
                continue
            kind = "text" if isinstance(part, ir.Text) else "reasoning"
            if self._open != kind:
                self._close(out)
                out.append(
                    ir.PartStart(
                        index=self._next,
                        part=ir.Text(text="") if kind == "text" else ir.Reasoning(origin=NAME),
                    )
                )
                self._open = kind
                self._next += 1
            out.append(ir.PartDelta(index=self._next - 1, kind=kind, text=part.text))  # type: ignore[union-attr,arg-type]
        if obj.get("done") is True:
            self._close(out)
            out.append(ir.StreamFinish(finish=_finish(obj, self._calls > 0), usage=_usage(obj)))
            self._done = True

    def _close(self, out: list[ir.Event]) -> None:
        if self._open is not None:
            out.append(ir.PartEnd(index=self._next - 1))
            self._open = None


class OllamaStreamEncoder:
    content_type = "application/x-ndjson"

    def __init__(self, call: ClientCall, request: ir.Request) -> None:
        self._generate = call.variant == "generate"
        self._model = request.model
        self._done = False
        self._calls: dict[int, ir.ToolCall] = {}
        self._args: dict[int, list[str]] = {}
        self._any_tool = False

    def _line(self, obj: dict[str, Any]) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def _chunk(
        self, text: str = "", thinking: str = "", calls: list[ir.ToolCall] | None = None
    ) -> bytes:
        obj: dict[str, Any] = {"model": self._model, "created_at": _now()}
        if self._generate:
            obj["response"] = text
            if thinking:
                obj["thinking"] = thinking
        else:
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                msg["thinking"] = thinking
            if calls:
                msg["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": _args_object(c.arguments)}}
                    for c in calls
                ]
            obj["message"] = msg
        obj["done"] = False
        return self._line(obj)

    def encode(self, event: ir.Event) -> bytes:
        if self._done:
            return b""
        match event:
            case ir.ResponseStart():
                self._model = event.model or self._model
            case ir.PartStart():
                part = event.part
                if isinstance(part, ir.ToolCall):
                    self._calls[event.index] = part
                    self._args[event.index] = [part.arguments]
                    self._any_tool = True
                elif isinstance(part, ir.Text) and part.text:
                    return self._chunk(text=part.text)
            case ir.PartDelta():
                if event.kind == "text":
                    return self._chunk(text=event.text)
                if event.kind == "reasoning":
                    return self._chunk(thinking=event.text)
                if event.kind == "arguments" and event.index in self._args:
                    self._args[event.index].append(event.text)
            case ir.PartEnd():
                call = self._calls.pop(event.index, None)
                if call is not None:  # Ollama sends each call whole
                    whole = ir.ToolCall(
                        id=call.id,
                        name=call.name,
                        arguments="".join(self._args.pop(event.index, [])),
                    )
                    return self._chunk(calls=[whole])
            case ir.StreamFinish():
                self._done = True
                last: dict[str, Any] = {"model": self._model, "created_at": _now()}
                if self._generate:
                    last["response"] = ""
                else:
                    last["message"] = {"role": "assistant", "content": ""}
                finish = event.finish
                last.update(_done_fields(finish, event.usage))
                return self._line(last)
            case ir.StreamError():
                self._done = True
                return self._line({"error": event.error.message})
        return b""

    def close(self) -> bytes:
        return b""
