"""The render step: IssuePlan → MJML (Jinja2) → HTML (MRML) → inlined CSS; text and web parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from pydantic import BaseModel, ConfigDict

from newsletter.archive import Archive, dump_json
from newsletter.config import Settings
from newsletter.errors import NewsletterError, StateError
from newsletter.models import IssuePlan
from newsletter.rendering.archive_index import write_index
from newsletter.rendering.checks import Check, run_checks, worst
from newsletter.rendering.context import IssueView, build_view
from newsletter.rendering.environment import TEMPLATES_DIR, template_env
from newsletter.rendering.inline import inline_css
from newsletter.rendering.mjml import mjml_to_html
from newsletter.rendering.text import wrap_text
from newsletter.rendering.tracking import add_canary, rewrite_links, tracking_key

EMAIL_HTML = "email.html"
EMAIL_TEXT = "email.txt"
WEB_HTML = "web.html"
CHECKS_JSON = "checks.json"
INLINE_CSS = "email/inline.css"
FROZEN_STATUSES = ("sending", "sent", "partial")


class RenderedIssue(BaseModel):
    """Everything one render produces, before it is written anywhere."""

    model_config = ConfigDict(frozen=True)

    issue_id: str
    mjml: str
    html: str
    text: str
    web_html: str
    checks: list[Check]

    @property
    def size(self) -> int:
        """Size of the email HTML in bytes (what Gmail measures)."""
        return len(self.html.encode("utf-8"))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render_issue` wrote."""

    issue_id: str
    email_html: Path
    email_text: Path
    web_html: Path
    checks_json: Path
    index_html: Path
    size: int
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """False when any check failed (the issue must not be sent as is)."""
        return worst(self.checks) != "fail"

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        raise NewsletterError(f"{TEMPLATES_DIR / name}: template not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise NewsletterError(
            f"{exc.filename}:{exc.lineno}: template error: {exc.message}"
        ) from None


def _render(env: jinja2.Environment, name: str, view: IssueView) -> str:
    try:
        return _template(env, name).render(v=view)
    except jinja2.TemplateError as exc:
        raise NewsletterError(f"{TEMPLATES_DIR / name}: template error: {exc}") from None


def render_mjml(view: IssueView, env: jinja2.Environment | None = None) -> str:
    """The MJML source of an issue (Jinja2 step only)."""
    env = env or template_env()
    return _render(env, f"email/{view.edition}.mjml.j2", view)


def render_text(view: IssueView, env: jinja2.Environment | None = None) -> str:
    """The plain-text part, wrapped near 76 columns."""
    env = env or template_env()
    return wrap_text(_render(env, "email/text.txt.j2", view))


def inline_stylesheet(env: jinja2.Environment | None = None) -> str:
    """The CSS the inliner applies (the text of the ``mj-style inline`` block)."""
    env = env or template_env()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, INLINE_CSS)
    return source.strip()


def render_plan(cfg: Settings, plan: IssuePlan) -> RenderedIssue:
    """Render one issue in memory: email HTML (CSS inlined), text part, web page, checks.

    Per-recipient values stay placeholder tokens; delivery substitutes them.
    """
    env = template_env()
    view = build_view(cfg, plan)
    source = render_mjml(view, env)
    html = inline_css(mjml_to_html(source), inline_stylesheet(env))
    text = render_text(view, env)
    key = tracking_key(cfg)
    if key is not None:
        html, text = rewrite_links(cfg, key, plan.id, html, text)
    # The public web page: no tokens, no unsubscribe links, full summaries; browsers read
    # <style>, so no inlining.
    web_view = view.for_web()
    web_html = mjml_to_html(render_mjml(web_view, env))
    checks = run_checks(
        html,
        text,
        plan.subject,
        plan.preheader,
        allowed_mailto=cfg.delivery.unsubscribe_mailto,
        stories=len(plan.stories),
        min_stories=edition.min_stories if (edition := cfg.editions.get(plan.edition)) else 0,
        sections=view.sections,
        shortened_summaries=view.shortened_summaries,
        summary_max=cfg.rendering.summary_max_chars,
        curated=(plan.stories, cfg.curation.low_confidence),
    )
    if key is not None:
        # After the checks: the canary is in the HTML only, by design (no reader sees it).
        html = add_canary(cfg, key, plan.id, html)
    return RenderedIssue(
        issue_id=plan.id, mjml=source, html=html, text=text, web_html=web_html, checks=checks
    )


def render_issue(cfg: Settings, issue_id: str) -> RenderResult:
    """Render ``issues/<id>/issue.json`` and write email.html, email.txt, web.html, checks.json.

    Also regenerates ``issues/index.html``. The files are written even when a check fails;
    the caller decides what a failure means (the CLI exits 1). An issue that is ``sending``
    or ``sent`` is not re-rendered (:class:`StateError`).
    """
    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)
    if plan.status in FROZEN_STATUSES:
        # Delivery reads these files while sending; afterwards they are the record.
        raise StateError(f"{issue_id}: issue is {plan.status}; its rendered files are not replaced")
    rendered = render_plan(cfg, plan)
    html_path = archive.write_text(issue_id, EMAIL_HTML, rendered.html)
    text_path = archive.write_text(issue_id, EMAIL_TEXT, rendered.text)
    web_path = archive.write_text(issue_id, WEB_HTML, rendered.web_html)
    checks_path = archive.write_text(
        issue_id, CHECKS_JSON, dump_json([c.model_dump(mode="json") for c in rendered.checks])
    )
    index_path = write_index(archive, cfg.site.name)
    return RenderResult(
        issue_id=issue_id,
        email_html=html_path,
        email_text=text_path,
        web_html=web_path,
        checks_json=checks_path,
        index_html=index_path,
        size=rendered.size,
        checks=rendered.checks,
    )
