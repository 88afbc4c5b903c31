"""Click tracking, applied to the rendered email (whatever the templates look like).

``tracking.clicks: own`` sends every outbound link of the HTML and text parts through our
signed redirect ``/r/<token>?s=%recipient%``; ``provider`` leaves links for SendGrid to
rewrite; ``off`` changes nothing. In own mode a hidden canary link is added to the HTML
(provider mode leaves the HTML exactly as the templates made it): no person sees it, so whoever follows it is a link scanner, and its clicks (and the
other clicks of that recipient) are counted as suspected bots.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.personalization import RECIPIENT
from newsletter.tracking.tokens import ClickTarget, sign_click
from newsletter.tracking.urls import CANARY_PATH

_HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+")
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


def canary_url(cfg: Settings) -> str:
    """The hidden canary link's target (provider mode; own mode wraps it in a token)."""
    return str(cfg.web.public_url).rstrip("/") + CANARY_PATH


def _own_pages(cfg: Settings) -> tuple[str, ...]:
    base = str(cfg.web.public_url).rstrip("/")
    return (f"{base}/unsubscribe", f"{base}/preferences", f"{base}/r/")


def _tracker(cfg: Settings, key: bytes, issue_id: str) -> Callable[[str], str]:
    base = str(cfg.web.public_url).rstrip("/")
    skip = _own_pages(cfg)
    cache: dict[str, str] = {}

    def track(url: str) -> str:
        if url.startswith(skip):
            return url
        if url not in cache:
            token = sign_click(key, ClickTarget(issue_id=issue_id, url=url))
            cache[url] = f"{base}/r/{token}?s={RECIPIENT}"
        return cache[url]

    return track


def rewrite_links(
    cfg: Settings, key: bytes, issue_id: str, html: str, text: str
) -> tuple[str, str]:
    """Own mode: every http(s) link of both parts through ``/r/<token>`` (same token per URL)."""
    track = _tracker(cfg, key, issue_id)

    def in_html(match: re.Match[str]) -> str:
        url = htmllib.unescape(match.group(1))
        return f'href="{htmllib.escape(track(url), quote=True)}"'

    def in_text(match: re.Match[str]) -> str:
        raw = match.group(0)
        url = raw.rstrip(".,;:)")
        return track(url) + raw[len(url) :]

    return _HREF.sub(in_html, html), _TEXT_URL.sub(in_text, text)


def add_canary(cfg: Settings, key: bytes, issue_id: str, html: str) -> str:
    """Insert the hidden canary link (a signed own-redirect token) right after ``<body>``."""
    token = sign_click(key, ClickTarget(issue_id=issue_id, url=canary_url(cfg), canary=True))
    target = f"{str(cfg.web.public_url).rstrip('/')}/r/{token}?s={RECIPIENT}"
    link = (
        f'<a href="{htmllib.escape(target, quote=True)}" style="display:none;font-size:0;'
        'line-height:0;max-height:0;overflow:hidden;mso-hide:all">&#8203;</a>'
    )
    match = _BODY.search(html)
    if match is None:
        return html
    return html[: match.end()] + link + html[match.end() :]


def tracking_key(cfg: Settings) -> bytes | None:
    """The signing key own tracking needs (``NEWSLETTER_SECRET_KEY``); None otherwise."""
    if cfg.tracking.clicks != "own":
        return None
    from newsletter.config import Secrets

    secret = Secrets.from_env().secret_key
    if secret is None:
        raise ConfigError(
            "tracking.clicks: own needs NEWSLETTER_SECRET_KEY to sign its redirect links"
        )
    return secret.get_secret_value().encode()
