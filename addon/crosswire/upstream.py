"""Where a routed request goes: upstream URLs and the query it keeps.

Pure functions over plain values (no mitmproxy), so the rules are unit-tested directly.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from crosswire.protocols import codec
from crosswire.protocols.base import ProtocolName

#: Query parameters that carry the app's own credential (Gemini's ``?key=``); never forwarded.
CLIENT_CREDENTIAL_QUERY = ("key",)


@functools.lru_cache(maxsize=1024)
def passthrough_path(client_protocol: ProtocolName, path: str, base_url: str) -> str:
    """The upstream URL for a same-protocol request: the app's path relative to its SDK's
    default base, appended to the backend's ``base_url`` path (remembered: an app calls a
    handful of paths, one per request)."""
    prefix = codec(client_protocol).wire.sdk_base_prefix
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :]
    return join(base_url, path)


def relative_to_base(path: str, base_url: str) -> str:
    """An unmodelled endpoint's path on a backend whose base URL may end in ``/v1``."""
    prefix = "/v1" if base_url.rstrip("/").endswith("/v1") else ""
    return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path


def join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode(list(query.items()))


def clean_query(query: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k not in CLIENT_CREDENTIAL_QUERY}
