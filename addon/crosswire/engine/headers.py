"""Header access that costs one pass: mitmproxy's ``Headers`` mapping API lowers every field on
every lookup, so iterating ``.items()`` is quadratic in the number of headers — and provider
answers carry dozens (Anthropic's rate-limit headers alone are over twenty). The engine reads
``fields`` once instead (docs/mitmproxy.md §16).
"""

from __future__ import annotations

from mitmproxy import http

#: Header fields as mitmproxy holds them (names as sent, raw bytes): what the engine forwards.
Fields = tuple[tuple[bytes, bytes], ...]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def lowered(headers: http.Headers) -> dict[str, str]:
    """Lower-case name → value (a repeated field keeps its last value)."""
    return text_map(headers.fields)


def text_map(fields: Fields) -> dict[str, str]:
    """Lower-case name → value of raw fields (a repeated field keeps its last value).

    Strict UTF-8 first: ``decode()`` without arguments takes CPython's fast path (about half
    the cost per request); only a field that is not UTF-8 falls back to surrogate escapes."""
    try:
        return {k.decode().lower(): v.decode() for k, v in fields}
    except UnicodeDecodeError:
        return {_text(k).lower(): _text(v) for k, v in fields}


def text_pairs(fields: Fields | list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Raw fields as text, in order, names as sent."""
    return [(_text(k), _text(v)) for k, v in fields]


def field(name: str, value: str) -> tuple[bytes, bytes]:
    """One field from text, as it goes on the wire."""
    return name.encode("latin-1"), value.encode("utf-8", "surrogateescape")


def value(headers: http.Headers, name: bytes) -> str:
    """One field's value ("" when absent); ``name`` in lower case."""
    for k, v in headers.fields:
        if k.lower() == name:
            return _text(v)
    return ""


def framed_by_length(fields: Fields, length: int) -> Fields:
    """``fields`` of a message whose body is now ``length`` bytes, framed by its length: one
    pass, the ``content-length`` field kept in its place, ``transfer-encoding`` dropped (the
    mapping API's ``pop`` and ``[]=`` lower every field, each)."""
    value = b"%d" % length
    out = []
    found = False
    for name, v in fields:
        lname = name.lower()
        if lname == b"content-length":
            if not found:
                out.append((name, value))
                found = True
        elif lname != b"transfer-encoding":
            out.append((name, v))
    if not found:
        out.append((b"content-length", value))
    return tuple(out)


def from_fields(fields: Fields) -> http.Headers:
    """Headers from raw fields, without ``Headers(...)``'s constructor: it copies every field
    and checks its types (these are ours, already bytes), 1.6 µs per request. ``fields`` is
    the only state a ``Headers`` has."""
    built = http.Headers.__new__(http.Headers)
    built.fields = fields
    return built


def target_host(req: http.Request, host_field: str | None = None) -> str:
    """The host the app asked for, lower-case — mitmproxy's ``pretty_host`` (Host header or
    HTTP/2 authority, else the CONNECT target) without its IDNA round trip on every request.
    ``host_field``: the Host header's value, when the caller has read the fields already."""
    data = req.data
    if data.authority:
        text = _text(data.authority).lower()
    else:
        if host_field is None:
            host_field = value(data.headers, b"host")
        if not host_field:
            return data.host
        text = host_field.lower()
    if text.startswith("["):  # [IPv6]:port
        return text[1 : text.find("]")]
    host, sep, port = text.rpartition(":")
    return host if sep and port.isdigit() else text


def body_and_type(message: http.Message) -> tuple[bytes, str]:
    """The body — decoded only when it carries a content-encoding (raises ValueError when that
    does not decode, as ``content`` does) — and its content type, in one pass over the fields
    (``content`` and the mapping API each look the fields up again on every read)."""
    encoded = False
    content_type: bytes | None = None
    for name, v in message.data.headers.fields:
        lname = name.lower()
        if lname == b"content-type":
            if content_type is None:
                content_type = v
        elif lname == b"content-encoding":
            encoded = True
    return body(message, encoded), _text(content_type) if content_type is not None else ""


def body(message: http.Message, encoded: bool) -> bytes:
    """The body, decoded only when the message carries a content-encoding (``encoded``, which
    the caller has read from its fields); raises ValueError when that does not decode."""
    return (message.content if encoded else message.raw_content) or b""


#: The app's request before the flow is retargeted: (method, scheme, host, port, path as sent)
#: — plain values taken at once; the URL text is made later, when a record is published.
AppTarget = tuple[str, bytes, str, int, bytes]


def app_target(req: http.Request, host: str | None = None) -> AppTarget:
    data = req.data
    return (req.method, data.scheme, host or target_host(req), data.port, data.path)


def url_of(target: AppTarget) -> str:
    """The URL the app asked for, as mitmproxy's ``pretty_url`` shows it (the app's host, its
    port when not the scheme's default), without ``pretty_url``'s IDNA round trip (~0.1 ms)."""
    _, raw_scheme, host, port, path = target
    scheme = raw_scheme.decode("ascii", "replace")
    if ":" in host:
        host = f"[{host}]"
    default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    origin = f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"
    return origin + path.decode("utf-8", "surrogateescape")
