"""CSV import and export of subscribers (columns ``email,name,editions``), streamed.

The file is read row by row and upserted in chunks of a few thousand, so memory stays flat
apart from the set of addresses seen (for within-file de-duplication). Bad rows are
reported as ``file:line: reason`` and skipped; every good row is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from newsletter.errors import InputError
from newsletter.store.subscribers import (
    BadAddress,
    ImportRow,
    iter_subscribers,
    normalise_email,
    parse_editions,
    upsert_rows,
)

CHUNK = 2000
COLUMNS = ("email", "name", "editions")
MAX_NAME = 200

Progress = Callable[[int, int], None]
"""Called with (bytes read so far, file size)."""


@dataclass
class ImportReport:
    """The outcome of one import."""

    file: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    kept_inactive: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "kept_inactive": self.kept_inactive,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "problems": self.problems,
            "duration_s": round(self.duration_s, 3),
        }


def _counted_lines(fh: IO[str], seen: list[int]) -> Iterator[str]:
    for line in fh:
        seen[0] += len(line)
        yield line


def import_csv(
    engine: Engine,
    path: Path,
    *,
    source: str | None = None,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> ImportReport:
    """Import subscribers from a CSV file with a header naming ``email`` (and ``name``,
    ``editions``). Re-importing updates names and editions of active subscribers and never
    brings back one who unsubscribed, bounced or complained.
    """
    import time

    started = time.perf_counter()
    report = ImportReport(file=str(path))
    try:
        size = path.stat().st_size
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    consumed = [0]
    seen: dict[str, int] = {}
    pending: list[ImportRow] = []
    src = source or f"import:{path.name}"

    def flush() -> None:
        counts = upsert_rows(engine, pending, source=src)
        report.added += counts.added
        report.updated += counts.updated
        report.kept_inactive += counts.kept_inactive
        pending.clear()
        if progress is not None:
            progress(min(consumed[0], size), size)

    with fh:
        reader = csv.reader(_counted_lines(fh, consumed))
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(
                f"{path}:1: empty file (expected a header: email,name,editions)"
            ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:1: unreadable header ({exc})") from None
        names = [h.strip().lower() for h in header]
        if "email" not in names:
            raise InputError(
                f"{path}:1: the header must name the columns email,name,editions "
                f"(got {','.join(header)!r})"
            )
        i_email = names.index("email")
        i_name = names.index("name") if "name" in names else None
        i_ed = names.index("editions") if "editions" in names else None
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                report.problems.append(f"{path}:{reader.line_num}: unreadable row ({exc})")
                continue
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            report.rows += 1
            if len(fields) > len(names):
                report.problems.append(
                    f"{path}:{line}: {len(fields)} fields, the header has {len(names)} "
                    "(quote names that contain a comma)"
                )
                continue
            fields += [""] * (len(names) - len(fields))
            try:
                email = normalise_email(fields[i_email])
                name = fields[i_name].strip() if i_name is not None else ""
                if len(name) > MAX_NAME:
                    raise ValueError(f"name longer than {MAX_NAME} characters")
                midweek, sunday = parse_editions(fields[i_ed] if i_ed is not None else "")
            except (BadAddress, ValueError) as exc:
                report.problems.append(f"{path}:{line}: {exc}")
                continue
            first = seen.get(email)
            if first is not None:
                report.duplicates += 1
                report.problems.append(f"{path}:{line}: duplicate of line {first} ({email})")
                continue
            seen[email] = line
            pending.append(ImportRow(email, name or None, midweek, sunday))
            if len(pending) >= chunk:
                flush()
        flush()
    if progress is not None:
        progress(size, size)
    report.duration_s = time.perf_counter() - started
    return report


def export_csv(engine: Engine, out: IO[str], *, status: str | None = None) -> int:
    """Write subscribers as CSV (``email,name,editions,status,source,created_at``)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "status", "source", "created_at"])
    n = 0
    for sub in iter_subscribers(engine, status=status):
        writer.writerow(
            [
                sub.email,
                sub.name or "",
                sub.editions,
                sub.status,
                sub.source or "",
                sub.created_at.isoformat(),
            ]
        )
        n += 1
    return n
