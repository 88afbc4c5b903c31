"""SpamAssassin on what leaves the system: the sample Sunday issue as the outbox writes it.

Debian's ``spamassassin`` (installed by ``.ci/run``) scores the ``.eml`` locally (``-L``: no
network tests). The email must score 0.0: the old preheader's white-on-beige text cost 0.7
(HTML_FONT_LOW_CONTRAST).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.archive import Archive
from newsletter.config import Secrets
from newsletter.curation import assemble_issue
from newsletter.delivery import send_issue
from newsletter.rendering import render_issue
from newsletter.store.db import open_store
from newsletter.store.importer import import_csv
from newsletter.workflow import approve_issue
from tests.conftest import CONTENT
from tests.render_support import project

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None, reason="spamassassin is not installed (Debian package spamassassin)"
)
_STATUS = re.compile(
    r"^X-Spam-Status: (\w+), score=(-?[\d.]+) .*?tests=([^\n]*(?:\n\s+[^\n]*)*)", re.M
)


def spam_score(eml: Path) -> tuple[float, str]:
    """SpamAssassin's score and the rules that fired, for one message."""
    assert SPAMASSASSIN is not None
    proc = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"],
        input=eml.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout.decode("utf-8", "replace")
    match = _STATUS.search(out)
    assert match, f"no X-Spam-Status in spamassassin output: {proc.stderr[-500:]!r}"
    return float(match.group(2)), " ".join(match.group(3).split())


def test_sample_sunday_from_the_outbox_scores_zero(tmp_path: Path) -> None:
    cfg, _ = project(tmp_path)
    plan = assemble_issue(cfg, "sunday", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)).plan
    assert render_issue(cfg, plan.id).ok
    engine = open_store(cfg)
    import_csv(engine, CONTENT / "subscribers.csv", source="test")
    approve_issue(Archive(cfg.archive_dir), plan.id)
    secrets = Secrets.from_env({"NEWSLETTER_SECRET_KEY": "spam-test-key"})
    report = send_issue(cfg, secrets, plan.id, provider="outbox", progress=False, engine=engine)
    assert report.sent > 0
    emls = sorted((cfg.path(cfg.delivery.outbox.dir) / plan.id).glob("*.eml"))
    assert emls
    score, rules = spam_score(emls[0])
    assert "HTML_FONT_LOW_CONTRAST" not in rules
    assert score == 0.0, f"SpamAssassin {score}: {rules}"
