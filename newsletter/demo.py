"""``make demo``: the whole job on the sample content, on a fresh machine."""

from __future__ import annotations

import argparse

from newsletter.cli import main as cli_main


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m newsletter.demo")
    parser.add_argument("--at", default="2026-11-22T08:00:00+00:00")
    args = parser.parse_args()
    cli_main(["config"])
    print(f"demo at {args.at}: the pipeline steps are added as they land")


if __name__ == "__main__":
    main()
