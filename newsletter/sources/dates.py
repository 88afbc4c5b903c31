"""Feed dates: ISO 8601 / RFC 3339 (Atom, JSON Feed) and RFC 822 (RSS), always with an offset.

feedparser also offers ``published_parsed``, but that struct is already converted to UTC and
silently assumes UTC when the feed gave no offset. We parse the raw text ourselves instead, so
a date without an offset is rejected as ambiguous, exactly as in JSON Lines.

What the standards allow and real feeds use, all read here:

- RFC 822/2822 ``-0000`` means UTC (the stdlib's ``parsedate_to_datetime`` returns a naive
  datetime for it, which looked like "no offset": kernel.org's and PRX's feeds lost every item);
- offsets with a colon (``+05:30``) and ``GMT-01:01`` / ``UTC+5`` forms in RFC 822 dates;
- RFC 3339 lowercase ``t`` and ``z`` (section 5.6 allows them);
- the leap second ``23:59:60`` (read as ``23:59:59``: Python datetimes have no 60th second);
- four-digit years as written: ``0001`` is year 1, not 2001 (the stdlib adds 2000 to any year
  below 100, whatever its digits).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from newsletter.sources.reasons import show

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# North American zones RFC 822 names; "Z", "UT", "GMT" and "UTC" are UTC.
_NAMED_ZONES = {
    "z": 0,
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "mst": -7,
    "mdt": -6,
    "pst": -8,
    "pdt": -7,
}
_RFC822 = re.compile(
    r"""^\s*(?:[a-z]{2,9}\.?,?\s*)?             # optional weekday
    (?P<day>\d{1,2})[\s-]+(?P<month>[a-z]{3,9})\.?[\s-]+(?P<year>\d{2,4})\s+
    (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\.\d+)?\s*
    (?P<zone>[a-z]{1,5})?\s*
    (?:(?P<sign>[+-])(?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?)?\s*$""",
    re.I | re.X,
)
_ISO_SECOND_60 = re.compile(r"([T ]\d{2}:\d{2}):60")


class DateError(ValueError):
    """The date is missing, unreadable or has no UTC offset."""


def _rfc822_zone(match: re.Match[str]) -> timezone | None:
    zone = (match.group("zone") or "").lower()
    sign = match.group("sign")
    if zone and zone not in _NAMED_ZONES:
        return None
    if sign is None:
        return timezone(timedelta(hours=_NAMED_ZONES[zone])) if zone else None
    digits = match.group("oh")
    minutes_text = match.group("om")
    if minutes_text is None and len(digits) <= 2:  # "GMT+5", "UTC-11"
        hours, minutes = int(digits), 0
    else:
        hours, minutes = int(digits), int(minutes_text or 0)
    if zone and _NAMED_ZONES[zone] != 0:
        return None  # "EST+0100" means nothing
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if sign == "-" else offset)


def _rfc822(text: str) -> datetime | None:
    """An RFC 822/2822 date-time with its offset; None if the text is not one we can read."""
    match = _RFC822.match(text)
    if match is None:
        return None
    month = _MONTHS.get(match.group("month")[:3].lower())
    if month is None:
        return None
    year_text = match.group("year")
    year = int(year_text)
    if len(year_text) == 2:  # RFC 2822 section 4.3
        year += 2000 if year < 50 else 1900
    elif len(year_text) == 3:
        year += 1900
    zone = _rfc822_zone(match)
    if zone is None:
        raise DateError(f"published date has no UTC offset: ambiguous, so rejected ({show(text)})")
    second = min(int(match.group("second") or 0), 59)  # 60: a leap second
    try:
        return datetime(
            year,
            month,
            int(match.group("day")),
            int(match.group("hour")),
            int(match.group("minute")),
            second,
            tzinfo=zone,
        )
    except ValueError:
        return None


def _iso(text: str) -> datetime | None:
    # RFC 3339 5.6: "T" and "Z" may be lowercase; a leap second is written 60.
    normal = _ISO_SECOND_60.sub(r"\1:59", text[:10] + text[10:].upper())
    try:
        return datetime.fromisoformat(normal)
    except ValueError:
        return None


def parse_feed_date(raw: str) -> datetime:
    """The aware datetime of a feed date; raise DateError with a human reason otherwise."""
    text = raw.strip()
    if not text:
        raise DateError("entry has no published or updated date")
    moment = _iso(text) if text[:1].isdigit() and "-" in text[:5] else None
    if moment is None:
        moment = _rfc822(text)
    if moment is None:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise DateError(
                f"published date is not a date-time we can read ({show(raw)})"
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DateError(f"published date has no UTC offset: ambiguous, so rejected ({show(raw)})")
    if moment.tzinfo is not UTC and moment.utcoffset() == timedelta(0):
        moment = moment.replace(tzinfo=UTC)
    return moment
