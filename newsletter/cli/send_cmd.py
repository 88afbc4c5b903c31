"""``newsletter send <id>``: deliver an approved issue, resumably and exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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
    override_checks: Annotated[
        str | None,
        typer.Option(
            "--override-checks",
            metavar="REASON",
            help="Send although pre-send checks failed; the reason is logged and kept in send.json.",
        ),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not show the progress bar.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Send an approved issue to its audience; run again to resume after a crash.

    Exit codes: 0 all sent; 3 done, with recipients to look at (failed, uncertain or deferred:
    see send.json; run again to retry the deferred); 1 the send stopped; 2 bad input; 130
    interrupted (resumable).
    """
    from newsletter.config import Secrets
    from newsletter.delivery.dispatcher import send_issue

    if provider is not None and provider not in PROVIDERS:
        raise InputError(f"--provider: must be one of {', '.join(PROVIDERS)} (got {provider!r})")
    if override_checks is not None and not override_checks.strip():
        raise InputError("--override-checks: give the reason for sending despite failed checks")
    cfg = settings(ctx, config)
    tests = tuple(a.strip() for item in test_to or () for a in item.split(",") if a.strip())
    if not dry_run and not tests:
        override_checks = _gate(cfg, issue_id, override_checks)
    bar = _ProgressBar() if not no_progress and console.is_terminal else None
    try:
        report = send_issue(
            cfg,
            Secrets.from_env(),
            issue_id,
            provider=provider,
            dry_run=dry_run,
            test_to=tests,
            resend_uncertain=resend_uncertain,
            override_checks=override_checks,
            progress=bar,
            log=_log,
        )
    finally:
        if bar is not None:
            bar.close()
    _log_send(cfg, issue_id, report, dry_run)
    if want_json(ctx, json):
        print_json(report.model_dump(mode="json"))
    else:
        _print_human(issue_id, report)
    if report.interrupted:
        raise typer.Exit(130)
    if not report.dry_run and (report.failed or report.uncertain or report.deferred):
        raise typer.Exit(3)


def _log(message: str) -> None:
    console.print(message, markup=False, soft_wrap=True)


class _ProgressBar:
    """The send's progress on the terminal (the dispatcher only calls start and advance)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f}/s" if speed else "-/s")

        self.progress: Any = Progress(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def start(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("send", total=total or None)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def close(self) -> None:
        self.progress.stop()


def _gate(cfg: Settings, issue_id: str, override_checks: str | None) -> str | None:
    """Refuse to send content other than what was approved, or with failed checks.

    Returns the reason failed checks may be sent anyway: the one given now, else the one
    recorded when the issue was approved (the delivery gate then lets them through too).
    """
    from newsletter.workflow import SENDABLE_STATUSES, ensure_sendable, read_approval

    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)
    if plan.status in SENDABLE_STATUSES:
        ensure_sendable(archive, plan, override_checks=override_checks)
    if override_checks:
        return override_checks
    recorded = (read_approval(archive, issue_id) or {}).get("override_checks")
    return str(recorded) if recorded else None


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
        f"{report.deferred} deferred, {report.suppressed} suppressed, audience {report.audience}, {report.duration_s:.1f}s",
        markup=False,
        soft_wrap=True,
    )
    if report.reconciled:
        console.print(f"{report.reconciled} uncertain recipients were confirmed by events")
    if report.interrupted:
        console.print(f"interrupted: run `newsletter send {issue_id}` again to resume")
    elif report.deferred:
        console.print(
            f"{report.deferred} deferred by the provider: run `newsletter send {issue_id}` "
            "again to retry them"
        )
