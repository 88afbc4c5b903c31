"""``newsletter subscribers ...`` and ``newsletter db upgrade``: the audience in the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, console, print_json, settings, want_json
from newsletter.errors import InputError

subscribers_app = typer.Typer(
    name="subscribers",
    help="Add, remove, import, export, list and count subscribers.",
    no_args_is_help=True,
)
db_app = typer.Typer(name="db", help="Database maintenance.", no_args_is_help=True)

StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="Only this status: active, unsubscribed, bounced, complained."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(subscribers_app)
    app.add_typer(db_app)


def _engine(ctx: typer.Context, config: Path | None):  # type: ignore[no-untyped-def]
    from newsletter.store import open_store

    return open_store(settings(ctx, config))


def _check_status(status: str | None) -> None:
    from newsletter.store.tables import SUBSCRIBER_STATUSES

    if status is not None and status not in SUBSCRIBER_STATUSES:
        raise InputError(
            f"--status: must be one of {', '.join(SUBSCRIBER_STATUSES)} (got {status!r})"
        )


@subscribers_app.command("add")
def add_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to subscribe.")],
    name: Annotated[str | None, typer.Option("--name", help="The subscriber's name.")] = None,
    editions: Annotated[
        str, typer.Option("--editions", help="midweek, sunday or midweek,sunday (default both).")
    ] = "",
    resubscribe: Annotated[
        bool, typer.Option("--resubscribe", help="Re-activate an address that unsubscribed.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Subscribe an address, or update its name and editions."""
    from newsletter.store.importer import control_character
    from newsletter.store.subscribers import BadAddress, add_subscriber

    control = control_character(name or "")
    if control is not None:
        raise InputError(f"--name: control character {control} (names are one line of text)")
    engine = _engine(ctx, config)
    try:
        sub, created = add_subscriber(
            engine, email, name, editions, source="cli", resubscribe=resubscribe
        )
    except (BadAddress, ValueError) as exc:
        raise InputError(f"{email}: {exc}") from None
    if want_json(ctx, json):
        print_json({"created": created, "subscriber": sub.to_json()})
        return
    verb = "added" if created else "updated"
    note = "" if sub.status == "active" else f" (status stays {sub.status})"
    console.print(f"{verb} {sub.email} [{sub.editions}]{note}", markup=False)


@subscribers_app.command("remove")
def remove_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to unsubscribe.")],
    purge: Annotated[
        bool, typer.Option("--purge", help="Erase the person's data (GDPR), not just unsubscribe.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Unsubscribe an address (the row is kept so imports cannot bring it back)."""
    from newsletter.store.subscribers import purge as purge_subscriber
    from newsletter.store.subscribers import unsubscribe

    engine = _engine(ctx, config)
    if purge:
        found = purge_subscriber(engine, email)
        if want_json(ctx, json):
            print_json({"email": email.strip().lower(), "purged": found})
        elif found:
            console.print(f"purged {email.strip().lower()}")
        if not found:
            raise InputError(f"{email}: no such subscriber")
        return
    sub = unsubscribe(engine, email)
    if sub is None:
        raise InputError(f"{email}: no such subscriber")
    if want_json(ctx, json):
        print_json(sub.to_json())
    else:
        console.print(f"{sub.email}: {sub.status}")


@subscribers_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header: email,name,editions.")],
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import subscribers from CSV; bad rows are reported (file:line: reason) and skipped."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from newsletter.store.importer import import_csv

    engine = _engine(ctx, config)
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = import_csv(engine, file, progress=step)
    for problem in report.problems:
        console.print(problem, markup=False, soft_wrap=True)
    if want_json(ctx, json):
        print_json(report.to_json())
    else:
        console.print(
            f"{file}: {report.rows} rows: {report.added} added, {report.updated} updated, "
            f"{report.kept_inactive} left inactive, {report.skipped} skipped "
            f"in {report.duration_s:.2f}s",
            soft_wrap=True,
        )


@subscribers_app.command("export")
def export_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="Write here (default: standard output).")
    ] = None,
    status: StatusOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Export subscribers as CSV (email,name,editions,status,source,created_at)."""
    from newsletter.archive import write_atomic
    from newsletter.store.importer import export_csv

    _check_status(status)
    engine = _engine(ctx, config)
    if file is None:
        n = export_csv(engine, sys.stdout, status=status)
    else:
        import io

        buf = io.StringIO()
        n = export_csv(engine, buf, status=status)
        write_atomic(file, buf.getvalue())
    console.print(f"exported {n} subscribers" + (f" to {file}" if file else ""))


@subscribers_app.command("list")
def list_command(
    ctx: typer.Context,
    status: StatusOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """List subscribers (JSON Lines with --json)."""
    import json as jsonlib

    from newsletter.store.subscribers import iter_subscribers

    _check_status(status)
    engine = _engine(ctx, config)
    as_json = want_json(ctx, json)
    out = sys.stdout
    for sub in iter_subscribers(engine, status=status):
        if as_json:
            out.write(jsonlib.dumps(sub.to_json(), ensure_ascii=False) + "\n")
        else:
            out.write(f"{sub.email}\t{sub.name or ''}\t{sub.editions}\t{sub.status}\n")


@subscribers_app.command("stats")
def stats_command(ctx: typer.Context, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Counts by status and by edition."""
    from newsletter.store.subscribers import stats

    data = stats(_engine(ctx, config))
    if want_json(ctx, json):
        print_json(data)
        return
    by_status = data["by_status"]
    editions = data["active_by_edition"]
    assert isinstance(by_status, dict) and isinstance(editions, dict)
    typer.echo(f"total        {data['total']}")
    for status, n in by_status.items():
        typer.echo(f"{status:<12} {n}")
    for edition, n in editions.items():
        typer.echo(f"active/{edition:<5} {n}")
    typer.echo(f"suppressed   {data['suppressed']}")


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Apply the database migrations (also done automatically when the store is opened)."""
    from newsletter.store.db import create_engine_for, current_revision, upgrade

    cfg = settings(ctx, config)
    engine = create_engine_for(cfg.storage_url)
    upgrade(engine)
    console.print(f"database at revision {current_revision(engine)}")
