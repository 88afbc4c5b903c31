"""Turn pydantic validation errors into one short, human reason naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_RANGES = {"score": "between 0 and 10"}
_NOT_DATETIME = {"datetime_parsing", "datetime_from_date_parsing", "datetime_type"}
_NOT_NUMBER = {"float_type", "float_parsing", "int_type", "int_parsing"}
_OUT_OF_RANGE = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}


def show(value: Any, limit: int = 60) -> str:
    """A short repr of an offending value, cut so a 2 MiB string never lands in a message."""
    whole = isinstance(value, float) and value.is_integer()
    text = str(int(value)) if whole else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ".".join(parts) or "value"


def describe_error(err: ErrorDetails) -> str:
    """One pydantic error as ``<field> <what is wrong> (got <value>)``."""
    loc = tuple(err.get("loc", ()))
    field = _field(loc)
    kind = err["type"]
    got = err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    index = next((p for p in loc if isinstance(p, int)), None)
    if index is not None and kind in ("string_type", "string_too_long", "value_error"):
        return f"{field} must be a list of strings (item {index + 1} is {show(got)})"
    if kind == "missing":
        return f"missing required field: {field}"
    if kind in ("list_type", "tuple_type"):
        return f"{field} must be a list of strings (got {show(got)})"
    if kind == "string_type":
        return f"{field} must be a string (got {show(got)})"
    if kind == "string_unicode":  # a lone surrogate, e.g. the legal JSON escape "\ud800"
        return f"{field} contains a lone surrogate, half of a character (got {show(got)})"
    if kind == "string_too_long" or (kind == "too_long" and isinstance(got, str)):
        length = len(got) if isinstance(got, str) else 0
        return f"{field} is longer than {ctx.get('max_length', 0):,} characters (got {length:,})"
    if kind == "string_pattern_mismatch":
        if field in ("id", "slug"):
            return f"{field} must use only a-z, 0-9 and '-' (got {show(got)})"
        return f"{field} has the wrong form (got {show(got)})"
    if kind in _NOT_NUMBER:
        return f"{field} must be a number (got {show(got)})"
    if kind == "finite_number":
        return f"{field} must be a finite number (got {show(got)})"
    if kind in _OUT_OF_RANGE:
        span = _RANGES.get(field)
        if span is None:
            bound = next(iter(ctx.values()), "?")
            span = {"greater_than_equal": "at least", "less_than_equal": "at most"}.get(
                kind, kind.replace("_", " ")
            ) + f" {bound}"
        return f"{field} must be {span} (got {show(got)})"
    if kind in _NOT_DATETIME:
        return f"{field} is not an ISO 8601 date-time ({show(got)})"
    if kind == "timezone_aware":
        return f"{field} has no UTC offset: ambiguous, so rejected"
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing"):
        return f"{field} is not a date such as 2026-11-17 (got {show(got)})"
    if kind == "date_from_datetime_inexact":
        return f"{field} must be a date without a time (got {show(got)})"
    if kind == "literal_error":
        return f"{field} must be one of {ctx.get('expected', '?')} (got {show(got)})"
    if kind == "value_error":
        message = str(ctx.get("error") or err.get("msg", "")).removeprefix("Value error, ")
        return message if message.startswith(field) else f"{field} {message}"
    return f"{field}: {err.get('msg', kind)} (got {show(got)})"


def describe(exc: ValidationError) -> str:
    """All of a ValidationError as one line: missing fields together, then the first other."""
    errors = exc.errors(include_url=False)
    missing = [_field(tuple(e["loc"])) for e in errors if e["type"] == "missing"]
    others = [e for e in errors if e["type"] != "missing"]
    parts: list[str] = []
    if missing:
        label = "field" if len(missing) == 1 else "fields"
        parts.append(f"missing required {label}: {', '.join(missing)}")
    if others:
        parts.append(describe_error(others[0]))
    reason = "; ".join(parts)
    if len(others) > 1:
        reason += f" (and {len(others) - 1} more)"
    return reason


def json_value_reason(exc: ValueError) -> str:
    """A ValueError from ``json.loads`` (not a syntax error) as one human reason."""
    text = str(exc)
    if "integer string conversion" in text:  # Python's 4,300-digit limit on int()
        return "invalid JSON (a number has more than 4,300 digits)"
    return f"invalid JSON ({' '.join(text.split())[:120]})"
