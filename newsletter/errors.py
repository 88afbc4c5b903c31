"""Exceptions that carry a one-line message for the user and an exit code."""

from __future__ import annotations


class NewsletterError(Exception):
    """A failure the CLI reports as one clear line (exit code 1: the work failed)."""

    exit_code = 1


class InputError(NewsletterError):
    """Bad input or usage: a file, a line, an argument (exit code 2)."""

    exit_code = 2


class ConfigError(InputError):
    """The configuration is invalid; raised before any work starts."""


class IssueNotFoundError(InputError):
    """No issue with that id in the archive."""


class StateError(NewsletterError):
    """The requested action does not fit the issue's current status."""
