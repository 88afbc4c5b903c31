"""Structured logs: ``event key=value ...`` lines, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER_NAME = "newsletter.scheduling"


def _text(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if text == "" or any(ch.isspace() or ch in '"=' for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """``2026-11-22T08:00:01Z INFO send.done edition=sunday issue=2026-11-22-sunday``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = getattr(record, "fields", {}) or {}
        parts = [stamp, record.levelname, record.getMessage()]
        parts += [f"{k}={_text(v)}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info and record.levelno >= logging.ERROR:
            line += " " + _text(self.formatException(record.exc_info).splitlines()[-1])
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in (getattr(record, "fields", {}) or {}).items():
            data[key] = value.isoformat() if isinstance(value, datetime) else value
        return json.dumps(data, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(
    *, json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the scheduler's (and APScheduler's) logs to ``stream`` (stderr) in one format."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    for name in (LOGGER_NAME, "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level if name == LOGGER_NAME else logging.WARNING)
        logger.propagate = False


def log_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (None values are left out)."""
    logger = logging.getLogger(LOGGER_NAME)
    clean = {k: v for k, v in fields.items() if v is not None}
    logger.log(level, event, extra={"fields": clean})
