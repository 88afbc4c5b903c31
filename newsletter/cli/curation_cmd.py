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
    app.add_typer(curation_app)


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
    number = "" if plan.number is None else f"  (#{plan.number})"
    out.print(f"{plan.id}{number}  → {result.path}", markup=False)
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
                {
                    "id": r.id,
                    "guide": r.guide,
                    "relevance": r.relevance,
                    "confidence": r.confidence,
                    "cluster": r.cluster,
                    "cluster_confidence": r.cluster_confidence,
                    "reason": r.reason,
                }
                for r in rows
            ]
        )
        return
    from rich.table import Table

    table = Table("id", "guide", "confidence", "cluster", "reason")
    for r in rows:
        table.add_row(r.id, r.guide or "—", f"{r.confidence:.2f}", r.cluster, r.reason)
    console.print(table)


curation_app = typer.Typer(
    name="curation",
    help="Train the curation model and measure it against labelled content.",
    no_args_is_help=True,
)


@curation_app.command("train")
def train_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="PATH", help="Write the model here (default: curation.model)."
        ),
    ] = None,
    no_corrections: Annotated[
        bool,
        typer.Option("--no-corrections", help="Ignore the editors' overrides.json files."),
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Rebuild the model from the labelled folders (curation.training) and every correction."""
    from newsletter.curation.learning import train_model

    cfg = settings(ctx, config)
    result = train_model(cfg, out, corrections=not no_corrections)
    if want_json(ctx, json):
        print_json(
            {
                "path": str(result.path),
                "trained_on": list(result.model.trained_on),
                "examples": result.model.examples,
                "merge_threshold": result.model.clustering.merge_threshold,
                "two_report_threshold": result.model.clustering.two_report_threshold,
            }
        )
        return
    for line in result.model.trained_on:
        console.print(f"learned from {line}", markup=False)
    ex = result.model.examples
    console.print(
        f"{ex.get('items', 0)} labelled items ({ex.get('paired_items', 0)} with a guide), "
        f"{ex.get('story_pairs', 0)} item pairs ({ex.get('same_story_pairs', 0)} one story)"
        f" → {result.path}",
        markup=False,
    )
    learned = result.model.clustering
    console.print(
        f"thresholds learned on held-out subjects: merge {learned.merge_threshold}, "
        f"two reports alone {learned.two_report_threshold}",
        markup=False,
    )


@curation_app.command("eval")
def eval_command(
    ctx: typer.Context,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            metavar="FILE",
            help="labels.json to score (default: every labelled training folder).",
        ),
    ] = None,
    content: ContentOpt = None,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv", help="Also cross-validate: leave guides out, train on one set, score another."
        ),
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Pairing accuracy and cluster precision/recall of the model on labelled content."""
    from newsletter.curation.learning import evaluate_model

    cfg = settings(ctx, config)
    report = evaluate_model(cfg, labels, content, cv=cv)
    if want_json(ctx, json):
        print_json(report)
        return
    from rich.table import Table

    table = Table("set", "items", "pairing", "cluster P", "cluster R")
    for s in report["sets"]:  # type: ignore[attr-defined]
        table.add_row(
            str(s["name"]),
            str(s["items"]),
            f"{s['pairing_accuracy']:.3f}",
            f"{s['cluster_precision']:.3f}",
            f"{s['cluster_recall']:.3f}",
        )
    console.print(table)
    if "note" in report:
        console.print(f"note: {report['note']}", markup=False)
    cvr = report.get("cross_validation")
    if isinstance(cvr, dict):
        cv_table = Table(
            "validation", "held out / trained on", "items", "pairing", "cluster P", "cluster R"
        )
        for row in cvr["leave_guides_out"]:
            cv_table.add_row(
                f"leave-guides-out seed {row['seed']}",
                ", ".join(row["held_out_guides"]),
                str(row["items"]),
                f"{row['pairing_accuracy']:.3f}",
                f"{row['cluster_precision']:.3f}",
                f"{row['cluster_recall']:.3f}",
            )
        for row in cvr["cross_set"]:
            cv_table.add_row(
                f"score {row['name']}",
                ", ".join(row["trained_on"]),
                str(row["items"]),
                f"{row['pairing_accuracy']:.3f}",
                f"{row['cluster_precision']:.3f}",
                f"{row['cluster_recall']:.3f}",
            )
        console.print(cv_table)
        learned = ", ".join(
            f"{row['merge_threshold']}/{row['two_report_threshold']}"
            for row in [*cvr["leave_guides_out"], *cvr["cross_set"]]
        )
        console.print(f"merge/two-report thresholds each row learned: {learned}", markup=False)
        calibration = Table(
            "held-out decision", "stated confidence", "count", "mean stated", "share right"
        )
        for row in cvr.get("calibration", []):
            calibration.add_row(
                str(row["decision"]),
                str(row["confidence"]),
                str(row["count"]),
                f"{row['stated']:.3f}",
                f"{row['right']:.3f}",
            )
        console.print(calibration)
