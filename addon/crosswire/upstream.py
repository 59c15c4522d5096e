"""Where a routed request goes and how it authenticates: URLs, credentials, headers.

Pure functions over plain values (no mitmproxy), so the rules are unit-tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from crosswire.routing import CLIENT_BASE_PREFIX

#: Every place an app may put its own credential; all are removed before a request leaves.
CLIENT_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
CLIENT_CREDENTIAL_QUERY = ("key",)


def client_credential(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The app's own key, wherever its protocol put it (for inspection mode and client tokens)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else auth.strip()
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        if headers.get(name):
            return headers[name].strip()
    key = query.get("key")
    return key or None


def auth_header(protocol: str, dialect: str, secret: str) -> tuple[str, str]:
    """The backend's credential header for ``secret``."""
    if dialect == "azure":
        return "api-key", secret
    if protocol == "anthropic":
        return "x-api-key", secret
    if protocol == "gemini":
        return "x-goog-api-key", secret
    return "authorization", f"Bearer {secret}"


def passthrough_path(client_protocol: str, path: str, base_url: str) -> str:
    """The upstream path for a same-protocol request: the app's path relative to its SDK's
    default base, appended to the backend's ``base_url`` path."""
    prefix = CLIENT_BASE_PREFIX.get(client_protocol, "")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :]
    return join(base_url, path)


def join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode(list(query.items()))


def clean_query(query: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k not in CLIENT_CREDENTIAL_QUERY}
