"""Editor pages: the list of issues, one issue's preview with its checks, and Approve.

Also the public view-in-browser page of an issue (``/issues/<id>``), which needs no login
once the issue is approved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from newsletter.errors import InputError, IssueNotFoundError, StateError
from newsletter.models import IssuePlan
from newsletter.personalization import FIRST_NAME, PREFERENCES_URL, UNSUBSCRIBE_URL, substitute
from newsletter.web.app import EMAIL_CSP, WebContext, context
from newsletter.web.security import CSRF_FIELD
from newsletter.workflow import approve_issue

Ctx = Annotated[WebContext, Depends(context)]
View = Literal["desktop", "mobile"]
Scheme = Literal["light", "dark"]

SAMPLE_VALUES = {UNSUBSCRIBE_URL: "#", PREFERENCES_URL: "#", FIRST_NAME: "Ada"}
PUBLIC_STATUSES = frozenset({"approved", "sending", "sent"})
VIEW_WIDTHS = {"desktop": 680, "mobile": 375}

_DARK_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)
_LIGHT_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*light\s*\)", re.IGNORECASE)
_SCHEME_META = re.compile(
    r"<meta[^>]+name=[\"']?(?:supported-)?color-scheme[\"']?[^>]*>", re.IGNORECASE
)
_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)


def editor(request: Request, ctx: Ctx) -> WebContext:
    """Dependency of every editor route: the login / loopback rule."""
    ctx.guard.check(request)
    return ctx


Editor = Annotated[WebContext, Depends(editor)]
router = APIRouter()


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class ChecksSummary:
    checks: tuple[Check, ...]
    found: bool
    readable: bool = True

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @property
    def worst(self) -> str:
        if not self.found or not self.readable:
            return "none"
        for status in ("fail", "warn"):
            if self.count(status):
                return status
        return "pass"


def load_checks(ctx: WebContext, issue_id: str) -> ChecksSummary:
    """Read ``checks.json`` (a list of {name, status, detail}); tolerant of a bad file."""
    path = ctx.archive.file(issue_id, "checks.json")
    if not path.is_file():
        return ChecksSummary(checks=(), found=False)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data["checks"] if isinstance(data, dict) else data
        checks = tuple(
            Check(
                name=str(item.get("name", "")),
                status=str(item.get("status", "")).lower(),
                detail=str(item.get("detail", "") or ""),
            )
            for item in items
            if isinstance(item, dict)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ChecksSummary(checks=(), found=True, readable=False)
    return ChecksSummary(checks=checks, found=True)


def _plan(ctx: WebContext, issue_id: str) -> IssuePlan:
    try:
        return ctx.archive.load_plan(issue_id)
    except IssueNotFoundError:
        raise HTTPException(404, f"No issue {issue_id} in the archive.") from None
    except InputError:
        try:
            exists = ctx.archive.exists(issue_id)
        except InputError:  # not an issue id at all
            exists = False
        if exists:
            raise HTTPException(409, f"The issue.json of {issue_id} is not valid.") from None
        raise HTTPException(404, "No such issue.") from None


def _read(ctx: WebContext, issue_id: str, name: str) -> str | None:
    path = ctx.archive.file(issue_id, name)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def dark_email(html: str) -> str:
    """Make an email render as a dark-mode client shows it, whatever the viewer's setting.

    The ``prefers-color-scheme: dark`` media rules are made unconditional (and the light-only
    ones never match), and the color-scheme meta is switched to dark.
    """
    html = _DARK_QUERY.sub("(min-width: 0px)", html)
    html = _LIGHT_QUERY.sub("(max-width: 0px)", html)
    html = _SCHEME_META.sub("", html)
    meta = '<meta name="color-scheme" content="dark"><meta name="supported-color-schemes" content="dark">'
    return _inject_head(html, meta + "<style>:root{color-scheme:dark}</style>")


def _inject_head(html: str, extra: str) -> str:
    match = _HEAD.search(html)
    if match is None:
        return extra + html
    return html[: match.end()] + extra + html[match.end() :]


def _email_response(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = EMAIL_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
def index(request: Request, ctx: Editor) -> Response:
    """Every issue in the archive, newest first, with its status and checks."""
    plans, problems = ctx.archive.scan()
    rows = [{"plan": plan, "checks": load_checks(ctx, plan.id)} for plan in reversed(plans)]
    return ctx.page("index.html", rows=rows, problems=problems, archive=str(ctx.cfg.archive.dir))


def edit_page_values(
    ctx: WebContext,
    plan: IssuePlan,
    view: str,
    scheme: str,
    session: str | None,
    *,
    just_approved: bool,
    saved: bool = False,
) -> dict[str, Any]:
    """What the edit page and its live panel render: the plan, its version, bench, checks."""
    from newsletter.web.editor_api import issue_state, test_addresses

    view = view if view in VIEW_WIDTHS else "desktop"
    scheme = scheme if scheme in ("light", "dark") else "light"
    text = _read(ctx, plan.id, "email.txt")
    state = issue_state(ctx, plan)
    return {
        "plan": plan,
        "state": state,
        "version": state["version"],
        "content_hash": state["content_hash"],
        "editors": test_addresses(ctx),
        "checks": load_checks(ctx, plan.id),
        "has_email": ctx.archive.file(plan.id, "email.html").is_file(),
        "has_web": ctx.archive.file(plan.id, "web.html").is_file(),
        "text": substitute(text, SAMPLE_VALUES) if text is not None else None,
        "view": view,
        "scheme": scheme,
        "width": VIEW_WIDTHS[view],
        "csrf_field": CSRF_FIELD,
        "csrf_token": ctx.csrf.token_for(session) if session else "",
        "just_approved": just_approved,
        "saved": saved,
        "low_confidence": ctx.cfg.curation.low_confidence,
    }


@router.get("/issues/{issue_id}/edit", response_class=HTMLResponse)
@router.get("/editor/issues/{issue_id}", response_class=HTMLResponse, include_in_schema=False)
def issue_page(
    request: Request,
    issue_id: str,
    ctx: Editor,
    view: Annotated[View, Query()] = "desktop",
    scheme: Annotated[Scheme, Query()] = "light",
    approved: Annotated[int, Query()] = 0,
    saved: Annotated[int, Query()] = 0,
) -> Response:
    """The edit page: fields, stories, bench, guides, the email (desktop/mobile/dark), checks."""
    from newsletter.web.editor_api import EDIT_PAGE_CSP

    plan = _plan(ctx, issue_id)
    session, new_session = ctx.csrf.begin(request)
    values = edit_page_values(
        ctx,
        plan,
        view,
        scheme,
        session,
        just_approved=bool(approved) and plan.status == "approved",
        saved=bool(saved),
    )
    page = ctx.page("issue.html", **values)
    if new_session:
        ctx.csrf.remember(request, page, session)
    page.headers["Cache-Control"] = "no-store"
    page.headers["Content-Security-Policy"] = EDIT_PAGE_CSP
    return page


@router.get("/issues/{issue_id}/preview/email.html", response_class=HTMLResponse)
def email_preview(
    issue_id: str, ctx: Editor, scheme: Annotated[Scheme, Query()] = "light"
) -> Response:
    """The rendered email with sample per-recipient values, optionally forced to dark mode."""
    _plan(ctx, issue_id)
    html = _read(ctx, issue_id, "email.html")
    if html is None:
        raise HTTPException(
            404, f"{issue_id} is not rendered yet: run `newsletter render {issue_id}`."
        )
    html = _inject_head(substitute(html, SAMPLE_VALUES), '<base target="_blank">')
    return _email_response(dark_email(html) if scheme == "dark" else html)


@router.post("/issues/{issue_id}/approve")
def approve(
    request: Request,
    issue_id: str,
    ctx: Editor,
    csrf_token: Annotated[str | None, Form()] = None,
    content_hash: Annotated[str | None, Form()] = None,
    override_checks: Annotated[str | None, Form()] = None,
) -> Response:
    """Approve what the page showed (same-origin form with a valid CSRF token only).

    ``content_hash`` is the hash of the content the editor reviewed: if the issue changed
    since the page was loaded, nothing is approved (409). Failed checks need a reason.
    """
    from newsletter.web.editor_api import who
    from newsletter.workflow import content_hash as hash_of

    ctx.csrf.verify(request, csrf_token)
    plan = _plan(ctx, issue_id)
    if content_hash and content_hash != hash_of(plan):
        raise HTTPException(
            409, f"{issue_id} changed after this page was loaded: reload it, review, approve."
        )
    try:
        approve_issue(ctx.archive, issue_id, who=who(ctx), override_checks=override_checks)
    except StateError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/issues/{issue_id}/edit?approved=1", status_code=303)


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def view_in_browser(request: Request, issue_id: str, ctx: Ctx) -> Response:
    """The public web version of an issue (the email's view-in-browser link).

    Drafts and cancelled issues stay private: only a logged-in editor sees them here.
    """
    plan = _plan(ctx, issue_id)
    if plan.status not in PUBLIC_STATUSES:
        try:
            ctx.guard.check(request)
        except HTTPException:
            raise HTTPException(404, f"No published issue {issue_id}.") from None
    html = _read(ctx, issue_id, "web.html") or _read(ctx, issue_id, "email.html")
    if html is None:
        raise HTTPException(404, f"No published issue {issue_id}.")
    public = {
        UNSUBSCRIBE_URL: f"{ctx.public_url}/unsubscribe",
        PREFERENCES_URL: f"{ctx.public_url}/preferences",
        FIRST_NAME: "there",
    }
    return _email_response(substitute(html, public))
