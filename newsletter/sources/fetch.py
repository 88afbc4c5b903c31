"""Fetch feeds over http(s): one total deadline, a size limit, charset, gzip, redirects.

``content.fetch_timeout`` bounds the whole fetch (connect, redirects, headers and body), not
each socket read: a watchdog timer shuts the sockets down at the deadline, so a server that
trickles one byte every half second cannot hold a run. ``fetch_all`` fetches several feeds at
once with a small pool of daemon threads and never waits past the deadline (a host name
whose DNS lookup hangs is given up on, its thread left to finish on its own).

Only http(s) is followed, also on redirect. ``user:password@`` in a feed URL is sent as HTTP
Basic authentication (never to another host a redirect leads to). Every failure is a
FetchError whose message is one line.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

USER_AGENT = "almanac-newsletter (+https://almanac.example)"
ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, application/x-ndjson;q=0.9, application/json;q=0.8, */*;q=0.5"
)
FETCH_WORKERS = 4
"""How many feeds are fetched at once: enough to overlap slow servers, few enough to be polite
on a shared machine."""
_CHUNK = 64 * 1024
_SAFE_PATH = "/%:@!$&'()*+,;=~-._"
_SAFE_QUERY = _SAFE_PATH + "?"


class FetchError(Exception):
    """The feed could not be fetched; the message is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(" ".join(reason.split()))


@dataclass(frozen=True)
class Fetched:
    """A fetched document: its bytes, the media type and charset declared, its final URL."""

    body: bytes
    content_type: str
    charset: str | None = None
    url: str = ""
    """The URL the body came from after redirects: relative links resolve against it."""


class _Watchdog:
    """Shuts down every socket of one fetch when its deadline passes."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)


def _handlers(watchdog: _Watchdog) -> list[urllib.request.BaseHandler]:
    """http(s) handlers whose connections register their socket with the watchdog."""

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.timeout = watchdog.remaining()
            super().connect()
            watchdog.watch(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            self.timeout = watchdog.remaining()
            super().connect()
            watchdog.watch(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(SecureConnection, req)

    return [Handler(), SecureHandler()]


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    # Only http(s) handlers: a redirect to file:, ftp: or data: fails instead of being followed.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        *_handlers(watchdog),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _request(url: str) -> urllib.request.Request:
    """The GET for ``url``: IDNA host, percent-encoded non-ASCII path, credentials as a header."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise FetchError("could not fetch: the URL contains a space or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[::1/feed": a broken IPv6 host
        raise FetchError(f"could not fetch: the URL is invalid ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"could not fetch: only http and https URLs are fetched ({parts.scheme})")
    userinfo = parts.netloc.rpartition("@")[0]
    host = parts.hostname or ""
    if not host:
        raise FetchError("could not fetch: the URL has no host")
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
        port = parts.port
    except (UnicodeError, ValueError) as exc:
        raise FetchError(f"could not fetch: the URL's host or port is invalid ({exc})") from None
    if ":" in ascii_host:  # IPv6 literal
        ascii_host = f"[{ascii_host}]"
    netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    clean = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=_SAFE_PATH) or "/",
            quote(parts.query, safe=_SAFE_QUERY),
            "",
        )
    )
    request = urllib.request.Request(
        clean,
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip"},
    )
    if userinfo:
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        # Unredirected: a redirect to another host must not receive the password.
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _decoder(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by header
    raise FetchError(f"could not fetch: unsupported Content-Encoding {encoding!r}")


def _read_body(
    response: http.client.HTTPResponse, watchdog: _Watchdog, timeout: float, max_bytes: int
) -> bytes:
    encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
    decoder = _decoder(encoding)
    declared = response.headers.get("Content-Length")
    too_big = f"could not fetch: larger than {max_bytes:,} bytes"
    chunks: list[bytes] = []
    size = received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except http.client.IncompleteRead as exc:
            raise FetchError(
                f"could not fetch: the download was cut off after {received + len(exc.partial):,}"
                " bytes"
            ) from None
        if watchdog.fired:
            raise FetchError(f"could not fetch: no complete answer within {timeout:g} s")
        if not chunk:
            break
        received += len(chunk)
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, max_bytes + 1 - size)
            except zlib.error:
                raise FetchError("could not fetch: the compressed body is corrupt") from None
            if decoder.unconsumed_tail:
                raise FetchError(too_big)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(too_big)
        chunks.append(chunk)
    if declared is not None and declared.strip().isdigit() and received < int(declared):
        raise FetchError(
            f"could not fetch: the download was cut off ({received:,} of {int(declared):,} bytes)"
        )
    if decoder is not None and not decoder.eof:
        raise FetchError(f"could not fetch: the {encoding} body was cut off")
    return b"".join(chunks)


