"""The ``newsletter`` command-line interface."""

from newsletter.cli.main import app, main

__all__ = ["app", "main"]
