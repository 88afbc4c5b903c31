"""``newsletter assemble`` and ``newsletter pair``: build an issue plan; explain pairings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, console, print_json, settings, want_json

ContentOpt = Annotated[
    Path | None,
    typer.Option(
        "--content",
        metavar="DIR",
        help="Read DIR/*.jsonl and DIR/guides/*.md instead of the config's.",
        exists=True,
        file_okay=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("assemble")(assemble_command)
    app.command("pair")(pair_command)


def assemble_command(
    ctx: typer.Context,
    edition: Annotated[
        Literal["sunday", "midweek"], typer.Option("--edition", help="Which edition.")
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ISO_DATETIME",
            help="Date-time with a UTC offset; the issue is the next slot at or after it (default: now).",
        ),
    ] = None,
    content: ContentOpt = None,
    pin: Annotated[
        list[str] | None,
        typer.Option("--pin", metavar="ID", help="Always include this item id (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="ID", help="Never include this item id (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an issue past draft.")] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Assemble the issue for the next EDITION slot and write issues/<id>/issue.json."""
    from newsletter.curation import assemble_issue, parse_at

    when = parse_at(at) if at is not None else datetime.now(UTC)
    cfg = settings(ctx, config)
    result = assemble_issue(
        cfg,
        edition,
        when,
        content_dir=content,
        pins=tuple(pin or ()),
        excludes=tuple(exclude or ()),
        force=force,
    )
    for problem in result.problems:
        console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False, soft_wrap=True)
    plan = result.plan
    if want_json(ctx, json):
        print_json(
            {
                "path": str(result.path),
                "plan": plan.model_dump(mode="json"),
                "problems": [str(p) for p in result.problems],
                "warnings": result.warnings,
            }
        )
        return
    out = console
    out.print(f"{plan.id}  (#{plan.number})  → {result.path}", markup=False)
    out.print(
        f"window:    {plan.window.start.isoformat()} – {plan.window.end.isoformat()}", markup=False
    )
    out.print(f"subject:   {plan.subject}", markup=False)
    out.print(f"preheader: {plan.preheader}", markup=False)
    for n, story in enumerate(plan.stories, start=1):
        item = story.item
        also = f" +{len(story.also)} more" if story.also else ""
        guide = f"  → guide {story.guide.slug} ({story.guide.reason})" if story.guide else ""
        out.print(
            f"{n:2}. [{item.score:g}] {item.title} · {item.source}{also}{guide}",
            markup=False,
            soft_wrap=True,
        )
    out.print(
        f"{len(plan.stories)} stories, {len(plan.guides)} guides, status {plan.status}",
        markup=False,
    )


def pair_command(
    ctx: typer.Context,
    content: ContentOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """For every news item: its best guide (or none), relevance, cluster and the reason."""
    from newsletter.curation import pair_catalog
    from newsletter.sources import load_content

    cfg = settings(ctx, config)
    loaded = load_content(cfg, content)
    for problem in loaded.problems:
        console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    rows = pair_catalog(cfg, loaded.catalog)
    if want_json(ctx, json):
        print_json(
            [
                {"id": r.id, "guide": r.guide, "relevance": r.relevance, "cluster": r.cluster}
                for r in rows
            ]
        )
        return
    from rich.table import Table

    table = Table("id", "guide", "relevance", "cluster", "reason")
    for r in rows:
        table.add_row(r.id, r.guide or "—", f"{r.relevance:.3f}", r.cluster, r.reason)
    console.print(table)
