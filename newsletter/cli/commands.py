"""The list of command modules. Each stage's module has ``register(app)``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach every command to the app."""
    from newsletter.cli import (
        content_cmd,
        curation_cmd,
        edit_cmd,
        render_cmd,
        report_cmd,
        schedule_cmd,
        send_cmd,
        signup_cmd,
        subscribers_cmd,
        version_cmd,
        web_cmd,
        worker_cmd,
    )

    version_cmd.register(app)
    content_cmd.register(app)
    curation_cmd.register(app)
    render_cmd.register(app)
    edit_cmd.register(app)
    subscribers_cmd.register(app)
    signup_cmd.register(app)
    send_cmd.register(app)
    report_cmd.register(app)
    web_cmd.register(app)
    schedule_cmd.register(app)
    worker_cmd.register(app)