def _connection_reason(reason: object) -> str:
    if isinstance(reason, str) and reason.startswith("unknown url type:"):
        # The URL asked for was http(s): only a redirect can lead to another scheme.
        scheme = reason.rpartition(":")[2].strip()
        return f"redirected to a {scheme}: URL; only http and https are fetched"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"host not found ({reason.strerror or reason})"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def fetch_url(url: str, timeout: float, max_bytes: int) -> Fetched:
    """GET ``url`` within ``timeout`` seconds in all; raise FetchError (one line) on failure."""
    request = _request(url)
    with _Watchdog(timeout) as watchdog:
        late = f"could not fetch: no complete answer within {timeout:g} s"
        try:
            with _opener(watchdog).open(request, timeout=timeout) as response:
                body = _read_body(response, watchdog, timeout, max_bytes)
                headers = response.headers
                final = response.geturl()
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            if watchdog.fired:
                raise FetchError(late) from None
            if 300 <= exc.code < 400:
                what = "a redirect loop" if "infinite loop" in str(exc.reason) else exc.reason
                raise FetchError(f"could not fetch: HTTP {exc.code}, {what}") from None
            raise FetchError(f"could not fetch: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if watchdog.fired:
                raise FetchError(late) from None
            raise FetchError(f"could not fetch: {_connection_reason(exc.reason)}") from None
        except TimeoutError:
            raise FetchError(late) from None
        except http.client.RemoteDisconnected:
            if watchdog.fired:
                raise FetchError(late) from None
            raise FetchError(
                "could not fetch: the server closed the connection without answering"
            ) from None
        except http.client.BadStatusLine as exc:
            if watchdog.fired:
                raise FetchError(late) from None
            line = str(exc)[:60]
            raise FetchError(
                f"could not fetch: the answer is not HTTP (status line {line})"
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.fired:
                raise FetchError(late) from None
            raise FetchError(f"could not fetch: {exc or type(exc).__name__}") from None
    return Fetched(
        body=body,
        content_type=headers.get_content_type(),
        charset=headers.get_content_charset(),
        url=final,
    )


FetchOutcome = Fetched | FetchError


def fetch_all(
    urls: Sequence[str],
    timeout: float,
    max_bytes: int,
    workers: int = FETCH_WORKERS,
    fetch: Callable[[str, float, int], Fetched] = fetch_url,
) -> list[FetchOutcome]:
    """Fetch ``urls`` concurrently (``workers`` at a time); the outcomes in the same order.

    Each fetch has its own ``timeout``; a fetch whose thread is still stuck (a DNS lookup
    the socket timeout does not cover) a second after its deadline is reported as late.
    """
    outcomes: list[FetchOutcome | None] = [None] * len(urls)
    started: list[float | None] = [None] * len(urls)
    done = threading.Condition()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(urls)):
        todo.put(index)

    def work() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            with done:
                started[index] = time.monotonic()
            try:
                outcome: FetchOutcome = fetch(urls[index], timeout, max_bytes)
            except FetchError as exc:
                outcome = exc
            except Exception as exc:  # never let one feed stop the others
                outcome = FetchError(f"could not fetch: {type(exc).__name__}: {exc}")
            with done:
                if outcomes[index] is None:
                    outcomes[index] = outcome
                    done.notify_all()
                else:
                    return  # given up on as late: a replacement worker took this one's place

    def start_worker() -> None:
        threading.Thread(target=work, name="feed-fetch", daemon=True).start()

    for _ in range(min(workers, len(urls))):
        start_worker()
    late = FetchError(f"could not fetch: no complete answer within {timeout:g} s")
    with done:
        while any(o is None for o in outcomes):
            now = time.monotonic()
            for index, begun in enumerate(started):
                if outcomes[index] is None and begun is not None and now > begun + timeout + 1:
                    outcomes[index] = late
                    start_worker()
            done.wait(0.1)
    return [o for o in outcomes if o is not None]
