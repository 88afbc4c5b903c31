"""The issue archive: ``issues/<id>/`` folders holding each step's artifact.

Every stage reads and writes issue files through this module, so paths, encoding and
atomic replacement are decided in one place.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsletter.errors import InputError, IssueNotFoundError
from newsletter.models import IssuePlan, IssueStatus, Overrides

PLAN_FILE = "issue.json"
OVERRIDES_FILE = "overrides.json"
HISTORY_FILE = "history.jsonl"
_ID = re.compile(r"^\d{4}-\d{2}-\d{2}-[a-z]+$")
_FRIENDLY = {
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "extra_forbidden": "unknown key (expected pin, exclude, guide, merge, split)",
}


def dump_json(data: Any) -> str:
    """Serialise deterministically: two-space indent, UTF-8 text, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    Text is written as UTF-8 with ``\n`` line ends; bytes as they are.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if isinstance(data, str):
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(data)
        else:
            with os.fdopen(fd, "wb") as fb:
                fb.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Archive:
    """The folder of issues (``issues/`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def issue_dir(self, issue_id: str) -> Path:
        """The folder of one issue; rejects ids that could escape the archive."""
        if not _ID.match(issue_id):
            raise InputError(f"{issue_id!r}: not an issue id (expected YYYY-MM-DD-edition)")
        return self.root / issue_id

    def file(self, issue_id: str, name: str) -> Path:
        return self.issue_dir(issue_id) / name

    def exists(self, issue_id: str) -> bool:
        return (self.issue_dir(issue_id) / PLAN_FILE).is_file()

    def load_plan(self, issue_id: str) -> IssuePlan:
        """Read ``issues/<id>/issue.json``; a missing or invalid file is a one-line error."""
        path = self.issue_dir(issue_id) / PLAN_FILE
        if not path.is_file():
            raise IssueNotFoundError(f"{path}: no such issue (run `newsletter assemble` first)")
        return self._parse(path)

    @staticmethod
    def _parse(path: Path) -> IssuePlan:
        try:
            plan = IssuePlan.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err.get("loc", ())) or "(document)"
            raise InputError(f"{path}: {key}: {err.get('msg')}") from None
        # The folder is the issue id: the ledger, the reports and every write are keyed on
        # it, so a hand-edited or copied issue.json whose id disagrees is refused (else it
        # would be sent again under another id, or overwrite the other issue's files).
        if plan.id != path.parent.name:
            raise InputError(
                f"{path}: id: {plan.id!r} does not match its folder {path.parent.name!r} "
                "(the folder name is the issue id)"
            )
        return plan

    def save_plan(self, plan: IssuePlan) -> Path:
        """Write the plan as ``issue.json``; the same plan always gives the same bytes."""
        path = self.issue_dir(plan.id) / PLAN_FILE
        write_atomic(path, dump_json(plan.model_dump(mode="json")))
        return path

    def load_overrides(self, issue_id: str) -> Overrides:
        """Read ``issues/<id>/overrides.json`` (empty when absent); errors name file and key."""
        path = self.file(issue_id, OVERRIDES_FILE)
        if not path.is_file():
            return Overrides()
        try:
            return Overrides.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            err = exc.errors()[0]
            if err["type"] == "json_invalid":
                raise InputError(f"{path}: not valid JSON ({err.get('msg')})") from None
            key = ".".join(str(p) for p in err.get("loc", ())) or "(document)"
            msg = _FRIENDLY.get(err["type"], err.get("msg"))
            raise InputError(f"{path}: {key}: {msg}") from None

    def save_overrides(self, issue_id: str, overrides: Overrides) -> Path:
        """Write ``overrides.json`` atomically (keys sorted: stable diffs)."""
        path = self.file(issue_id, OVERRIDES_FILE)
        data = overrides.model_dump(mode="json")
        data["guide"] = dict(sorted(data["guide"].items()))
        write_atomic(path, dump_json(data))
        return path

    def set_status(self, issue_id: str, status: IssueStatus) -> IssuePlan:
        """Change an issue's status in issue.json and return the updated plan."""
        plan = self.load_plan(issue_id)
        plan.status = status
        self.save_plan(plan)
        return plan

    def plans(self) -> Iterator[IssuePlan]:
        """Every issue in the archive, oldest id first; unreadable folders are skipped."""
        yield from self.scan()[0]

    def scan(self) -> tuple[list[IssuePlan], list[str]]:
        """Every readable issue (oldest id first), and one line per unreadable issue.json."""
        plans: list[IssuePlan] = []
        problems: list[str] = []
        if not self.root.is_dir():
            return plans, problems
        for entry in sorted(self.root.iterdir()):
            path = entry / PLAN_FILE
            if _ID.match(entry.name) and path.is_file():
                try:
                    plans.append(self._parse(path))
                except InputError as exc:
                    problems.append(str(exc))
        return plans, problems

    def write_text(self, issue_id: str, name: str, text: str) -> Path:
        path = self.issue_dir(issue_id) / name
        write_atomic(path, text)
        return path

    def append_history(self, issue_id: str, entry: dict[str, Any]) -> None:
        """Append one audit record to ``issues/<id>/history.jsonl`` (one JSON object a line).

        A single ``write`` of one line on a file opened for appending: concurrent writers
        (the web app, the CLI, the scheduler) never interleave inside a line.
        """
        path = self.file(issue_id, HISTORY_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)

    def read_history(self, issue_id: str) -> list[dict[str, Any]]:
        """The audit records of an issue, oldest first; unreadable lines are skipped."""
        path = self.file(issue_id, HISTORY_FILE)
        if not path.is_file():
            return []
        out: list[dict[str, Any]] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def read_text(self, issue_id: str, name: str) -> str:
        path = self.issue_dir(issue_id) / name
        if not path.is_file():
            raise IssueNotFoundError(f"{path}: not found (run `newsletter render {issue_id}`)")
        return path.read_text(encoding="utf-8")
