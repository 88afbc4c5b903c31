"""CSV import and export of subscribers (columns ``email,name,editions``), streamed.

The file is read row by row and upserted in chunks of a few thousand, so memory stays flat
apart from the set of addresses seen (for within-file de-duplication). Bad rows are
reported as ``file:line: reason`` and skipped; every good row is kept. That includes rows
that are not valid UTF-8 (each line is decoded on its own, so one bad byte costs one row, not
the rest of the file) and rows with control characters or NUL, which no store should keep
(PostgreSQL refuses NUL outright, and would abort the chunk).

Exports escape cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...).
"""

from __future__ import annotations

import csv
import unicodedata
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


def _decoded_lines(fh: IO[bytes], seen: list[int], bad: dict[int, str]) -> Iterator[str]:
    """Each physical line decoded as UTF-8 on its own; undecodable ones noted in ``bad``.

    A line that is not UTF-8 is still yielded (with replacement characters) so the CSV
    reader keeps its place; the rows that contain it are then skipped with the reason.
    """
    for number, raw in enumerate(fh, start=1):
        seen[0] += len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the byte order mark some spreadsheets write
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            yield raw.decode("utf-8", errors="replace")


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+XXXX``, or None (tab is allowed)."""
    for ch in text:
        if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cs"):
            return f"U+{ord(ch):04X}"
    return None


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
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    consumed = [0]
    undecodable: dict[int, str] = {}
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
        reader = csv.reader(_decoded_lines(fh, consumed, undecodable))
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(
                f"{path}:1: empty file (expected a header: email,name,editions)"
            ) from None
        except csv.Error as exc:
            raise InputError(f"{path}:1: unreadable header ({exc})") from None
        if undecodable:
            raise InputError(f"{path}:1: unreadable header ({undecodable[1]})")
        names = [h.strip().lower() for h in header]
        if "email" not in names:
            raise InputError(
                f"{path}:1: the header must name the columns email,name,editions "
                f"(got {','.join(header)!r})"
            )
        i_email = names.index("email")
        i_name = names.index("name") if "name" in names else None
        i_ed = names.index("editions") if "editions" in names else None
        last = reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.problems.append(f"{path}:{reader.line_num}: unreadable row ({exc})")
                last = reader.line_num
                continue
            line, first_line, last = reader.line_num, last + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            report.rows += 1
            bad = next(
                (undecodable.pop(n) for n in range(first_line, line + 1) if n in undecodable),
                None,
            )
            if bad is not None:
                report.problems.append(f"{path}:{line}: {bad}")
                continue
            control = next((c for c in map(control_character, fields) if c), None)
            if control is not None:
                report.problems.append(f"{path}:{line}: control character {control} in the row")
                continue
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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet treat a cell as a formula (CSV injection)."""


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a ``'`` first."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_csv(engine: Engine, out: IO[str], *, status: str | None = None) -> int:
    """Write subscribers as CSV (``email,name,editions,status,source,created_at``).

    Cells that would start a formula in a spreadsheet (a name typed as ``=HYPERLINK(...)``)
    are written with a leading ``'``.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "status", "source", "created_at"])
    n = 0
    for sub in iter_subscribers(engine, status=status):
        writer.writerow(
            map(
                safe_cell,
                [
                    sub.email,
                    sub.name or "",
                    sub.editions,
                    sub.status,
                    sub.source or "",
                    sub.created_at.isoformat(),
                ],
            )
        )
        n += 1
    return n
