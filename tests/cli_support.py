"""Running the ``newsletter`` command in-process, as a user would, for CLI tests."""

from __future__ import annotations

import pytest

from newsletter.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``newsletter ARGS``; returns the exit code, stdout and stderr."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err
