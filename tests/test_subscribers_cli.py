"""``newsletter subscribers ...``: add, remove, import (bad rows, 10k rows), export, list, stats."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from conftest import CONTENT
from store_fixtures import migrations_head

from newsletter.config import load_config
from newsletter.store import open_store
from newsletter.store import subscribers as subs
from newsletter.store.importer import import_csv
from tests.cli_support import run_cli


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), *args)


def test_add_remove_list_stats(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, config_path, "subscribers", "add", "Ada@Example.com", "--name", "Ada"
    )
    assert code == 0 and "added ada@example.com [midweek;sunday]" in err
    code, _, err = run(
        capsys, config_path, "subscribers", "add", "b@example.com", "--editions", "sunday"
    )
    assert code == 0
    code, _, err = run(capsys, config_path, "subscribers", "add", "nope")
    assert code == 2 and "nope:" in err and "@-sign" in err
    code, _, err = run(capsys, config_path, "subscribers", "remove", "ADA@example.com")
    assert code == 0 and "ada@example.com: unsubscribed" in err
    code, out, _ = run(capsys, config_path, "subscribers", "list", "--status", "active", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["email"], r["editions"]) for r in rows] == [("b@example.com", "sunday")]
    code, out, _ = run(capsys, config_path, "subscribers", "stats", "--json")
    data = json.loads(out)
    assert data["by_status"]["unsubscribed"] == 1 and data["active_by_edition"]["sunday"] == 1
    code, _, err = run(capsys, config_path, "subscribers", "remove", "b@example.com", "--purge")
    assert code == 0 and "purged" in err
    code, _, err = run(capsys, config_path, "subscribers", "remove", "ghost@example.com")
    assert code == 2 and "no such subscriber" in err
    code, _, err = run(capsys, config_path, "subscribers", "list", "--status", "gone")
    assert code == 2 and "--status" in err


def test_import_reports_bad_rows_and_keeps_good_ones(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,name,editions\n"
        "Ada@Example.com,Ada,midweek\n"  # 2
        "not-an-email,Bad,\n"  # 3
        "ada@example.com,Ada again,sunday\n"  # 4 duplicate
        'ok@example.com,"Doe, Jane",\n'  # 5
        "x@example.com,X,weekly\n"  # 6
        "\n"
        "y@example.com,Y,sunday,extra\n"  # 8
        "z@example.com,Zed,midweek;sunday\n",  # 9
        encoding="utf-8",
    )
    code, out, err = run(capsys, config_path, "subscribers", "import", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["added"], report["skipped"], report["duplicates"]) == (3, 4, 1)
    assert f"{path}:3: invalid email 'not-an-email'" in err
    assert f"{path}:4: duplicate of line 2 (ada@example.com)" in err
    assert f"{path}:6: unknown edition 'weekly'" in err
    assert f"{path}:8: 4 fields, the header has 3" in err
    engine = open_store(load_config(config_path))
    jane = subs.get_subscriber(engine, "ok@example.com")
    assert jane is not None and jane.name == "Doe, Jane" and jane.editions == "midweek;sunday"
    assert subs.get_subscriber(engine, "ada@example.com").editions == "midweek"  # type: ignore[union-attr]


def test_import_needs_a_header(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("a@example.com,A,\n", encoding="utf-8")
    code, _, err = run(capsys, config_path, "subscribers", "import", str(path))
    assert code == 2 and f"{path}:1: the header must name the columns email,name,editions" in err
    code, _, err = run(capsys, config_path, "subscribers", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err


def test_sample_subscribers_import_cleanly(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, config_path, "subscribers", "import", str(CONTENT / "subscribers.csv"), "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["skipped"] == 0 and report["added"] == 6
    engine = open_store(load_config(config_path))
    assert subs.get_subscriber(engine, "katherine@example.com").name == "Johnson, Katherine"  # type: ignore[union-attr]


def test_10k_import_reimport_and_export_round_trip(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(7)
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["email", "name", "editions"])
        for i in range(10_000):
            w.writerow(
                [
                    f"Reader{i}@Example.org",
                    f"Reader {i}",
                    rng.choice(["", "midweek", "sunday", "midweek;sunday"]),
                ]
            )
    engine = open_store(load_config(config_path))
    seen: list[tuple[int, int]] = []
    report = import_csv(
        engine, path, progress=lambda done, total: seen.append((done, total)), chunk=1000
    )
    assert report.added == 10_000 and not report.problems
    assert len(seen) >= 10 and seen[-1][0] == seen[-1][1] == path.stat().st_size
    subs.unsubscribe(engine, "reader5@example.org")
    again = import_csv(engine, path)
    assert (again.added, again.updated, again.kept_inactive) == (0, 9_999, 1)
    assert subs.get_subscriber(engine, "reader5@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    out_file = tmp_path / "export.csv"
    code, _, err = run(
        capsys, config_path, "subscribers", "export", str(out_file), "--status", "active"
    )
    assert code == 0 and "exported 9999" in err
    rows = list(csv.DictReader(out_file.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 9_999 and rows[0]["email"] == "reader0@example.org"
    # An export imports back (extra columns are ignored).
    assert import_csv(engine, out_file).problems == []


def test_db_upgrade_command(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, config_path, "db", "upgrade")
    assert code == 0 and f"revision {migrations_head()}" in err
