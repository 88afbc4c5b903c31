"""What every command shares: the --config and --json options, loading config, output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from newsletter.archive import Archive
from newsletter.config import Settings, load_config

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Config file (default: $NEWSLETTER_CONFIG or ./config.yaml)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

console = Console(stderr=True, highlight=False)
"""Human-facing output goes to stderr, so stdout stays clean for --json."""


@dataclass
class GlobalOptions:
    config: Path | None = None
    json: bool = False


def global_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def settings(ctx: typer.Context, config: Path | None = None) -> Settings:
    """Load the config named on the command, else the global --config, else the default."""
    return load_config(config or global_options(ctx).config)


def archive(cfg: Settings) -> Archive:
    return Archive(cfg.archive_dir)


def want_json(ctx: typer.Context, flag: bool) -> bool:
    return flag or global_options(ctx).json


def cli_user() -> str:
    """Who runs this command, for audit logs: ``cli:<login name>`` (or ``cli``)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


def print_json(data: Any) -> None:
    """Write JSON to stdout for machines."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
