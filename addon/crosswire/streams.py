"""Incremental framing of streamed bodies: bytes in, complete frames out, any chunk split.

Why work on bytes and decode only complete lines: a network chunk may end inside a multi-byte
UTF-8 character, and the bytes ``\\r`` and ``\\n`` never occur inside one, so a complete line
always decodes cleanly. Each decoder has the same two methods (as httpx's decoders):
``feed(data) -> frames`` and ``flush() -> frames`` at end of body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from crosswire.ir.builder import StreamBuilder
from crosswire.ir.errors import UpstreamProtocolError
from crosswire.ir.events import Event
from crosswire.jsonscan import DepthScanner


@dataclass(frozen=True, slots=True)
class SSEFrame:
    """One server-sent event: ``event`` name (None when absent) and its joined ``data``."""

    event: str | None
    data: str


class SSEDecoder:
    """WHATWG event-stream parsing: ``\\n``, ``\\r\\n`` and bare ``\\r`` line ends (a CRLF split
    across two chunks included), comment lines ignored, multi-line ``data`` joined with ``\\n``,
    dispatch on a blank line."""

    __slots__ = ("_buf", "_data", "_event", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._pending_cr = False
        self._event: str | None = None
        self._data: list[str] | None = None

    def feed(self, data: bytes) -> list[SSEFrame]:
        if self._pending_cr and data.startswith(b"\n"):
            data = data[1:]  # the \n of a \r\n split across reads
        self._pending_cr = False
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            if buf.endswith(b"\r"):
                self._pending_cr = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        frames: list[SSEFrame] = []
        lines, self._buf = split_lines(buf)
        for line in lines:
            self._line(line, frames)
        return frames

    def idle(self) -> bool:
        """Nothing held back: the next bytes start a new line of a new event."""
        return not self._buf and not self._pending_cr and self._data is None and self._event is None

    def flush(self) -> list[SSEFrame]:
        frames: list[SSEFrame] = []
        if self._buf:
            self._line(self._buf, frames)
            self._buf = b""
        self._line(b"", frames)
        return frames

    def _line(self, raw: bytes, out: list[SSEFrame]) -> None:
        if not raw:
            if self._data is not None:
                out.append(SSEFrame(self._event, "\n".join(self._data)))
            self._event = None
            self._data = None
            return
        if raw[0] == 0x3A:  # ":" comment / keep-alive
            return
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if self._data is None:
                self._data = [value]
            else:
                self._data.append(value)
        elif name == "event":
            self._event = value
        # id: and retry: carry nothing the converters need.


class NDJSONDecoder:
    """Newline-delimited JSON (Ollama): one object per line; blank lines skipped."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Any]:
        lines, self._buf = split_lines(self._buf + data if self._buf else data)
        return [_loads(line) for raw in lines if (line := raw.strip())]

    def flush(self) -> list[Any]:
        line, self._buf = self._buf.strip(), b""
        return [_loads(line)] if line else []


class JSONArrayDecoder:
    """One JSON array delivered incrementally (Gemini ``streamGenerateContent`` without
    ``alt=sse``): yields each element object or array as soon as its closing bracket arrives.

    ``jsonscan.DepthScanner`` keeps the nesting state between chunks, so nothing already seen
    is scanned or parsed again; only the element still open stays buffered.
    """

    __slots__ = ("_buf", "_elem_start", "_pos", "_scanner", "_started")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._scanner = DepthScanner()
        self._started = False
        self._elem_start = -1

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        buf = self._buf
        for i, depth in self._scanner.scan(buf, self._pos):
            if not self._started:
                if buf[i] != 0x5B:  # [
                    raise UpstreamProtocolError("expected a JSON array")
                self._started = True
            elif depth == 2 and buf[i] in b"[{":
                self._elem_start = i
            elif depth == 1 and self._elem_start >= 0:
                out.append(_loads(bytes(buf[self._elem_start : i + 1])))
                self._elem_start = -1
        # Drop what has been consumed, keeping an open element.
        keep = self._elem_start if self._elem_start >= 0 else len(buf)
        if keep > 0:
            del buf[:keep]
            if self._elem_start >= 0:
                self._elem_start = 0
        self._pos = len(buf)
        return out

    def flush(self) -> list[Any]:
        if self._scanner.depth > 1:
            raise UpstreamProtocolError("JSON array stream ended inside an element")
        return []


def split_lines(buf: bytes) -> tuple[list[bytes], bytes]:
    """The complete ``\\n``-terminated lines in ``buf`` (without their ``\\n``), and the rest."""
    lines = buf.split(b"\n")
    return lines[:-1], lines[-1]


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UpstreamProtocolError(f"invalid JSON in stream: {exc}") from exc


class SSEEventDecoder:
    """The shared shape of every SSE stream decoder: each event's data is one JSON object.

    Subclasses implement ``_event(obj, out)`` for one event's object and ``_eof(out)`` for a
    stream that ended without its protocol's terminator. Blank events are skipped, JSON that
    is not an object is ignored, ``data: [DONE]`` (the OpenAI wires' terminator) goes to
    ``_done`` and data that is not JSON to ``_invalid`` (an ``UpstreamProtocolError`` unless
    the wire answers it otherwise). ``_stream`` keeps the event grammar's state
    (``ir.builder``); once it is done, later events are ignored.
    """

    #: Whether ``literal_text`` recognises this wire's text deltas (``protocols/literal.py``).
    gives_literal_text = False

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._stream = StreamBuilder()
        #: Text deltas ``literal_text`` could not carry (another spelling of the wire, say).
        self.literal_misses = 0

    def idle(self) -> bool:
        """No partial event held: bytes fed next start a new event."""
        return self._sse.idle()

    def _literal_match(
        self, pattern: re.Pattern[bytes], frame: bytes, marker: bytes
    ) -> re.Match[bytes] | None:
        """``pattern``'s match of the whole ``frame``; a frame that has ``marker`` (looks like
        a text delta) but does not match counts as a miss."""
        found = pattern.fullmatch(frame)
        if found is None and marker in frame:
            self.literal_misses += 1
        return found

    def literal_text(self, frame: bytes) -> tuple[int, bytes] | None:
        """For ``frame``, one complete event (without the blank line that ends it, which
        follows it in the stream) about to be fed while ``idle``: the IR
        part index and the JSON string literal of its text when it is a text delta that
        ``feed`` would turn into exactly one text ``PartDelta`` and nothing else (such a delta
        changes no decoder state, so nothing is recorded). None otherwise: the frame then
        goes to ``feed``."""
        return None

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for frame in self._sse.feed(data):
            if self._stream.done:
                break
            self._frame(frame.data, out)
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = []
        for frame in self._sse.flush():
            if not self._stream.done:
                self._frame(frame.data, out)
        if not self._stream.done:
            self._eof(out)
        return out

    def _frame(self, data: str, out: list[Event]) -> None:
        if not data.strip():
            return
        if data == "[DONE]":
            self._done(out)
            return
        try:
            obj = json.loads(data)
        except ValueError as exc:
            self._invalid(exc, out)
            return
        if isinstance(obj, dict):
            self._event(obj, out)

    def _event(self, obj: dict[str, Any], out: list[Event]) -> None:
        raise NotImplementedError

    def _eof(self, out: list[Event]) -> None:
        raise NotImplementedError

    def _done(self, out: list[Event]) -> None:
        """``data: [DONE]``: nothing, unless the wire ends with it."""

    def _invalid(self, exc: ValueError, out: list[Event]) -> None:
        raise UpstreamProtocolError(f"invalid JSON in the upstream's stream: {exc}") from exc
