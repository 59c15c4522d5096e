"""Helpers every codec needs: strict JSON in, compact JSON out, data URLs, media types.

Decoding untrusted client JSON is where a converter most often crashes; these helpers turn
every wrong shape into a ``ClientRequestError`` that names the field.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from crosswire.ir.errors import ClientRequestError, Error, UpstreamProtocolError
from crosswire.ir.parts import FileKind
from crosswire.ir.report import Report
from crosswire.ir.request import Tool
from crosswire.jsonscan import max_depth_exceeds

T = TypeVar("T")

#: JSON nesting deeper than this is refused before parsing: Python's parser recurses.
MAX_JSON_DEPTH = 128
#: One encoder for all compact output: ``json.dumps`` with any non-default option builds a new
#: ``JSONEncoder`` on every call, which costs more than serialising a stream delta's text.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def loads_client(body: bytes) -> dict[str, Any]:
    """The app's request body as a JSON object, or a 400 that says what is wrong."""
    if not body:
        raise ClientRequestError("request body is empty; expected a JSON object")
    _check_depth(body)
    try:
        value = json.loads(body)
    except UnicodeDecodeError as exc:
        raise ClientRequestError(f"request body is not valid UTF-8: {exc.reason}") from exc
    except (ValueError, RecursionError) as exc:
        raise ClientRequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ClientRequestError("request body must be a JSON object")
    return value


def loads_upstream(body: bytes) -> Any:
    """An upstream body as JSON, or an ``UpstreamProtocolError``."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UpstreamProtocolError(f"upstream answered invalid JSON: {exc}") from exc


def _check_depth(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    if max_depth_exceeds(body, MAX_JSON_DEPTH):
        raise ClientRequestError(f"request JSON is nested deeper than {MAX_JSON_DEPTH} levels")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the providers send it."""
    return _COMPACT.encode(value).encode()


def dumps_str(value: Any) -> str:
    """Compact JSON text (for a string: its JSON literal, non-ASCII kept)."""
    return _COMPACT.encode(value)


def expect[T](value: Any, kind: type[T] | tuple[type, ...], field: str) -> T:
    """``value`` if it has the type, else a 400 naming ``field``. Booleans are not numbers."""
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ClientRequestError(f"'{field}' must be a number, got a boolean", param=field)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        got = _json_type(value)
        raise ClientRequestError(f"'{field}' must be {_json_names(names)}, got {got}", param=field)
    return value  # type: ignore[return-value]


def optional[T](
    obj: dict[str, Any], key: str, kind: type[T] | tuple[type, ...], field: str | None = None
) -> T | None:
    """``obj[key]`` checked against ``kind``; ``None`` when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    return expect(value, kind, field or key)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _json_names(names: str) -> str:
    return (
        names.replace("dict", "an object")
        .replace("list", "an array")
        .replace("str", "a string")
        .replace("int", "an integer")
        .replace("float", "a number")
        .replace("bool", "a boolean")
    )


def parse_data_url(url: str) -> tuple[str | None, str] | None:
    """``data:<mime>;base64,<b64>`` → (media type, base64); None for other URLs."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ClientRequestError("malformed data URL (no comma)")
    fields = header.split(";")
    media_type = fields[0] or None
    if "base64" in fields[1:]:
        return normalise_media_type(media_type), normalise_base64(payload)
    from urllib.parse import unquote_to_bytes

    return normalise_media_type(media_type), base64.b64encode(unquote_to_bytes(payload)).decode()


def data_url(media_type: str | None, data: str) -> str:
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def normalise_base64(data: str) -> str:
    """Standard base64: google-genai sends URL-safe base64; whitespace and missing padding
    occur in the wild."""
    data = "".join(data.split())
    if "-" in data or "_" in data:
        data = data.replace("-", "+").replace("_", "/")
    if len(data) % 4:
        data += "=" * (-len(data) % 4)
    return data


_MEDIA_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}


def normalise_media_type(media_type: str | None) -> str | None:
    if media_type is None:
        return None
    media_type = media_type.strip().lower()
    return _MEDIA_ALIASES.get(media_type, media_type)


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff_media_type(b64: str) -> str | None:
    """The media type the bytes really are (Anthropic checks them against the declared type)."""
    try:
        head = base64.b64decode(b64[:64] + "=" * (-len(b64[:64]) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def file_kind(media_type: str | None) -> FileKind:
    """image / audio / document from a media type (documents are everything else)."""
    if media_type is None:
        return "file"
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("audio/"):
        return "audio"
    return "document"


def unix_time(value: Any) -> int | None:
    """A creation time in whole Unix seconds, when ``value`` is one (a positive JSON number;
    booleans, zero and other types are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


_FUNCTION_KEYS = frozenset({"name", "description", "parameters"})


def function_tool(
    fn: dict[str, Any], where: str, origin: str, native: dict[str, Any], *, strict: bool
) -> Tool:
    """A function declaration ``{name, description, parameters}`` at ``where`` as an IR tool
    (Chat Completions' ``tools[].function`` and legacy ``functions``, Ollama's tools), with
    ``strict`` where the wire has it. ``native`` holds what else the enclosing tool carried; the
    function's own other keys join it under ``function``, for the same protocol's encoder."""
    modelled = _FUNCTION_KEYS | {"strict"} if strict else _FUNCTION_KEYS
    extra = {k: v for k, v in fn.items() if k not in modelled}
    if extra:
        native = {**native, "function": extra}
    return Tool(
        name=expect(fn.get("name"), str, f"{where}.name"),
        description=optional(fn, "description", str, f"{where}.description"),
        parameters=optional(fn, "parameters", dict, f"{where}.parameters"),
        strict=optional(fn, "strict", bool, f"{where}.strict") if strict else None,
        native={origin: native} if native else {},
    )


def set_fields(body: dict[str, Any], *fields: tuple[str, Any]) -> dict[str, Any]:
    """``body`` with each (wire key, value) whose value the app set (``None``: not set)."""
    for key, value in fields:
        if value is not None:
            body[key] = value
    return body


def clamp_temperature(value: float, high: float, wire: str, report: Report) -> float:
    """``value`` within the wire's range 0–``high``, noted as clamped when it was outside."""
    clamped = min(high, max(0.0, value))
    if clamped != value:
        report.clamped("temperature", f"{value} → {clamped} ({wire} accepts 0–{high:g})")
    return clamped


def stop_sequences(stop: tuple[str, ...], limit: int | None, report: Report) -> list[str]:
    """The non-empty stop sequences, the first ``limit`` of them when the wire has a limit
    (edge 84); what is left out is noted."""
    stops = [s for s in stop if s]
    if len(stops) != len(stop):
        report.dropped("stop", "empty stop sequences")
    if limit is not None and len(stops) > limit:
        report.clamped("stop", f"{len(stops)} stop sequences → the first {limit} (edge 84)")
        stops = stops[:limit]
    return stops


def retry_after(headers: Mapping[str, str]) -> float | None:
    """How long an upstream asks to wait, in seconds: ``retry-after-ms`` (OpenAI, Anthropic)
    wins over ``retry-after`` in seconds or as an HTTP date; header names in any case. A date
    already past says nothing (``None``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        delay = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError):
        return None
    return delay if delay > 0 else None


def retry_after_header(error: Error) -> dict[str, str]:
    """The ``retry-after`` header (whole seconds, at least one) of an error answer to the app."""
    if error.retry_after is None:
        return {}
    return {"retry-after": str(max(1, int(error.retry_after + 0.999)))}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else ``[]`` (upstream bodies of unknown shape)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}
