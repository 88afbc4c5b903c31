"""The lock file pins every dependency of pyproject.toml, with hashes (see `make lock`)."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

LOCK = ROOT / "requirements-dev.txt"


def _name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def test_every_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        wanted |= {_name(r) for r in extra}
    text = LOCK.read_text(encoding="utf-8")
    pinned = {_name(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)}
    missing = sorted(wanted - pinned)
    assert not missing, f"not in {LOCK.name}: {missing}; run `make lock` and commit the lock"
    # Every pin carries at least one hash (pip install --require-hashes refuses otherwise).
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert not unhashed, unhashed
