"""``newsletter render`` and ``newsletter preview``: the email files and their checks."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, console, print_json, settings, want_json

IssueArg = Annotated[str, typer.Argument(help="Issue id, e.g. 2026-11-22-sunday.")]
_MARK = {"pass": "[green]pass[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}


def register(app: typer.Typer) -> None:
    app.command("render")(render_command)
    app.command("preview")(preview_command)


def _report(result: Any, as_json: bool, *, verbose: bool) -> None:
    from rich.markup import escape

    files = {
        "email_html": str(result.email_html),
        "email_txt": str(result.email_text),
        "web_html": str(result.web_html),
        "checks_json": str(result.checks_json),
        "index_html": str(result.index_html),
    }
    if as_json:
        print_json(
            {
                "issue_id": result.issue_id,
                "ok": result.ok,
                "size": result.size,
                "files": files,
                "checks": [c.model_dump(mode="json") for c in result.checks],
            }
        )
    else:
        for name, path in files.items():
            console.print(f"{name:12} {escape(path)}")
        counts = {s: sum(c.status == s for c in result.checks) for s in ("pass", "warn", "fail")}
        console.print(
            f"checks: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail "
            f"({result.size / 1024:.1f} KB)"
        )
        for check in result.checks:
            if verbose or check.status != "pass":
                console.print(f"  {_MARK[check.status]} {check.name}: {escape(check.detail)}")
    # One line per failure on stderr, also with --json, so scripts and people both see why.
    if as_json:
        for check in result.failures:
            console.print(f"FAIL {check.name}: {escape(check.detail)}")


def render_command(
    ctx: typer.Context, issue_id: IssueArg, config: ConfigOpt = None, json: JsonOpt = False
) -> None:
    """Render an issue: email.html, email.txt, web.html, checks.json (exit 1 if a check fails)."""
    from newsletter.rendering import render_issue

    cfg = settings(ctx, config)
    result = render_issue(cfg, issue_id)
    _report(result, want_json(ctx, json), verbose=False)
    if not result.ok:
        raise typer.Exit(1)


def preview_command(
    ctx: typer.Context,
    issue_id: IssueArg,
    open_: Annotated[bool, typer.Option("--open", help="Open web.html in a browser.")] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Render an issue for review and show where its files are and how the checks went."""
    from newsletter.rendering import render_issue

    cfg = settings(ctx, config)
    result = render_issue(cfg, issue_id)
    _report(result, want_json(ctx, json), verbose=True)
    if open_:
        import webbrowser

        webbrowser.open(result.web_html.resolve().as_uri())
    if not result.ok:
        raise typer.Exit(1)
