"""The ``newsletter`` command: the Typer app and its error handling."""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

# Typer ships its own copy of Click; its usage errors are only reachable from there.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

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


_registered = False


def _register() -> None:
    """Attach the commands of each stage once (imported here to keep start-up cheap elsewhere).

    ``main()`` may run many times in one process (tests, an embedding tool): registering
    again would add every command once more each call.
    """
    global _registered
    if _registered:
        return
    from newsletter.cli import commands

    commands.register(app)
    _registered = True


def _usage_line(exc: ClickException) -> str:
    """A usage error as one line: the command it concerns, the problem, where to look."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    where = f"{path}: " if path else ""
    message = " ".join(exc.format_message().split())
    hint = " (see --help)" if isinstance(exc, UsageError) else ""
    return f"{where}{message}{hint}"


def _fail(message: str, code: int) -> None:
    console.print(f"[red]error:[/red] {escape(message)}", markup=True, soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; failures become one line on stderr and an exit code."""
    _register()
    try:
        code = app(args=argv, prog_name="newsletter", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help(), markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:  # a bad option or argument, before any work
        _fail(_usage_line(exc), exc.exit_code)
    except NewsletterError as exc:
        _fail(str(exc), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("NEWSLETTER_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(
            f"unexpected {type(exc).__name__}: {first} (set NEWSLETTER_DEBUG=1 for the traceback)",
            1,
        )
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
