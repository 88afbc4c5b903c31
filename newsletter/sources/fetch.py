"""Fetch a feed over http(s) with a timeout and a size limit; never any other scheme."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "almanac-newsletter (+https://almanac.example)"
ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, application/x-ndjson;q=0.9, application/json;q=0.8, */*;q=0.5"
)


class FetchError(Exception):
    """The feed could not be fetched; the message is one line for the user."""


@dataclass(frozen=True)
class Fetched:
    """A fetched document: its bytes and the media type the server declared."""

    body: bytes
    content_type: str


def _opener() -> urllib.request.OpenerDirector:
    # Only http(s) handlers: a redirect to file:, ftp: or data: fails instead of being followed.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def fetch_url(url: str, timeout: float, max_bytes: int) -> Fetched:
    """GET ``url``; raise FetchError with a one-line reason on any failure."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT})
    try:
        with _opener().open(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"could not fetch: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"could not fetch: {exc.reason}") from None
    except TimeoutError:
        raise FetchError(f"could not fetch: no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(f"could not fetch: {exc or type(exc).__name__}") from None
    if len(body) > max_bytes:
        raise FetchError(f"could not fetch: larger than {max_bytes:,} bytes")
    return Fetched(body=body, content_type=content_type)
