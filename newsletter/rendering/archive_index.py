"""``issues/index.html``: the public list of every issue, linking to each web.html."""

from __future__ import annotations

from pathlib import Path

from newsletter.archive import Archive, write_atomic
from newsletter.rendering.environment import template_env

INDEX_HTML = "index.html"


def write_index(archive: Archive, site_name: str) -> Path:
    """Regenerate ``<archive>/index.html``, newest issue first."""
    rows = []
    for plan in archive.plans():
        rendered = (archive.issue_dir(plan.id) / "web.html").is_file()
        rows.append(
            {
                "id": plan.id,
                "edition": plan.edition,
                "subject": plan.subject,
                "status": plan.status,
                "date": plan.id[:10],
                "href": f"{plan.id}/web.html" if rendered else None,
            }
        )
    rows.reverse()
    html = (
        template_env()
        .get_template("archive/index.html.j2")
        .render(site_name=site_name, issues=rows)
    )
    path = archive.root / INDEX_HTML
    write_atomic(path, html)
    return path
