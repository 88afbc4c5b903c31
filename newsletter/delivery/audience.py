"""Turning audience members into provider Recipients (values, List-Unsubscribe headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from collections.abc import Iterable

from newsletter.delivery.base import Recipient
from newsletter.personalization import (
    FIRST_NAME,
    FIRST_NAME_HTML,
    PREFERENCES_URL,
    RECIPIENT,
    UNSUBSCRIBE_URL,
    first_name,
    recipient_values,
)
from newsletter.store.ledger import Claimed

ONE_CLICK = "List-Unsubscribe=One-Click"


class RecipientBuilder:
    """Builds each recipient's personal values and RFC 8058 headers.

    The hot path of a large send: the per-recipient work is one HMAC and a few string
    joins (the same result as ``personalization.recipient_values``, which a test checks).
    """

    def __init__(self, key: bytes, public_url: str, unsubscribe_mailto: str | None) -> None:
        self.key = key
        self.base = public_url.rstrip("/")
        self.mailto = f", <mailto:{unsubscribe_mailto}>" if unsubscribe_mailto else ""
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)

    def values(self, subscriber_id: int, email: str, name: str | None) -> dict[str, str]:
        """The same values as personalization.recipient_values, computed cheaply."""
        mac = self._hmac.copy()
        mac.update(f"{subscriber_id}:{email.lower()}".encode())
        sig = base64.urlsafe_b64encode(mac.digest()[:18]).rstrip(b"=").decode("ascii")
        # The token alphabet ([0-9A-Za-z_-] and '.') needs no URL quoting.
        token = f"{subscriber_id}.{sig}"
        first = first_name(name)
        return {
            UNSUBSCRIBE_URL: f"{self.base}/unsubscribe?t={token}",
            PREFERENCES_URL: f"{self.base}/preferences?t={token}",
            FIRST_NAME: first,
            FIRST_NAME_HTML: html.escape(first),
            RECIPIENT: token,
        }

    def reference_values(self, subscriber_id: int, email: str, name: str | None) -> dict[str, str]:
        """The slow, reference computation (for tests)."""
        return recipient_values(self.key, self.base, subscriber_id, email, name)

    def recipient(self, subscriber_id: int, email: str, name: str | None) -> Recipient:
        values = self.values(subscriber_id, email, name)
        return Recipient(
            email=email,
            name=name,
            values=values,
            headers={
                "List-Unsubscribe": f"<{values[UNSUBSCRIBE_URL]}>{self.mailto}",
                "List-Unsubscribe-Post": ONE_CLICK,
            },
            subscriber_id=subscriber_id,
        )

    def recipients(self, members: Iterable[Claimed]) -> list[Recipient]:
        return [self.recipient(m.subscriber_id, m.email, m.name) for m in members]
