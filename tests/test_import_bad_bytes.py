"""CSV import and export against hostile files, on SQLite and PostgreSQL.

One invalid UTF-8 byte or NUL costs its own row (reported as file:line), never the rest of
the file; exports never hand a spreadsheet a formula.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from newsletter.store import subscribers as subs
from newsletter.store.importer import export_csv, import_csv
from newsletter.store.tables import subscribers
from tests.cli_support import run_cli


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(subscribers)).scalar_one())


def _rows(n: int) -> list[bytes]:
    return [f"reader{i}@example.org,Reader {i},sunday\n".encode() for i in range(n)]


def test_10k_rows_with_a_bad_byte_in_the_middle_keep_every_good_row(
    tmp_path: Path, engine: Engine
) -> None:
    rows = _rows(10_001)
    rows[5_130] = b"bad\xffbyte@example.org,Broken \xe9 Latin-1,sunday\n"  # line 5132
    path = tmp_path / "big.csv"
    path.write_bytes(b"email,name,editions\n" + b"".join(rows))
    report = import_csv(engine, path, chunk=1000)
    assert report.problems == [f"{path}:5132: not valid UTF-8 (byte 0xff at column 4)"]
    assert report.added == 10_000 and _count(engine) == 10_000
    assert subs.get_subscriber(engine, "reader10000@example.org") is not None
    assert subs.get_subscriber(engine, "reader5131@example.org") is not None


def test_nul_and_control_characters_are_rejected_per_row(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "control.csv"
    path.write_bytes(
        b"email,name,editions\n"
        b"ok1@example.org,Ada,\n"
        b"nul@example.org,Bob\x00by,\n"  # PostgreSQL would abort the whole chunk on this
        b"bell@example.org,Ring\x07,\n"
        b'"quoted@example.org","Line one\nline two",\n'  # lines 5-6: one row over two lines
        b"ok2@example.org,Tab\tname,\n"
        b"\xef\xbb\xbfnot-a-bom@example.org,x,\n"
        b"ok3@example.org,Carol,\n"
    )
    report = import_csv(engine, path)
    assert report.problems[:3] == [
        f"{path}:3: control character U+0000 in the row",
        f"{path}:4: control character U+0007 in the row",
        f"{path}:6: control character U+000A in the row",
    ]
    assert len(report.problems) == 4 and report.problems[3].startswith(f"{path}:8: ")
    assert "unsafe characters" in report.problems[3]  # a byte order mark mid-file
    assert report.added == 3
    assert {s.email for s in subs.iter_subscribers(engine)} == {
        "ok1@example.org",
        "ok2@example.org",
        "ok3@example.org",
    }


def test_a_bom_is_allowed_and_a_bad_header_is_one_line(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfemail,name\nada@example.org,Ada\n")
    assert import_csv(engine, path).added == 1
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"e\xe9mail,name\n")
    from newsletter.errors import InputError

    with pytest.raises(InputError, match=r"latin1\.csv:1: unreadable header \(not valid UTF-8"):
        import_csv(engine, bad)


def test_cli_import_reports_the_bad_line_and_exits_0_with_the_rest_kept(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "subs.csv"
    path.write_bytes(b"email,name\na@example.org,A\nb@example.org,B\xff\nc@example.org,C\n")
    code, out, err = run_cli(
        capsys, "--config", str(config_path), "subscribers", "import", str(path)
    )
    assert code == 0, err  # the good rows are in; the bad one is listed
    assert f"{path}:3: not valid UTF-8 (byte 0xff at column 16)" in err
    assert "2 added" in (out + err)


def test_export_escapes_formulas(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "email,name\n"
        'f1@example.org,"=HYPERLINK(""https://evil.example"",""x"")"\n'
        "f2@example.org,+1 555\n"
        "f3@example.org,@SUM(A1)\n"
        "f4@example.org,-2+3\n"
        "=cmd@example.org,Plain\n",
        encoding="utf-8",
    )
    assert import_csv(engine, path).problems == []
    buf = io.StringIO()
    export_csv(engine, buf)
    cells = [c for row in csv.reader(io.StringIO(buf.getvalue())) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert '\'=HYPERLINK("https://evil.example","x")' in cells
    assert "'=cmd@example.org" in cells


def test_cli_add_refuses_a_name_with_a_control_character(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys,
        "--config",
        str(config_path),
        "subscribers",
        "add",
        "ada@example.org",
        "--name",
        "Ada\x1b[31m",
    )
    assert code == 2 and "--name: control character U+001B" in err
