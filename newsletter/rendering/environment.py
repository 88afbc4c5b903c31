"""The Jinja2 environment for the email templates (autoescaped) and the text part (not)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
"""``templates/`` at the top of the repository, next to the ``newsletter`` package."""


def _autoescape(name: str | None) -> bool:
    # Everything that becomes markup is escaped; only the plain-text part is not.
    return not (name or "").endswith((".txt.j2", ".css"))


@cache
def template_env(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """The shared environment: strict undefined names, autoescape on for all markup."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
