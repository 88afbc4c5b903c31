"""The list of command modules. Each stage's module has ``register(app)``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach every command to the app."""
    from newsletter.cli import curation_cmd, version_cmd

    version_cmd.register(app)
    curation_cmd.register(app)
