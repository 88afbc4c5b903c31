"""Click URLs back to the links we rendered: one normal form for both sides."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that say how a reader arrived, not where: dropped before comparing.
_DROP_PREFIXES = ("utm_", "nl_")
_DROP_NAMES = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
CANARY_PATH = "/r/canary"
"""Where the hidden canary link points, under ``web.public_url``: only scanners follow it."""


def normalise_url(url: str) -> str:
    """The URL without tracking parameters, fragment, default port or letter-case noise.

    ``https://Example.com:443/a/?utm_source=x&b=2&a=1#top`` → ``https://example.com/a?a=1&b=2``.
    What is left is compared as is; anything unparseable is returned stripped.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text[:2000]
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_DROP_PREFIXES) and k.lower() not in _DROP_NAMES
    )
    path = parts.path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    if not path:
        path = "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))[:2000]
