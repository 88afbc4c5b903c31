"""The optional proof-of-work / CAPTCHA hook (``signup.challenge: module:callable``, off by default).

The callable gets a :class:`SignupAttempt` and answers True to let the signup through. It runs
for the HTML form *and* the JSON API alike (a check the API skips protects nothing). A False,
or an exception, drops the signup silently: the client still gets the usual 202.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from newsletter.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SignupAttempt:
    """What a challenge check can look at: every field posted, the channel and the client."""

    fields: Mapping[str, str]
    channel: str  # form | api
    ip: str
    user_agent: str


class SignupChallenge(Protocol):
    """A proof-of-work or CAPTCHA verifier: True lets the signup through."""

    def __call__(self, attempt: SignupAttempt) -> bool: ...


def load_challenge(path: str | None) -> SignupChallenge | None:
    """Import ``module:callable``; None when no challenge is configured."""
    if not path:
        return None
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        check = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"signup.challenge: cannot load {path!r} ({exc})") from None
    if not callable(check):
        raise ConfigError(f"signup.challenge: {path!r} is not callable")
    result: SignupChallenge = check
    return result


def passes(check: SignupChallenge | None, attempt: SignupAttempt) -> bool:
    """Run the check (if any); an error in it counts as a failure, never as a pass."""
    if check is None:
        return True
    try:
        return bool(check(attempt))
    except Exception:
        return False
