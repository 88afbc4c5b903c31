"""``newsletter edit <id>``: the web editor's changes from the command line (same function)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from newsletter.cli.common import (
    ConfigOpt,
    JsonOpt,
    cli_user,
    console,
    print_json,
    settings,
    want_json,
)
from newsletter.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("edit")(edit_command)


def _ids(option: str, value: str) -> list[str]:
    ids = [i.strip() for i in value.split(",") if i.strip()]
    if not ids:
        raise InputError(f"{option}: expected item ids separated by commas")
    return ids


def _guides(values: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for value in values:
        item, sep, slug = value.partition("=")
        if not sep or not item.strip() or not slug.strip():
            raise InputError(f"--guide: expected ITEM_ID=SLUG or ITEM_ID=none (got {value!r})")
        out[item.strip()] = None if slug.strip().lower() == "none" else slug.strip()
    return out


def _pairs(option: str, values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        ids = _ids(option, value)
        if len(ids) != 2:
            raise InputError(f"{option}: expected two item ids A,B (got {value!r})")
        out.append((ids[0], ids[1]))
    return out


def edit_command(
    ctx: typer.Context,
    issue_id: Annotated[str, typer.Argument(help="Issue id, e.g. 2026-11-22-sunday.")],
    subject: Annotated[str | None, typer.Option("--subject", help="New subject line.")] = None,
    preheader: Annotated[str | None, typer.Option("--preheader", help="New preheader.")] = None,
    note_file: Annotated[
        Path | None,
        typer.Option("--note-file", help="Editor's note (Markdown) from this file; '-' clears it."),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(
            "--order",
            help="The stories in reading order (item ids, comma-separated); omitted ones are "
            "removed, bench ids are added.",
        ),
    ] = None,
    guide: Annotated[
        list[str] | None,
        typer.Option("--guide", help="ITEM_ID=SLUG to pair a guide, ITEM_ID=none to unpair."),
    ] = None,
    merge: Annotated[
        list[str] | None,
        typer.Option("--merge", help="A,B: story B is the same event as story A (repeatable)."),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="Take this item out of its story as a story of its own."),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", help="Refuse (exit 1) unless the issue is at this version."),
    ] = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Edit an issue: subject, preheader, note, story order, guides, merges and splits.

    Saves issue.json, re-renders the email and its checks, records guide/merge/split choices
    in overrides.json and logs the change; an approved issue goes back to draft.
    """
    from newsletter.editing import Edit, apply_edit

    fields: dict[str, Any] = {}
    if subject is not None:
        fields["subject"] = subject
    if preheader is not None:
        fields["preheader"] = preheader
    if note_file is not None:
        if str(note_file) == "-":
            fields["note"] = None
        else:
            try:
                fields["note"] = note_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"--note-file: {note_file}: cannot read ({exc})") from None
    if order is not None:
        fields["stories"] = _ids("--order", order)
    if guide:
        fields["guides"] = _guides(guide)
    if merge:
        fields["merge"] = _pairs("--merge", merge)
    if split:
        fields["split"] = [i for value in split for i in _ids("--split", value)]
    if not fields:
        raise InputError(
            "nothing to change: give --subject, --preheader, --note-file, --order, --guide, --merge or --split"
        )
    cfg = settings(ctx, config)
    result = apply_edit(cfg, issue_id, Edit(version=version, **fields), who=cli_user())
    failed = [c for c in result.checks if c.status == "fail"]
    if want_json(ctx, json):
        print_json(
            {
                "id": result.plan.id,
                "version": result.version,
                "content_hash": result.content_hash,
                "status": result.plan.status,
                "changes": result.changes,
                "returned_to_draft": result.returned_to_draft,
                "checks": [c.model_dump(mode="json") for c in result.checks],
            }
        )
    elif not result.changes:
        console.print(f"{issue_id}: nothing changed (version {result.version})")
    else:
        console.print(
            f"{issue_id}: version {result.version}: changed {', '.join(result.changes)}",
            markup=False,
        )
        if result.returned_to_draft:
            console.print(f"{issue_id}: it was approved; it is a draft again (approve it again)")
        for check in failed:
            console.print(f"  FAIL {check.name}: {check.detail}", markup=False)
    if failed:
        raise typer.Exit(1)
