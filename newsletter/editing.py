"""Edit an issue: the one function behind the web editor, its JSON API and ``newsletter edit``.

:func:`apply_edit` validates an :class:`Edit` against the current plan (every problem names its
field), applies it, bumps the issue's version, saves issue.json, re-renders email.html,
email.txt, web.html and checks.json, records the editor's curation decisions in
overrides.json, and appends what changed to the audit log (``history.jsonl``). An edit of an
approved issue returns it to ``draft``.

The version lives in ``issues/<id>/editor.json`` with the content hash it was given for; a
plan changed outside the editor (a hand edit, a re-assembly) gets the next version the next
time it is read, so a page opened before that change is stale too.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from newsletter.archive import PLAN_FILE, Archive, dump_json, write_atomic
from newsletter.config import Settings
from newsletter.errors import InputError, StateError
from newsletter.models import AlsoRef, GuideCard, IssuePlan, Overrides, Story
from newsletter.rendering import render_issue
from newsletter.rendering.checks import Check
from newsletter.workflow import content_hash, now_iso, withdraw_approval
from newsletter.workspace import Workspace, bench_story, load_workspace

EDITOR_FILE = "editor.json"
LOCK_FILE = ".edit.lock"
SUBJECT_LIMIT = 150
"""Hard limit; the pre-send check already warns beyond 70 characters."""
PREHEADER_LIMIT = 250
NOTE_LIMIT = 2000
EDITABLE_STATUSES = ("draft", "approved")
FIELDS = ("subject", "preheader", "note", "stories", "guides", "merge", "split")


class Edit(BaseModel):
    """One change request (a PATCH body, or the CLI's options). Absent fields are unchanged.

    ``stories`` is the complete new reading order of story lead ids: a missing id removes the
    story, a bench id adds it. ``guides`` maps a story's lead id to a guide slug or ``None``
    (unpair). ``merge`` folds the second story of each pair into the first; ``split`` takes an
    item out of its story's other coverage and makes it a story of its own.
    """

    model_config = ConfigDict(extra="forbid")

    version: int | None = None
    subject: str | None = None
    preheader: str | None = None
    note: str | None = None
    stories: list[str] | None = None
    guides: dict[str, str | None] | None = None
    merge: list[tuple[str, str]] | None = None
    split: list[str] | None = None

    @property
    def given(self) -> set[str]:
        """The fields this edit changes."""
        return {f for f in FIELDS if f in self.model_fields_set}


class EditError(InputError):
    """An edit that cannot apply: the field it concerns and why (HTTP 422)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class StaleVersion(StateError):
    """The edit was made on an older version (HTTP 409); ``changes`` says what happened since."""

    def __init__(self, issue_id: str, given: int, current: int, changes: list[dict[str, Any]]):
        super().__init__(
            f"{issue_id}: version {given} is stale (now {current}): reload and re-apply your edit"
        )
        self.given = given
        self.current = current
        self.changes = changes


@dataclass
class EditResult:
    """What :func:`apply_edit` did."""

    plan: IssuePlan
    version: int
    content_hash: str
    changes: dict[str, Any] = field(default_factory=dict)
    returned_to_draft: bool = False
    checks: list[Check] = field(default_factory=list)


def parse_edit(data: Any) -> Edit:
    """Validate a JSON body as an :class:`Edit`; the error names the field."""
    if not isinstance(data, dict):
        raise EditError("(body)", "must be a JSON object")
    try:
        return Edit.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err.get("msg", "invalid")
        raise EditError(loc, str(msg)) from None


@contextmanager
def issue_lock(archive: Archive, issue_id: str) -> Iterator[None]:
    """Serialise edits of one issue across threads and processes (web app, CLI)."""
    path = archive.file(issue_id, LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(archive: Archive, issue_id: str) -> dict[str, Any] | None:
    path = archive.file(issue_id, EDITOR_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("version"), int):
        return data
    return None


def _write_state(archive: Archive, issue_id: str, version: int, digest: str) -> None:
    write_atomic(
        archive.file(issue_id, EDITOR_FILE),
        dump_json({"version": version, "content_hash": digest}),
    )


def current_version(archive: Archive, plan: IssuePlan) -> int:
    """The plan's version; a plan changed outside the editor gets the next one (logged)."""
    digest = content_hash(plan)
    state = _read_state(archive, plan.id)
    if state is not None and state.get("content_hash") == digest:
        return int(state["version"])
    version = 1 if state is None else int(state["version"]) + 1
    _write_state(archive, plan.id, version, digest)
    if state is not None:
        archive.append_history(
            plan.id,
            {
                "at": now_iso(),
                "who": "outside the editor",
                "action": "external-change",
                "version": version,
                "hash": digest,
            },
        )
    return version


def changes_since(archive: Archive, issue_id: str, version: int) -> list[dict[str, Any]]:
    """The audit records of edits that made versions after ``version``."""
    return [
        r
        for r in archive.read_history(issue_id)
        if isinstance(r.get("version"), int) and r["version"] > version
    ]


# --- validation and application ------------------------------------------------------------


def _text(field_name: str, value: str, limit: int, *, blank_ok: bool) -> str:
    value = value.strip()
    if not blank_ok and not value:
        raise EditError(field_name, "must not be empty")
    if "\r" in value or "\n" in value:
        raise EditError(field_name, "must be one line (no line breaks)")
    if len(value) > limit:
        raise EditError(field_name, f"is {len(value)} characters; the limit is {limit}")
    return value


def _find(stories: list[Story], item_id: str) -> int | None:
    for k, s in enumerate(stories):
        if s.item.id == item_id:
            return k
    return None


def _merge(stories: list[Story], pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    done: list[tuple[str, str]] = []
    for n, (a, b) in enumerate(pairs):
        where = f"merge.{n}"
        if a == b:
            raise EditError(where, f"cannot merge story {a!r} with itself")
        ka, kb = _find(stories, a), _find(stories, b)
        for item_id, k in ((a, ka), (b, kb)):
            if k is None:
                raise EditError(where, f"{item_id!r} is not a story in this issue")
        assert ka is not None and kb is not None
        into, other = stories[ka], stories[kb]
        also = (
            *into.also,
            AlsoRef(source=other.item.source, url=other.item.url, id=other.item.id),
            *other.also,
        )
        stories[ka] = into.model_copy(update={"also": also, "merge_confidence": None})
        del stories[kb]
        done.append((a, b))
    return done


def _split(stories: list[Story], ids: list[str], ws: Workspace) -> list[tuple[str, str]]:
    done: list[tuple[str, str]] = []
    for n, item_id in enumerate(ids):
        where = f"split.{n}"
        owner = next(
            (k for k, s in enumerate(stories) if any(a.id == item_id for a in s.also)), None
        )
        if owner is None:
            if _find(stories, item_id) is not None:
                raise EditError(where, f"{item_id!r} leads its story; split out another item")
            raise EditError(where, f"{item_id!r} is not an item of any story in this issue")
        item = ws.by_id.get(item_id)
        if item is None:
            raise EditError(where, f"{item_id!r} is no longer in the content")
        story = stories[owner]
        rest = tuple(a for a in story.also if a.id != item_id)
        stories[owner] = story.model_copy(update={"also": rest, "merge_confidence": None})
        stories.insert(owner + 1, Story(item=item))
        done.append((story.item.id, item_id))
    return done


def _cards(stories: list[Story], previous: list[GuideCard], ws: Workspace) -> list[GuideCard]:
    before = {c.slug: c for c in previous}
    cards: list[GuideCard] = []
    seen: set[str] = set()
    for s in stories:
        if s.guide is None or s.guide.slug in seen:
            continue
        seen.add(s.guide.slug)
        card = ws.card(s.guide.slug, before)
        if card is not None:
            cards.append(card)
    return cards


@dataclass
class _Applied:
    plan: IssuePlan
    changes: dict[str, Any]
    overrides: Overrides


def _apply(
    cfg: Settings, archive: Archive, plan: IssuePlan, edit: Edit, overrides: Overrides
) -> _Applied:
    """The edited copy of ``plan`` and the new overrides; nothing is written."""
    given = edit.given
    # Shallow: stories and cards are frozen models, and the lists are replaced, never mutated.
    new = plan.model_copy()
    changes: dict[str, Any] = {}
    pins, excludes = list(overrides.pin), list(overrides.exclude)
    guide_over = dict(overrides.guide)
    merges, splits = list(overrides.merge), list(overrides.split)
    if "subject" in given:
        if edit.subject is None:
            raise EditError("subject", "must not be empty")
        value = _text("subject", edit.subject, SUBJECT_LIMIT, blank_ok=False)
        if value != new.subject:
            changes["subject"] = {"from": new.subject, "to": value}
            new.subject = value
    if "preheader" in given:
        value = _text("preheader", edit.preheader or "", PREHEADER_LIMIT, blank_ok=True)
        if value != new.preheader:
            changes["preheader"] = {"from": new.preheader, "to": value}
            new.preheader = value
    if "note" in given:
        note = (edit.note or "").strip()
        if len(note) > NOTE_LIMIT:
            raise EditError("note", f"is {len(note)} characters; the limit is {NOTE_LIMIT}")
        if (note or None) != new.note:
            changes["note"] = {"from": new.note, "to": note or None}
            new.note = note or None
    structural = given & {"stories", "guides", "merge", "split"}
    if structural:
        ws = load_workspace(cfg)
        stories = list(new.stories)
        if edit.merge:
            done = _merge(stories, list(edit.merge))
            changes["merge"] = [list(p) for p in done]
            for pair in done:
                merges.append(pair)
                splits = [s for s in splits if set(s) != set(pair)]
        if edit.split:
            done = _split(stories, edit.split, ws)
            changes["split"] = [list(p) for p in done]
            for pair in done:
                splits.append(pair)
                merges = [m for m in merges if set(m) != set(pair)]
        if edit.stories is not None:
            stories = _reorder(cfg, archive, new, stories, edit.stories, ws, changes)
            added = changes.get("added", [])
            removed = changes.get("removed", [])
            pins = [p for p in pins if p not in removed] + [a for a in added if a not in pins]
            excludes = [e for e in excludes if e not in added] + [
                r for r in removed if r not in excludes
            ]
        if edit.guides:
            guide_changes = _guides(stories, edit.guides, ws)
            if guide_changes:
                changes["guides"] = guide_changes
                guide_over.update({k: v["to"] for k, v in guide_changes.items()})
        taken: dict[str, str] = {}
        for s in stories:
            if s.guide is None:
                continue
            if s.guide.slug in taken:
                raise EditError(
                    f"guides.{s.item.id}",
                    f"guide {s.guide.slug!r} is already paired with story {taken[s.guide.slug]!r}",
                )
            taken[s.guide.slug] = s.item.id
        new.stories = stories
        new.guides = _cards(stories, plan.guides, ws)
    new_overrides = Overrides(
        pin=tuple(pins),
        exclude=tuple(excludes),
        guide=guide_over,
        merge=tuple(dict.fromkeys(merges)),
        split=tuple(dict.fromkeys(splits)),
    )
    return _Applied(new, changes, new_overrides)


def _reorder(
    cfg: Settings,
    archive: Archive,
    plan: IssuePlan,
    stories: list[Story],
    order: list[str],
    ws: Workspace,
    changes: dict[str, Any],
) -> list[Story]:
    if not order:
        raise EditError("stories", "an issue needs at least one story")
    dupes = sorted({i for i in order if order.count(i) > 1})
    if dupes:
        raise EditError("stories", f"{dupes[0]!r} is listed twice")
    current = {s.item.id: s for s in stories}
    out: list[Story] = []
    added: list[str] = []
    for item_id in order:
        story = current.get(item_id)
        if story is None:
            probe = plan.model_copy(update={"stories": [*stories, *out]})
            story = bench_story(cfg, archive, probe, ws, item_id)
            if story is None:
                raise EditError(
                    "stories", f"{item_id!r} is neither a story of this issue nor on the bench"
                )
            added.append(item_id)
        out.append(story)
    removed = [s.item.id for s in stories if s.item.id not in order]
    before = [s.item.id for s in stories]
    if added:
        changes["added"] = added
    if removed:
        changes["removed"] = removed
    if [i for i in order if i in before] != [i for i in before if i in order]:
        changes["order"] = {"from": before, "to": list(order)}
    return out


def _guides(
    stories: list[Story], wanted: dict[str, str | None], ws: Workspace
) -> dict[str, dict[str, str | None]]:
    changed: dict[str, dict[str, str | None]] = {}
    for item_id, slug in wanted.items():
        where = f"guides.{item_id}"
        k = _find(stories, item_id)
        if k is None:
            raise EditError(where, f"{item_id!r} is not a story in this issue")
        story = stories[k]
        old = story.guide.slug if story.guide else None
        if slug is not None and ws.guide(slug) is None:
            raise EditError(where, f"unknown guide {slug!r}")
        if slug == old:
            continue
        ref = ws.guide_ref(ws.members(story), slug) if slug is not None else None
        stories[k] = story.model_copy(update={"guide": ref})
        changed[item_id] = {"from": old, "to": slug}
    return changed


# --- the edit itself -----------------------------------------------------------------------


def apply_edit(
    cfg: Settings,
    issue_id: str,
    edit: Edit,
    *,
    who: str,
    archive: Archive | None = None,
) -> EditResult:
    """Apply ``edit`` to ``issues/<id>``; see the module docstring.

    Raises :class:`StaleVersion` when ``edit.version`` is given and not current,
    :class:`EditError` naming the field for a change that cannot apply, and
    :class:`StateError` for an issue that is no longer editable (sending, sent, ...).
    """
    archive = archive or Archive(cfg.archive_dir)
    with issue_lock(archive, issue_id):
        plan = archive.load_plan(issue_id)
        version = current_version(archive, plan)
        if edit.version is not None and edit.version != version:
            raise StaleVersion(
                issue_id, edit.version, version, changes_since(archive, issue_id, edit.version)
            )
        if plan.status not in EDITABLE_STATUSES:
            raise StateError(f"{issue_id}: issue is {plan.status}; it can no longer be edited")
        overrides = archive.load_overrides(issue_id)
        applied = _apply(cfg, archive, plan, edit, overrides)
        if not applied.changes:
            return EditResult(plan, version, content_hash(plan))
        new = applied.plan
        returned = plan.status == "approved"
        if returned:
            new.status = "draft"  # what is sent must be what is approved
        old_text = archive.file(issue_id, PLAN_FILE).read_bytes()
        archive.save_plan(new)
        try:
            result = render_issue(cfg, issue_id)
        except Exception:
            write_atomic(archive.file(issue_id, PLAN_FILE), old_text)  # nothing half-applied
            raise
        if returned:
            withdraw_approval(archive, issue_id, who=who, reason="edited after approval")
        if applied.overrides != overrides:
            archive.save_overrides(issue_id, applied.overrides)
        digest = content_hash(new)
        version += 1
        _write_state(archive, issue_id, version, digest)
        archive.append_history(
            issue_id,
            {
                "at": now_iso(),
                "who": who,
                "action": "edit",
                "version": version,
                "hash": digest,
                "changes": applied.changes,
                **({"status": "approved → draft"} if returned else {}),
            },
        )
        return EditResult(new, version, digest, applied.changes, returned, result.checks)
