"""Editor-side protections: HTTP basic auth, CSRF tokens and origin checks, loopback rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

from newsletter.config import Secrets

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
SESSION_COOKIE = "almanac_editor"
CSRF_FIELD = "csrf_token"


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    name = host.strip().lower().strip("[]")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(netloc: str) -> str:
    """The host part of ``host[:port]`` or ``[v6]:port``."""
    return urlsplit(f"//{netloc}").hostname or ""


@dataclass(frozen=True)
class EditorGuard:
    """Decides who may see editor pages.

    With editor credentials configured, every editor request needs HTTP basic auth. Without
    them, editor pages are open only on a loopback bind *and* when the request names a
    loopback host (a reverse proxy or a DNS-rebinding page would name another one).
    """

    user: str | None
    password: str | None
    bind_host: str

    @classmethod
    def from_secrets(cls, secrets_: Secrets, bind_host: str) -> EditorGuard:
        password = secrets_.editor_password.get_secret_value() if secrets_.editor_password else None
        return cls(user=secrets_.editor_user, password=password, bind_host=bind_host)

    @property
    def has_credentials(self) -> bool:
        return bool(self.user and self.password)

    @property
    def login_required(self) -> bool:
        return self.has_credentials or not is_loopback(self.bind_host)

    def check(self, request: Request) -> None:
        """Raise 401/403 unless this request may see editor pages."""
        if self.has_credentials:
            if not self._basic_ok(request.headers.get("authorization", "")):
                raise HTTPException(
                    status_code=401,
                    detail="Editor pages need a login.",
                    headers={"WWW-Authenticate": 'Basic realm="Almanac editor", charset="UTF-8"'},
                )
            return
        if not is_loopback(self.bind_host):
            raise HTTPException(
                status_code=403,
                detail="Editor pages are disabled: set NEWSLETTER_EDITOR_USER and "
                "NEWSLETTER_EDITOR_PASSWORD to serve them beyond this machine.",
            )
        if not is_loopback(_host_name(request.headers.get("host", ""))):
            raise HTTPException(
                status_code=403,
                detail="Editor pages without a login answer only on localhost: set "
                "NEWSLETTER_EDITOR_USER and NEWSLETTER_EDITOR_PASSWORD behind a proxy.",
            )

    def _basic_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep or self.user is None or self.password is None:
            return False
        # Compare both parts every time so the timing does not tell which one was wrong.
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


class Csrf:
    """Double-submit CSRF protection bound to a per-browser session cookie.

    The token is ``HMAC(key, session)``: a page embeds it in its forms, and a POST must carry
    the token matching its session cookie. A cross-origin ``Origin``/``Referer`` is refused
    outright.
    """

    def __init__(self, key: bytes, trusted_hosts: frozenset[str] = frozenset()) -> None:
        self._key = hashlib.sha256(b"almanac-csrf:" + key).digest()
        self._trusted = frozenset(h.lower() for h in trusted_hosts)

    def session(self, request: Request) -> str | None:
        value = request.cookies.get(SESSION_COOKIE)
        return value if value and 20 <= len(value) <= 100 else None

    def token_for(self, session: str) -> str:
        mac = hmac.new(self._key, session.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def begin(self, request: Request) -> tuple[str, bool]:
        """This browser's session id, and whether it is new (then call :meth:`remember`)."""
        session = self.session(request)
        if session is not None:
            return session, False
        return secrets.token_urlsafe(32), True

    def remember(self, request: Request, response: Response, session: str) -> None:
        """Set the session cookie (HttpOnly, SameSite=Strict, Secure over https)."""
        response.set_cookie(
            SESSION_COOKIE,
            session,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    def verify(self, request: Request, token: str | None) -> None:
        """Raise 403 unless the request is same-origin and carries its session's token."""
        check_same_origin(request, self._trusted)
        session = self.session(request)
        if not token or session is None:
            raise HTTPException(status_code=403, detail="Missing form token: reload the page.")
        if not hmac.compare_digest(token.encode(), self.token_for(session).encode()):
            raise HTTPException(status_code=403, detail="Invalid form token: reload the page.")


def check_same_origin(request: Request, trusted: frozenset[str] = frozenset()) -> None:
    """Refuse a request whose Origin (or, lacking one, Referer) names another site.

    Same site means the request's own ``Host``, or one of ``trusted`` (the public URL's
    host, for a reverse proxy that rewrites ``Host``).
    """
    allowed = {request.headers.get("host", "").lower(), *trusted}
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc.lower() not in allowed:
            raise HTTPException(status_code=403, detail="Cross-site request refused.")
        return
    referer = request.headers.get("referer")
    if referer and urlsplit(referer).netloc.lower() not in allowed:
        raise HTTPException(status_code=403, detail="Cross-site request refused.")


_TOKEN_PARAM = re.compile(r"([?&]t=)[^&#\s]*")


def redact_tokens(text: str) -> str:
    """Hide subscriber tokens (``?t=…``) in a URL or log line."""
    return _TOKEN_PARAM.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Keeps per-subscriber tokens out of uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True
