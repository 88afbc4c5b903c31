"""A sample outgoing issue and recipients, as the dispatcher would hand them to a provider."""

from __future__ import annotations

from typing import Any

from newsletter.delivery import OutgoingIssue, Recipient, list_unsubscribe_headers
from newsletter.personalization import recipient_values

KEY = b"test-signing-key"
PUBLIC = "https://almanac.example/newsletter"


def make_issue(**changes: Any) -> OutgoingIssue:
    """The 2026-11-22 Sunday issue with every placeholder token in subject, HTML and text."""
    base: dict[str, Any] = {
        "issue_id": "2026-11-22-sunday",
        "edition": "sunday",
        "subject": "Almanac Sunday for %first_name%",
        "html": '<p>Hi %first_name%</p><a href="%unsubscribe_url%">Unsubscribe</a>'
        '<a href="%preferences_url%">Preferences</a>',
        "text": "Hi %first_name%\nUnsubscribe: %unsubscribe_url%\nPreferences: %preferences_url%",
        "sender_email": "newsletter@almanac.example",
        "sender_name": "Call Me Almanac",
        "reply_to": "editors@almanac.example",
    }
    base.update(changes)
    return OutgoingIssue(**base)


def make_recipient(
    i: int, name: str | None = "Ada Lovelace", email: str | None = None
) -> Recipient:
    """Subscriber ``i`` (``reader{i}@example.com``) with signed links and RFC 8058 headers."""
    email = email or f"reader{i}@example.com"
    values = recipient_values(KEY, PUBLIC, i, email, name)
    headers = list_unsubscribe_headers(values["%unsubscribe_url%"], "unsubscribe@almanac.example")
    return Recipient(email, name, values, headers, subscriber_id=i)


def recipients(n: int) -> list[Recipient]:
    """Subscribers 1..n."""
    return [make_recipient(i) for i in range(1, n + 1)]
