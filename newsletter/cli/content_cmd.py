"""``newsletter check-content``: load the news and guides and report every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, console, print_json, settings, want_json

ContentOpt = Annotated[
    Path | None,
    typer.Option(
        "--content",
        help="Read DIR/*.jsonl, DIR/*.xml|rss|atom|json feeds and DIR/guides/*.md "
        "instead of the configured content.",
        metavar="DIR",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("check-content")(check_content_command)


def check_content_command(
    ctx: typer.Context,
    content: ContentOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Load the content, print counts and every rejected line as path:line: reason.

    Exits 0 when content loaded (even with problems reported), 2 when nothing could be loaded.
    """
    from newsletter.sources import load_content

    cfg = settings(ctx, config)
    result = load_content(cfg, content)
    news, guides = len(result.catalog.news), len(result.catalog.guides)
    if want_json(ctx, json):
        print_json(
            {
                "news": news,
                "guides": guides,
                "sources": [
                    {"origin": s.origin, "kind": s.kind, "items": s.items, "problems": s.problems}
                    for s in result.sources
                ],
                "problems": [
                    {"path": p.path, "line": p.line, "reason": p.reason, "message": str(p)}
                    for p in result.problems
                ],
            }
        )
    else:
        for source in result.sources:
            console.print(
                f"{source.origin}: {source.items} items, {source.problems} problems",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for problem in result.problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"loaded {news} news items and {guides} guides; {len(result.problems)} problems",
            markup=False,
        )
    if news == 0 and guides == 0:
        if not want_json(ctx, json):
            console.print("error: no content could be loaded", markup=False)
        raise typer.Exit(code=2)
