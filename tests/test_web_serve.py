"""``newsletter serve``: refuses an unprotected public bind, serves on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ROOT
from web_support import project

from newsletter.web.security import redact_tokens


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "SENDGRID_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _serve(folder: Path, *args: str) -> list[str]:
    """The ``newsletter serve`` command line for the project in ``folder``."""
    return [
        sys.executable,
        "-m",
        "newsletter",
        "serve",
        "--config",
        str(folder / "config.yaml"),
        *args,
    ]


def test_public_bind_without_credentials_is_refused(tmp_path: Path) -> None:
    project(tmp_path)
    res = subprocess.run(
        _serve(tmp_path, "--host", "0.0.0.0"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "NEWSLETTER_EDITOR_USER" in lines[0]
    assert "Traceback" not in res.stderr


def test_serve_on_loopback_warns_and_answers(tmp_path: Path) -> None:
    project(tmp_path)
    proc = subprocess.Popen(
        _serve(tmp_path, "--port", "0"),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "".join(seen)
        assert any("NEWSLETTER_SECRET_KEY is not set" in line for line in seen)
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"ok": True}
        assert httpx.get(f"{url}/", timeout=10).status_code == 200
        assert httpx.get(f"{url}/unsubscribe?t=1.abcSECRET", timeout=10).status_code == 503
    finally:
        proc.terminate()
        out, rest = proc.communicate(timeout=20)
    log = "".join(seen) + rest + out
    assert "/unsubscribe?t=[redacted]" in log and "abcSECRET" not in log


def test_redact_tokens() -> None:
    assert redact_tokens("GET /preferences?t=12.abc-_x&x=1") == "GET /preferences?t=[redacted]&x=1"
    assert redact_tokens("/unsubscribe?a=1&t=9.z") == "/unsubscribe?a=1&t=[redacted]"
    assert (
        redact_tokens("/issues/2026-11-22-sunday?view=mobile")
        == "/issues/2026-11-22-sunday?view=mobile"
    )
