"""Feed dates: ISO 8601 / RFC 3339 (Atom, JSON Feed) and RFC 822 (RSS), always with an offset.

feedparser also offers ``published_parsed``, but that struct is already converted to UTC and
silently assumes UTC when the feed gave no offset. We parse the raw text ourselves instead, so
a date without an offset is rejected as ambiguous, exactly as in JSON Lines.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from newsletter.sources.reasons import show


class DateError(ValueError):
    """The date is missing, unreadable or has no UTC offset."""


def parse_feed_date(raw: str) -> datetime:
    """The aware datetime of a feed date; raise DateError with a human reason otherwise."""
    text = raw.strip()
    if not text:
        raise DateError("entry has no published or updated date")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise DateError(
                f"published date is not a date-time we can read ({show(raw)})"
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DateError(f"published date has no UTC offset: ambiguous, so rejected ({show(raw)})")
    return moment
