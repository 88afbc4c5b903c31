"""``newsletter schedule run | list``, ``newsletter status`` and ``newsletter approve``."""

from __future__ import annotations

import json as jsonlib
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from newsletter.cli.common import (
    ConfigOpt,
    JsonOpt,
    archive,
    cli_user,
    console,
    print_json,
    settings,
    want_json,
)
from newsletter.config import Settings
from newsletter.errors import InputError

NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Pretend it is this time (ISO 8601 with offset); for tests."),
]


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(
        help="Run the scheduler in the foreground, or list the next fire times.",
        no_args_is_help=True,
    )
    schedule.command("run")(run_command)
    schedule.command("list")(list_command)
    app.add_typer(schedule, name="schedule")
    app.command("status")(status_command)
    app.command("approve")(approve_command)


def parse_now(value: str | None) -> datetime | None:
    """Parse ``--now``; a time without an offset is bad input (exit 2)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: not an ISO 8601 date-time ({value!r})") from None
    if parsed.tzinfo is None:
        raise InputError(f"--now: add a UTC offset, e.g. {value}+00:00")
    return parsed


def _when(value: datetime) -> dict[str, str]:
    return {"local": value.isoformat(), "utc": value.astimezone(UTC).isoformat()}


def upcoming(cfg: Settings, now: datetime, count: int = 1) -> list[dict[str, Any]]:
    """Per edition: its schedule and the next ``count`` slots with their assemble times."""
    from newsletter.models import issue_id
    from newsletter.scheduling.runner import human
    from newsletter.scheduling.slots import assemble_time, next_assemble, next_slot

    rows: list[dict[str, Any]] = []
    for edition, ed in cfg.editions.items():
        slots: list[dict[str, Any]] = []
        after = now
        for _ in range(count):
            slot = next_slot(ed.schedule, ed.zone, after)
            slots.append(
                {
                    "issue_id": issue_id(slot, edition),
                    "assemble": _when(assemble_time(slot, ed.assemble_lead)),
                    "send": _when(slot),
                }
            )
            after = slot
        assemble_at, _slot = next_assemble(ed.schedule, ed.zone, ed.assemble_lead, now)
        rows.append(
            {
                "edition": edition,
                "schedule": ed.schedule,
                "timezone": ed.timezone,
                "assemble_lead": human(ed.assemble_lead),
                "auto_approve": ed.auto_approve,
                "next_assemble": _when(assemble_at),
                "next_send": slots[0]["send"],
                "slots": slots,
            }
        )
    return rows


def list_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json: JsonOpt = False,
    now: NowOpt = None,
    count: Annotated[int, typer.Option("--count", min=1, max=50, help="Slots per edition.")] = 1,
) -> None:
    """Print the next assemble and send times of each edition (its own zone and UTC)."""
    cfg = settings(ctx, config)
    at = parse_now(now) or datetime.now(UTC)
    rows = upcoming(cfg, at, count)
    if want_json(ctx, json):
        print_json({"now": at.astimezone(UTC).isoformat(), "editions": rows})
        return
    for row in rows:
        flag = " auto-approve" if row["auto_approve"] else ""
        typer.echo(
            f"{row['edition']}: {row['schedule']} {row['timezone']} lead {row['assemble_lead']}{flag}"
        )
        typer.echo(
            f"  next assemble  {row['next_assemble']['local']}  ({row['next_assemble']['utc']})"
        )
        for slot in row["slots"]:
            typer.echo(f"  {slot['issue_id']}  assemble {slot['assemble']['local']}  send {slot['send']['local']}  ({slot['send']['utc']})")  # fmt: skip


def run_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json: JsonOpt = False,
    once: Annotated[
        bool, typer.Option("--once", help="Do what is due now, then exit (no daemon).")
    ] = False,
    now: NowOpt = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log one JSON object per line.")
    ] = False,
) -> None:
    """Run the scheduler in the foreground (SIGTERM / Ctrl-C stop it cleanly)."""
    from newsletter.scheduling.logs import setup_logging
    from newsletter.scheduling.runner import SlotRunner, run_once, run_scheduler

    cfg = settings(ctx, config)
    at = parse_now(now)
    if at is not None and not once:
        raise InputError("--now: only with --once (the running scheduler uses the real clock)")
    setup_logging(json_lines=log_json or cfg.scheduling.log_json)
    runner = SlotRunner(cfg)
    if once:
        outcomes = run_once(runner, at)
        if want_json(ctx, json):
            print_json([o.as_dict() for o in outcomes])
        else:
            for o in outcomes:
                typer.echo(
                    f"{o.issue_id} {o.step}: {o.status}{' - ' + o.detail if o.detail else ''}"
                )
        if any(o.status == "failed" for o in outcomes):
            raise typer.Exit(1)
        return
    run_scheduler(runner)


def status_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json: JsonOpt = False,
    now: NowOpt = None,
) -> None:
    """Show the last and next runs per edition, the issues, the last send report and alerts."""
    from newsletter.scheduling.claims import SlotStore
    from newsletter.scheduling.pipeline import read_alerts

    cfg = settings(ctx, config)
    at = parse_now(now) or datetime.now(UTC)
    store = SlotStore.open(cfg)
    arch = archive(cfg)
    nexts = {row["edition"]: row for row in upcoming(cfg, at)}
    editions = []
    for edition in cfg.editions:
        runs = [r.as_dict() for r in store.runs(edition, limit=4)]
        nxt = nexts[edition]
        editions.append(
            {
                "edition": edition,
                "last_runs": runs,
                "next_assemble": nxt["next_assemble"],
                "next_send": nxt["next_send"],
            }
        )
    plans, problems = arch.scan()
    issues = [
        {"id": p.id, "edition": p.edition, "slot": p.slot.isoformat(), "status": p.status}
        for p in plans
    ]
    report: dict[str, Any] | None = None
    for plan in sorted(plans, key=lambda p: p.slot, reverse=True):
        path = arch.file(plan.id, "send.json")
        if path.is_file():
            try:
                report = {"issue_id": plan.id, "report": jsonlib.loads(path.read_text("utf-8"))}
            except (OSError, ValueError):
                report = {"issue_id": plan.id, "report": None, "error": f"{path}: unreadable"}
            break
    alerts = read_alerts(cfg)
    deliverability = _deliverability_alerts(cfg)
    data: dict[str, Any] = {
        "now": at.astimezone(UTC).isoformat(),
        "editions": editions,
        "issues": issues,
        "last_send_report": report,
        "alerts": alerts,
        "deliverability_alerts": deliverability,
        "problems": problems,
    }
    for problem in problems:  # an unreadable issue.json is shown, never silently left out
        console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    if want_json(ctx, json):
        print_json(data)
        return
    for ed in editions:
        typer.echo(f"{ed['edition']}: next assemble {ed['next_assemble']['local']}, next send {ed['next_send']['local']}")  # fmt: skip
        for run in ed["last_runs"]:
            typer.echo(f"  {run['issue_id']} {run['step']}: {run['status']}  {run['detail'] or ''}".rstrip())  # fmt: skip
    typer.echo("issues:" if issues else "issues: none")
    for issue in issues:
        typer.echo(f"  {issue['id']}  {issue['status']}")
    if report is not None:
        text = jsonlib.dumps(report["report"])
        text = text if len(text) <= 400 else text[:399] + "…"
        typer.echo(f"last send report ({report['issue_id']}): {text}")
    for alert in alerts[-5:]:
        typer.echo(f"alert {alert.get('kind')}: {alert.get('message')}")
    for item in deliverability:
        typer.echo(f"ALERT {item['kind']}: {item['message']}")


def _deliverability_alerts(cfg: Settings) -> list[dict[str, Any]]:
    """Complaint and bounce alerts recorded by the report (``report_alerts``), newest first."""
    from newsletter.reporting import recent_alerts
    from newsletter.store.db import open_store

    engine = open_store(cfg)
    try:
        return [a.as_dict() for a in recent_alerts(engine, limit=5)]
    finally:
        engine.dispose()


def approve_command(
    ctx: typer.Context,
    issue: Annotated[str, typer.Argument(help="Issue id, e.g. 2026-11-22-sunday.")],
    override_checks: Annotated[
        str | None,
        typer.Option(
            "--override-checks",
            metavar="REASON",
            help="Approve although a pre-send check failed; the reason is recorded and logged.",
        ),
    ] = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Approve a draft so the scheduler sends it at its slot (exit 1 if not approvable).

    Records the content hash of what is approved: any later change to issue.json stops the
    send until it is approved again. A failed pre-send check blocks approval unless
    --override-checks gives a reason.
    """
    from newsletter.workflow import approve_issue

    if override_checks is not None and not override_checks.strip():
        raise InputError("--override-checks: give the reason for sending despite failed checks")
    cfg = settings(ctx, config)
    plan = approve_issue(archive(cfg), issue, who=cli_user(), override_checks=override_checks)
    if want_json(ctx, json):
        print_json({"id": plan.id, "status": plan.status, "slot": plan.slot.isoformat()})
    else:
        console.print(f"{plan.id}: approved (slot {plan.slot.isoformat()})")
