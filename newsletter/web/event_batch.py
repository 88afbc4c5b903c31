"""A webhook body into events, each validated on its own: one bad event never sinks a batch.

SendGrid retries a batch that did not get a 2xx for 24 hours, so a batch that can never be
stored (one event with a lone surrogate, a NUL PostgreSQL text refuses, absurd nesting) would
come back again and again and block the good events in it. Each bad event is skipped with a
reason (the caller logs it); the rest are applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 16
"""Deeper than any real SendGrid event (custom args are flat)."""
MAX_EVENT_BYTES = 64 * 1024


class NotAnArray(ValueError):
    """The body is not a JSON array at all (a 400)."""


def _problem(event: Any, escapes: bool = True) -> str | None:
    """Why an event cannot be stored, or None when it can.

    ``escapes`` is False when the body holds no ``\\u`` escape at all: a lone surrogate or a
    NUL can then not be in any string (raw ones are not valid UTF-8 JSON), so flat string
    values need no look. Nested values are always walked, for their depth.
    """
    if not isinstance(event, dict):
        return "not a JSON object"
    for key, value in event.items():
        if escapes and (why := _text_problem(key)) is not None:
            return why
        if isinstance(value, str):
            if escapes and (why := _text_problem(value)) is not None:
                return why
        elif isinstance(value, dict | list) and (why := _nested_problem(value)) is not None:
            return why
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return "no event name"
    email = event.get("email")
    if email is not None and not isinstance(email, str):
        return "email is not a string"
    return None


def _nested_problem(root: dict[str, Any] | list[Any]) -> str | None:
    stack: list[tuple[Any, int]] = [(root, 2)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if (why := _text_problem(key)) is not None:
                    return why
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and (why := _text_problem(value)) is not None:
            return why
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate"
    return None


def _top_level_items(body: bytes) -> Iterator[bytes]:
    """The raw bytes of each element of a top-level JSON array, without parsing them.

    Used only when the whole body cannot be parsed at once (an element nested deeper than
    Python's recursion limit): strings and brackets are tracked by hand.
    """
    i = body.find(b"[")
    if i < 0 or body[:i].strip():
        raise NotAnArray("the body must be a JSON array of events")
    depth = 0
    start = i + 1
    in_string = escape = False
    for pos in range(i + 1, len(body)):
        ch = body[pos]
        if in_string:
            if escape:
                escape = False
            elif ch == 0x5C:  # backslash
                escape = True
            elif ch == 0x22:
                in_string = False
            continue
        if ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
        elif ch in (0x5D, 0x7D):
            if depth == 0:  # the closing bracket of the array
                if body[start:pos].strip():
                    yield body[start:pos]
                return
            depth -= 1
        elif ch == 0x2C and depth == 0:
            yield body[start:pos]
            start = pos + 1
    raise NotAnArray("the body is not a complete JSON array")


def split_events(body: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """The storable events of a batch, and one reason per event skipped (``event N: why``)."""
    try:
        batch = json.loads(body)
    except RecursionError:
        batch = None
    except ValueError:
        raise NotAnArray("the body is not JSON") from None
    if batch is None:
        items: list[Any] = []
        for raw in _top_level_items(body):
            if len(raw) > MAX_EVENT_BYTES:
                items.append(_Unparsable("larger than 64 KB"))
                continue
            try:
                items.append(json.loads(raw))
            except RecursionError:
                items.append(_Unparsable(f"nested deeper than {MAX_DEPTH} levels"))
            except ValueError:
                items.append(_Unparsable("not valid JSON"))
        batch = items
    if not isinstance(batch, list):
        raise NotAnArray("the body must be a JSON array of events")
    good: list[dict[str, Any]] = []
    skipped: list[str] = []
    escapes = b"\\u" in body
    for n, event in enumerate(batch):
        why = event.why if isinstance(event, _Unparsable) else _problem(event, escapes)
        if why is None:
            good.append(event)
        else:
            skipped.append(f"event {n}: {why}")
    return good, skipped


class _Unparsable:
    def __init__(self, why: str) -> None:
        self.why = why
