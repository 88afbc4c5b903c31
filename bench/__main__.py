"""Run every benchmark: ``python -m bench [name ...]``. Results go to bench/results/."""

from __future__ import annotations

import importlib
import sys

BENCHES = [
    "load",
    "feeds",
    "curation",
    "assemble",
    "render",
    "edit",
    "providers",
    "send",
    "schedule",
    "web",
    "delivery_trust",
    "signup",
    "report",
]


def main(argv: list[str]) -> int:
    names = argv or BENCHES
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"bench {name}: not written yet", file=sys.stderr)
                continue
            raise
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
