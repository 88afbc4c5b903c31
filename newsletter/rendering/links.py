"""Links in the rendered issue: which URLs may appear, and UTM parameters on outbound ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from newsletter.config import UtmConfig
from newsletter.models import IssuePlan, check_http_url
from newsletter.personalization import TOKENS

_UNSAFE = re.compile(r"[\"'<>`\\\x00-\x1f\x7f]")
URL_TOKENS: tuple[str, ...] = tuple(t for t in TOKENS if t.endswith("_url%"))


def is_token(value: str) -> bool:
    """True when ``value`` is one of the per-recipient placeholder tokens."""
    return value in TOKENS


def safe_url(value: object) -> str | None:
    """The URL if it is an absolute http(s) URL without quotes or angle brackets, else None.

    The models validate URLs already; this is the template layer's own line of defence.
    """
    if not isinstance(value, str):
        return None
    try:
        url = check_http_url(value)
    except ValueError:
        return None
    if _UNSAFE.search(url):
        return None
    return url


def utm_params(utm: UtmConfig, plan: IssuePlan) -> dict[str, str]:
    """The UTM parameters for one issue (empty when UTM tagging is disabled)."""
    if not utm.enabled:
        return {}
    campaign = utm.campaign.format_map(
        _Defaulting(edition=plan.edition, date=plan.id[:10], id=plan.id, number=plan.number or "")
    )
    params = {"utm_source": utm.source, "utm_medium": utm.medium, "utm_campaign": campaign}
    return {k: v for k, v in params.items() if v}


class _Defaulting(dict[str, object]):
    """format_map mapping that leaves unknown ``{names}`` as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def add_utm(url: str, params: Mapping[str, str]) -> str:
    """Append UTM parameters to an http(s) URL.

    The existing query string is kept byte for byte (parameters are appended, never
    re-encoded), a parameter the URL already carries is not overridden, the fragment stays
    last, and placeholder tokens or non-http(s) URLs are returned unchanged.
    """
    if not params or not url.lower().startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    present = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    extra = urlencode([(k, v) for k, v in params.items() if k not in present])
    if not extra:
        return url
    base, hash_, fragment = url.partition("#")
    if parts.query:
        sep = "" if base.endswith(("&", "?")) else "&"
    else:
        sep = "" if base.endswith("?") else "?"
    return f"{base}{sep}{extra}{hash_}{fragment}"
