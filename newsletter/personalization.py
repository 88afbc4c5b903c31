"""Per-recipient values: placeholder tokens, signed unsubscribe tokens and links.

The issue is rendered once with the tokens below in place; delivery substitutes each
recipient's values (SendGrid ``substitutions``, or string replacement for SMTP and outbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

UNSUBSCRIBE_URL = "%unsubscribe_url%"
PREFERENCES_URL = "%preferences_url%"
FIRST_NAME = "%first_name%"
RECIPIENT = "%recipient%"
"""The recipient's signed token alone: own click tracking (``/r/<link>?s=%recipient%``)."""
TOKENS: tuple[str, ...] = (UNSUBSCRIBE_URL, PREFERENCES_URL, FIRST_NAME)
FIRST_NAME_FALLBACK = "there"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(key: bytes, subscriber_id: int, email: str) -> str:
    msg = f"{subscriber_id}:{email.lower()}".encode()
    return _b64(hmac.new(key, msg, hashlib.sha256).digest()[:18])


def sign_token(key: bytes, subscriber_id: int, email: str) -> str:
    """A URL-safe token naming one subscriber, signed with the site's secret key."""
    return f"{subscriber_id}.{_mac(key, subscriber_id, email)}"


def token_subscriber_id(token: str) -> int | None:
    """The subscriber id a token claims (not yet verified), or None if it is malformed."""
    sid, _, sig = token.partition(".")
    if not sid.isdigit() or not sig or len(sid) > 18:
        return None
    return int(sid)


def verify_token(key: bytes, token: str, subscriber_id: int, email: str) -> bool:
    """True when the token was signed with ``key`` for this subscriber and address."""
    expected = sign_token(key, subscriber_id, email)
    return hmac.compare_digest(expected.encode(), token.encode())


def first_name(name: str | None) -> str:
    """The first word of a name, or a friendly fallback."""
    parts = (name or "").split()
    return parts[0] if parts else FIRST_NAME_FALLBACK


def recipient_values(
    key: bytes, public_url: str, subscriber_id: int, email: str, name: str | None
) -> dict[str, str]:
    """The values that replace the placeholder tokens for one recipient."""
    token = quote(sign_token(key, subscriber_id, email), safe=".")
    base = public_url.rstrip("/")
    return {
        UNSUBSCRIBE_URL: f"{base}/unsubscribe?t={token}",
        PREFERENCES_URL: f"{base}/preferences?t={token}",
        FIRST_NAME: first_name(name),
        RECIPIENT: token,
    }


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each token in ``text`` with its value (for providers without substitutions)."""
    for token, value in values.items():
        text = text.replace(token, value)
    return text
