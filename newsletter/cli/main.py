"""The ``newsletter`` command: the Typer app and its error handling."""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from newsletter.cli.common import ConfigOpt, JsonOpt, console, global_options
from newsletter.errors import NewsletterError

app = typer.Typer(
    name="newsletter",
    help="Assemble, render, preview and send the Almanac Midweek and Sunday newsletters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(ctx: typer.Context, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    opts = global_options(ctx)
    opts.config = config
    opts.json = json


def _register() -> None:
    """Attach the commands of each stage (imported here to keep start-up cheap elsewhere)."""
    from newsletter.cli import commands

    commands.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; failures become one line on stderr and an exit code."""
    _register()
    try:
        app(args=argv, prog_name="newsletter")
    except NewsletterError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("NEWSLETTER_DEBUG"):
            raise
        console.print(
            f"[red]error:[/red] unexpected {type(exc).__name__}: {escape(str(exc))} "
            "(set NEWSLETTER_DEBUG=1 for the traceback)",
            markup=True,
            soft_wrap=True,
        )
        sys.exit(1)


__all__ = ["app", "main"]
