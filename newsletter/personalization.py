"""Per-recipient values: placeholder tokens, signed unsubscribe tokens and links.

The issue is rendered once with the tokens below in place; delivery substitutes each
recipient's values (SendGrid ``substitutions``, or string replacement for SMTP and outbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from urllib.parse import quote

UNSUBSCRIBE_URL = "%unsubscribe_url%"
PREFERENCES_URL = "%preferences_url%"
FIRST_NAME = "%first_name%"
RECIPIENT = "%recipient%"
"""The recipient's signed token alone: own click tracking (``/r/<link>?s=%recipient%``)."""
TOKENS: tuple[str, ...] = (UNSUBSCRIBE_URL, PREFERENCES_URL, FIRST_NAME)
FIRST_NAME_FALLBACK = "there"
FIRST_NAME_HTML = "%first_name_html%"
"""The HTML part's copy of :data:`FIRST_NAME`: the name HTML-escaped (see :func:`html_tokens`)."""

_TOKEN_ID = re.compile(r"[0-9]{1,18}")
_TITLES = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "mx",
        "miss",
        "prof",
        "professor",
        "sir",
        "dame",
        "lord",
        "lady",
        "rev",
        "fr",
        "sra",
        "mme",
        "mlle",
        "herr",
        "frau",
        "capt",
        "col",
        "gen",
        "lt",
        "sgt",
        "hon",
    ]
)
_SUFFIXES = frozenset(
    [
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "phd",
        "md",
        "dds",
        "esq",
        "mba",
        "msc",
        "bsc",
        "ba",
        "ma",
        "obe",
        "mbe",
        "cbe",
    ]
)
_MAX_GREETING = 40


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
    # ASCII digits only: str.isdigit() also accepts "²" or "١", which int() may refuse.
    if not _TOKEN_ID.fullmatch(sid) or not sig:
        return None
    return int(sid)


def verify_token(key: bytes, token: str, subscriber_id: int, email: str) -> bool:
    """True when the token was signed with ``key`` for this subscriber and address."""
    if not token.isascii():  # also keeps lone surrogates away from encode()
        return False
    expected = sign_token(key, subscriber_id, email)
    return hmac.compare_digest(expected.encode(), token.encode())


def _bare(word: str) -> str:
    return word.strip(".").lower()


def _wordlike(word: str) -> bool:
    """A word a person is greeted by: letters (with ' or -), not an initial, digits or markup."""
    core = word.replace("'", "").replace("-", "").replace("\u2019", "")
    return len(core) >= 2 and core.isalpha()


def _is_initial(word: str) -> bool:
    core = word.rstrip(".")
    return len(core) == 1 and core.isalpha()


def first_name(name: str | None) -> str:
    """The name to greet someone by ("Hi {first_name},"), or a friendly fallback.

    "Katherine Johnson" and "Johnson, Katherine" give "Katherine"; a title with only a
    surname keeps the title ("Dr. Who" gives "Dr. Who"), "Dr. Jane Smith" gives "Jane",
    "J. Robert Oppenheimer" gives "Robert". When the name does not look like one (markup,
    digits, a lone title or initial, several commas, far too long) the fallback is used.
    The result is plain text: escape it for HTML (:func:`html_values`).
    """
    text = " ".join((name or "").split())
    if text.count(",") == 1:
        before, after = (part.strip() for part in text.split(","))
        if after and all(_bare(w) in _SUFFIXES for w in after.split()):
            text = before  # "Katherine Johnson, PhD"
        elif before and after:
            text = after  # "Johnson, Katherine": the given names come after the comma
        else:
            return FIRST_NAME_FALLBACK
    elif "," in text:
        return FIRST_NAME_FALLBACK
    words = text.split()
    while len(words) > 1 and _bare(words[-1]) in _SUFFIXES:
        words.pop()
    titles: list[str] = []
    while len(words) > 1 and _bare(words[0]) in _TITLES:
        titles.append(words.pop(0))
    greeting = FIRST_NAME_FALLBACK
    if titles and len(words) == 1:
        if _wordlike(words[0]):
            greeting = f"{titles[-1]} {words[0]}"  # a title and a surname: "Dr. Who"
    else:
        for i, word in enumerate(words):
            if _wordlike(word):
                greeting = word
                break
            if not (_is_initial(word) and i < len(words) - 1):
                break
    return greeting if len(greeting) <= _MAX_GREETING else FIRST_NAME_FALLBACK


def html_values(values: Mapping[str, str]) -> dict[str, str]:
    """The HTML-escaped copies of the personal values, keyed by their HTML tokens."""
    return {FIRST_NAME_HTML: html.escape(values.get(FIRST_NAME, FIRST_NAME_FALLBACK))}


def html_tokens(html_part: str) -> str:
    """The HTML part with its personal-value tokens swapped for their escaped variants.

    The text part and the HTML part share one set of substitutions (SendGrid's), so the HTML
    part names the escaped copy of a value (``%first_name_html%``) and the text part the
    plain one: a name typed as ``<b>Bob</b>`` arrives as text in both.
    """
    return html_part.replace(FIRST_NAME, FIRST_NAME_HTML)


def recipient_values(
    key: bytes, public_url: str, subscriber_id: int, email: str, name: str | None
) -> dict[str, str]:
    """The values that replace the placeholder tokens for one recipient."""
    token = quote(sign_token(key, subscriber_id, email), safe=".")
    base = public_url.rstrip("/")
    values = {
        UNSUBSCRIBE_URL: f"{base}/unsubscribe?t={token}",
        PREFERENCES_URL: f"{base}/preferences?t={token}",
        FIRST_NAME: first_name(name),
        RECIPIENT: token,
    }
    values.update(html_values(values))
    return values


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each token in ``text`` with its value (for providers without substitutions).

    One pass: a value that happens to contain a token (a name typed as ``%unsubscribe_url%``)
    is not substituted again.
    """
    if not values:
        return text
    pattern = re.compile("|".join(re.escape(t) for t in sorted(values, key=len, reverse=True)))
    return pattern.sub(lambda m: values[m.group(0)], text)
