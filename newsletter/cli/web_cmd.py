"""``newsletter serve``: the web app (editor preview, unsubscribe, event webhook)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, console, settings
from newsletter.config import Secrets
from newsletter.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: web.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port to bind (default: web.port, 8000)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the editor preview, one-click unsubscribe, preferences and the SendGrid webhook."""
    import logging

    import uvicorn

    from newsletter.web import create_app, startup_warnings
    from newsletter.web.security import RedactTokens, is_loopback

    cfg = settings(ctx, config)
    secrets = Secrets.from_env()
    bind = host or cfg.web.host
    if not is_loopback(bind) and not (secrets.editor_user and secrets.editor_password):
        raise InputError(
            f"--host {bind}: binding beyond loopback needs NEWSLETTER_EDITOR_USER and "
            "NEWSLETTER_EDITOR_PASSWORD (editor pages require a login)"
        )
    for warning in startup_warnings(cfg, secrets):
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, soft_wrap=True)
    app = create_app(cfg, secrets, bind_host=bind)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    uvicorn.run(
        app,
        host=bind,
        port=port if port is not None else cfg.web.port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )
