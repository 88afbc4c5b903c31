"""Rendering: an IssuePlan into email HTML, a text part, a web page and pre-send checks."""

from newsletter.rendering.archive_index import write_index
from newsletter.rendering.checks import Check, run_checks, worst
from newsletter.rendering.context import IssueView, build_view, web_url
from newsletter.rendering.links import add_utm, safe_url, utm_params
from newsletter.rendering.pipeline import (
    RenderedIssue,
    RenderResult,
    render_issue,
    render_mjml,
    render_plan,
    render_text,
)

__all__ = [
    "Check",
    "IssueView",
    "RenderResult",
    "RenderedIssue",
    "add_utm",
    "build_view",
    "render_issue",
    "render_mjml",
    "render_plan",
    "render_text",
    "run_checks",
    "safe_url",
    "utm_params",
    "web_url",
    "worst",
    "write_index",
]
