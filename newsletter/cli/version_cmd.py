"""``newsletter version`` and ``newsletter config``: what is installed and configured."""

from __future__ import annotations

from importlib.metadata import version

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, print_json, settings, want_json


def register(app: typer.Typer) -> None:
    app.command("version")(version_command)
    app.command("config")(config_command)


def version_command() -> None:
    """Print the installed version."""
    typer.echo(version("almanac-newsletter"))


def config_command(ctx: typer.Context, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Validate the configuration and print it (secrets are never part of it)."""
    cfg = settings(ctx, config)
    data = cfg.model_dump(mode="json")
    if want_json(ctx, json):
        print_json(data)
    else:
        import yaml

        typer.echo(f"# {cfg.source}: valid")
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
