"""Signed click tokens for the own redirect ``/r/<token>``: never an open redirect.

A token carries the issue id and the exact target URL, signed with the site's secret key
(HMAC-SHA256, its own domain tag so no other signed value of ours can pass as one). The
redirect follows only a token whose signature holds and whose target is http(s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

_TAG = b"newsletter-click-v1:"
MAX_TOKEN = 4096


@dataclass(frozen=True)
class ClickTarget:
    """What a valid token names."""

    issue_id: str
    url: str
    canary: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, _TAG + body.encode("ascii"), hashlib.sha256).digest()[:16])


def sign_click(key: bytes, target: ClickTarget) -> str:
    """The URL-safe token for one rendered link of an issue."""
    data = [target.issue_id, target.url, 1 if target.canary else 0]
    body = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{body}.{_mac(key, body)}"


def verify_click(key: bytes, token: str) -> ClickTarget | None:
    """The target of a genuine token, or None (forged, truncated, not http(s))."""
    if len(token) > MAX_TOKEN:
        return None
    body, _, mac = token.partition(".")
    if not body or not mac or not body.isascii():
        return None
    if not hmac.compare_digest(_mac(key, body).encode(), mac.encode("ascii", "replace")):
        return None
    try:
        issue_id, url, canary = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(issue_id, str) or not isinstance(url, str):
        return None
    if not url.lower().startswith(("https://", "http://")):
        return None
    return ClickTarget(issue_id=issue_id, url=url, canary=bool(canary))
