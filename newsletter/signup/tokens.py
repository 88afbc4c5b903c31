"""Confirmation tokens (random, only their hash stored) and the signup form's signed timestamp."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Literal

TOKEN_BYTES = 32
# A token is URL-safe base64 of 32 random bytes: exactly 43 characters of this alphabet.
TOKEN_LENGTH = 43
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_token() -> str:
    """A fresh confirmation token (256 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def plausible_token(token: str | None) -> bool:
    """Whether ``token`` has the shape of one of ours (checked before any database look-up)."""
    return token is not None and len(token) == TOKEN_LENGTH and set(token) <= _ALPHABET


def _stamp_mac(key: bytes, body: str) -> str:
    mac = hmac.new(hashlib.sha256(b"almanac-signup-stamp:" + key).digest(), body.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()[:18]).rstrip(b"=").decode()


def make_stamp(key: bytes, now: float, min_seconds: float) -> str:
    """The hidden form field recording when the page was served and its minimum fill time."""
    body = f"{int(now)}.{int(min_seconds)}"
    return f"{body}.{_stamp_mac(key, body)}"


StampState = Literal["ok", "early", "old", "bad"]


def stamp_state(key: bytes, stamp: str | None, now: float, max_age: float) -> StampState:
    """``ok``; ``early`` (posted before its minimum time); ``old``; or ``bad`` (not ours)."""
    if not stamp or len(stamp) > 100:
        return "bad"
    body, _, sig = stamp.rpartition(".")
    issued, _, minimum = body.partition(".")
    if not (issued.isdigit() and minimum.isdigit() and sig):
        return "bad"
    if not hmac.compare_digest(sig.encode(), _stamp_mac(key, body).encode()):
        return "bad"
    age = now - int(issued)
    if age < int(minimum):
        return "early"
    return "ok" if age <= max_age else "old"


def stamp_ok(key: bytes, stamp: str | None, now: float, max_age: float) -> bool:
    """True when the stamp is ours, its minimum time has passed and it is not too old."""
    return stamp_state(key, stamp, now, max_age) == "ok"
