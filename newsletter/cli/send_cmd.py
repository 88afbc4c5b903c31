"""``newsletter send <id>``: deliver an approved issue, resumably and exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.archive import Archive
from newsletter.cli.common import (
    ConfigOpt,
    JsonOpt,
    cli_user,
    console,
    print_json,
    settings,
    want_json,
)
from newsletter.config import Settings
from newsletter.errors import InputError

if TYPE_CHECKING:
    from newsletter.delivery.dispatcher import SendReport

PROVIDERS = ("sendgrid", "smtp", "outbox")


def register(app: typer.Typer) -> None:
    app.command("send")(send_command)


def send_command(
    ctx: typer.Context,
    issue_id: Annotated[str, typer.Argument(help="The issue id, e.g. 2026-11-22-sunday.")],
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="sendgrid, smtp or outbox (default: delivery.provider)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the audience size and one sample payload.")
    ] = False,
    test_to: Annotated[
        list[str] | None,
        typer.Option(
            "--test-to", help="Send only to this address (repeatable), outside the ledger."
        ),
    ] = None,
    resend_uncertain: Annotated[
        bool,
        typer.Option(
            "--resend-uncertain",
            help="Also resend recipients whose earlier request had an unknown outcome.",
        ),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not show the progress bar.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Send an approved issue to its audience; run again to resume after a crash.

    Exit codes: 0 all sent; 1 some failed or uncertain (see send.json) or the send stopped; 2 bad input; 130 interrupted (resumable).
    """
    from newsletter.config import Secrets
    from newsletter.delivery.dispatcher import send_issue

    if provider is not None and provider not in PROVIDERS:
        raise InputError(f"--provider: must be one of {', '.join(PROVIDERS)} (got {provider!r})")
    cfg = settings(ctx, config)
    tests = tuple(a.strip() for item in test_to or () for a in item.split(",") if a.strip())
    if not dry_run and not tests:
        _gate(cfg, issue_id)
    report = send_issue(
        cfg,
        Secrets.from_env(),
        issue_id,
        provider=provider,
        dry_run=dry_run,
        test_to=tests,
        resend_uncertain=resend_uncertain,
        progress=not no_progress and console.is_terminal,
    )
    _log_send(cfg, issue_id, report, dry_run)
    if want_json(ctx, json):
        print_json(report.model_dump(mode="json"))
    else:
        _print_human(issue_id, report)
    if report.interrupted:
        raise typer.Exit(130)
    if not report.dry_run and (report.failed or report.uncertain):
        raise typer.Exit(1)


def _gate(cfg: Settings, issue_id: str) -> None:
    """Refuse to send content other than what was approved, or with failed checks."""
    from newsletter.workflow import SENDABLE_STATUSES, ensure_sendable

    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)
    if plan.status in SENDABLE_STATUSES:
        ensure_sendable(archive, plan)


def _log_send(cfg: Settings, issue_id: str, report: SendReport, dry_run: bool) -> None:
    """The audit log's record of a send or test send (counts only, never addresses)."""
    if dry_run:
        return
    from newsletter.workflow import now_iso

    Archive(cfg.archive_dir).append_history(
        issue_id,
        {
            "at": now_iso(),
            "who": cli_user(),
            "action": "test" if report.test else "send",
            "status": report.status,
            "sent": report.sent,
            "failed": report.failed,
            "uncertain": report.uncertain,
        },
    )


def _print_human(issue_id: str, report: SendReport) -> None:
    if report.dry_run:
        import json as jsonlib

        console.print(
            f"{issue_id}: dry run via {report.provider}: {report.audience} recipients "
            f"({report.already_sent} already sent, {report.suppressed} suppressed)",
            soft_wrap=True,
        )
        if report.sample is not None:
            typer.echo(jsonlib.dumps(report.sample, indent=2, ensure_ascii=False)[:20000])
        return
    if report.test:
        console.print(f"{issue_id}: test sent to {report.sent} of {report.audience} addresses")
        for err in report.errors:
            console.print(f"  {err}", markup=False)
        return
    console.print(
        f"{issue_id}: {report.status}: {report.sent} sent ({report.sent_this_run} now, "
        f"{report.already_sent} before), {report.failed} failed, {report.uncertain} uncertain, "
        f"{report.suppressed} suppressed, audience {report.audience}, {report.duration_s:.1f}s",
        markup=False,
        soft_wrap=True,
    )
    if report.interrupted:
        console.print(f"interrupted: run `newsletter send {issue_id}` again to resume")
