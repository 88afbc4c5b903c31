"""``newsletter report <id>``: what readers did with an issue, per story and per guide."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, archive, print_json, settings, want_json


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    ctx: typer.Context,
    issue_id: Annotated[str, typer.Argument(help="The issue id, e.g. 2026-11-22-sunday.")],
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Delivered, bounces, complaints, opens (human and machine) and clicks per story and guide."""
    from sqlalchemy.exc import DBAPIError

    from newsletter.config import Secrets
    from newsletter.reporting import build_report
    from newsletter.reporting.alerts import evaluate, mail_editors, record_alerts
    from newsletter.store.db import open_store

    cfg = settings(ctx, config)
    plan = archive(cfg).load_plan(issue_id)
    # A read: try the schema as it is (no migration run at start-up, a third of a second),
    # and migrate only when a table or column is missing.
    engine = open_store(cfg, migrate=False)
    try:
        try:
            with engine.connect() as conn:
                report = build_report(conn, cfg, plan)
        except DBAPIError:
            engine.dispose()
            engine = open_store(cfg)
            with engine.connect() as conn:
                report = build_report(conn, cfg, plan)
        found = evaluate(
            cfg, issue_id, report.sent, report.delivered, report.complained, report.bounced.total
        )
        record_alerts(engine, cfg, found, mail=mail_editors(Secrets.from_env()))
    finally:
        engine.dispose()
    if want_json(ctx, json):
        print_json(report.model_dump(mode="json"))
        return
    r = report
    out = typer.echo
    out(f"{r.issue_id}  {r.subject}")
    out(f"audience {r.audience}  sent {r.sent}  delivered {r.delivered}  deferred {r.deferred}")
    b = r.bounced
    out(
        f"bounced {b.total} (hard {b.hard}, soft {b.soft}, blocked {b.blocked})  dropped {r.dropped}"
    )
    out(f"complained {r.complained} ({r.complaint_rate:.3%} of delivered; line 0.1 %, limit 0.3 %)")
    out(f"unsubscribed {r.unsubscribed} ({r.unsubscribe_rate:.3%} of delivered)")
    o = r.opens
    out(
        f"opens: {o.unique_human} unique human ({o.rate:.1%} of delivered), "
        f"{o.unique_machine} machine (Apple MPP and proxies), {o.total} in all"
    )
    c = r.clicks
    out(
        f"clicks: {c.unique_clickers} unique clickers ({c.rate:.1%} of delivered), {c.total} "
        f"clicks; {c.suspected_bots} from {c.suspected_bot_clickers} suspected bots, apart"
    )
    for link in c.by_link:
        ref = link.item_id or link.slug or ""
        out(f"  {link.unique:>6} {link.total:>7}  {link.kind:<6} {ref}  {link.label}")
