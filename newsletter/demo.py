"""``make demo``: the whole job on the sample content, in a fresh ``.demo/`` workspace.

Assembles and renders the sample Sunday issue, seeds the sample subscribers, approves the issue
as an editor would, sends it through the outbox, and prints where to look. Every step is the
same function the CLI, the scheduler and the web app call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path

import yaml
from rich.console import Console

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings, load_config
from newsletter.curation import assemble_issue
from newsletter.delivery import send_issue
from newsletter.errors import NewsletterError
from newsletter.rendering import render_issue
from newsletter.store.db import open_store
from newsletter.store.importer import import_csv
from newsletter.workflow import approve_issue

DEMO_DIR = Path(".demo")
# Signs the demo's unsubscribe links only; a real deployment sets its own in the environment.
DEMO_SECRET = "demo-only-not-a-secret"

out = Console(highlight=False, soft_wrap=True)


def _workspace(repo: Path, folder: Path) -> Path:
    """A fresh folder with a config that reads the repo's content and keeps state inside."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    data = yaml.safe_load((repo / "config.yaml").read_text(encoding="utf-8"))
    data["content"]["news"] = [str((repo / "content" / "news.jsonl").resolve())]
    data["content"]["guides"] = str((repo / "content" / "guides").resolve())
    data["storage"]["url"] = "sqlite:///newsletter.db"
    data["archive"]["dir"] = "issues"
    data["delivery"]["provider"] = "outbox"
    data["delivery"]["outbox"]["dir"] = "outbox"
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def run(at: datetime, repo: Path, folder: Path) -> int:
    """Run the demo; returns the process exit code."""
    cfg: Settings = load_config(_workspace(repo, folder))
    secrets = Secrets.from_env({**os.environ, "NEWSLETTER_SECRET_KEY": DEMO_SECRET})

    assembled = assemble_issue(cfg, "sunday", at)
    plan = assembled.plan
    out.print(
        f"[bold]1. assemble[/bold]  {plan.id}: {len(plan.stories)} stories, "
        f"{len(plan.guides)} guides (window {plan.window.start:%a %d %b %H:%M} → "
        f"{plan.window.end:%a %d %b %H:%M} UTC)"
    )
    for problem in assembled.problems:
        out.print(f"   skipped {problem}")
    out.print(f"   subject:   {plan.subject}")
    out.print(f"   preheader: {plan.preheader}")
    for number, story in enumerate(plan.stories, start=1):
        guide = f"  → {story.guide.title}" if story.guide else ""
        also = f" (+{len(story.also)} sources)" if story.also else ""
        out.print(f"   {number:2}. [{story.item.score:g}] {story.item.title}{also}{guide}")

    rendered = render_issue(cfg, plan.id)
    fails = [c for c in rendered.checks if c.status == "fail"]
    warns = [c for c in rendered.checks if c.status == "warn"]
    out.print(
        f"[bold]2. render[/bold]    email.html {rendered.size / 1024:.1f} KB; checks: "
        f"{len(rendered.checks) - len(fails) - len(warns)} pass, {len(warns)} warn, "
        f"{len(fails)} fail"
    )
    for check in warns:
        out.print(f"   warn {check.name}: {check.detail}", markup=False)
    if fails:
        for check in fails:
            out.print(f"   FAIL {check.name}: {check.detail}", markup=False)
        return 1

    engine = open_store(cfg)
    imported = import_csv(engine, repo / "content" / "subscribers.csv", source="demo")
    out.print(f"[bold]3. subscribers[/bold] {imported.added} imported from content/subscribers.csv")

    approve_issue(Archive(cfg.archive_dir), plan.id)
    out.print("[bold]4. approve[/bold]   draft → approved (what an editor does on the edit page)")

    report = send_issue(cfg, secrets, plan.id, provider="outbox", progress=False, engine=engine)
    out.print(
        f"[bold]5. send[/bold]      outbox: {report.sent} sent of an audience of "
        f"{report.audience} ({report.failed} failed, {report.uncertain} uncertain)"
    )

    issue_dir = cfg.archive_dir / plan.id
    outbox = cfg.path(cfg.delivery.outbox.dir) / plan.id
    out.print("\n[bold]Where to look[/bold]")
    out.print(f"  the plan          {issue_dir / 'issue.json'}")
    out.print(f"  the email         {issue_dir / 'email.html'}  (and email.txt, web.html)")
    out.print(f"  the checks        {issue_dir / 'checks.json'}")
    out.print(f"  what was sent     {outbox}/*.eml  ({report.sent} messages)")
    out.print(f"  the send report   {issue_dir / 'send.json'}")
    out.print(f"  the archive       {cfg.archive_dir / 'index.html'}")
    out.print(
        f"  preview it        .venv/bin/newsletter --config {folder / 'config.yaml'} serve"
        "   → http://127.0.0.1:8000/"
    )
    return 0 if report.failed == 0 and report.uncertain == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m newsletter.demo", description=__doc__)
    parser.add_argument(
        "--at",
        default="2026-11-22T08:00:00+00:00",
        help="assemble the Sunday issue due at or after this time",
    )
    parser.add_argument("--dir", type=Path, default=DEMO_DIR, help="the demo workspace")
    args = parser.parse_args()
    try:
        sys.exit(run(datetime.fromisoformat(args.at), Path.cwd(), args.dir))
    except NewsletterError as exc:
        out.print(f"[red]error:[/red] {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
