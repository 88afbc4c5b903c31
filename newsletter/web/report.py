"""Editor pages after a send: the issue report, the subscribers overview; the click redirect.

``/issues/<id>/report`` shows :func:`newsletter.reporting.build_report` with SVG charts,
``/subscribers`` the list's health and a search, ``/subscribers/<id>`` one person.
``/r/<token>`` is the own click redirect (``tracking.clicks: own``): it follows only a
signed token, records the click (a HEAD request is recorded as a suspected bot) and
redirects with 302.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from newsletter.errors import IssueNotFoundError, NewsletterError
from newsletter.models import IssuePlan
from newsletter.personalization import token_subscriber_id, verify_token
from newsletter.reporting import build_report, check_alerts
from newsletter.reporting.alerts import mail_editors
from newsletter.reporting.report import COMPLAINT_LIMIT, COMPLAINT_WARN, UNSUBSCRIBE_WARN
from newsletter.reporting.subscribers import glance, overview, person, search
from newsletter.store.engagement import record_own_click
from newsletter.store.events import get_subscriber
from newsletter.tracking.tokens import verify_click
from newsletter.tracking.urls import CANARY_PATH
from newsletter.web import charts
from newsletter.web.app import WebContext, context

log = logging.getLogger(__name__)
Ctx = Annotated[WebContext, Depends(context)]
router = APIRouter()
HISTORY = 4


def editor(request: Request, ctx: Ctx) -> WebContext:
    """The editor login / loopback rule (the same guard as the other editor pages)."""
    ctx.guard.check(request)
    return ctx


Editor = Annotated[WebContext, Depends(editor)]


def _plan(ctx: WebContext, issue_id: str) -> IssuePlan:
    try:
        return ctx.archive.load_plan(issue_id)
    except IssueNotFoundError:
        raise HTTPException(404, f"No issue {issue_id}.") from None
    except NewsletterError as exc:
        raise HTTPException(400, str(exc)) from None


def _history(ctx: WebContext, plan: IssuePlan) -> list[IssuePlan]:
    """The last four issues of the same edition before this one that went out."""
    plans, _ = ctx.archive.scan()
    earlier = [
        p
        for p in plans
        if p.edition == plan.edition
        and p.slot < plan.slot
        and p.status in ("sending", "sent", "partial")
    ]
    return sorted(earlier, key=lambda p: p.slot)[-HISTORY:]


@router.get("/issues/{issue_id}/report", response_class=HTMLResponse)
def report_page(issue_id: str, ctx: Editor) -> Response:
    """The engagement report of one issue, with charts and their data tables."""
    plan = _plan(ctx, issue_id)
    with ctx.engine.connect() as conn:
        report = build_report(conn, ctx.cfg, plan)
        past = [build_report(conn, ctx.cfg, p) for p in _history(ctx, plan)]
    series = [*past, report]
    short = [(r.issue_id[5:10], r) for r in series]
    ranked = [(s.label, s.unique) for s in report.stories]
    guides = [(g.label, g.unique) for g in report.guides]
    figures = {
        "timeline": charts.hourly_bars(
            "timeline", report.clicks.timeline, "Human clicks per hour, first 72 hours"
        ),
        "stories": charts.ranked_bars("stories", ranked, "Stories by unique clickers"),
        "guides": charts.ranked_bars("guides", guides, "Guides by unique clickers"),
        "compare": charts.compare_bars(
            "compare",
            [(label, r.clicks.rate, r is report) for label, r in short],
            f"Click rate: this issue against the last {len(past)} {plan.edition} issues",
        ),
        "rates": charts.rate_lines(
            "rates",
            [(label, r.complaint_rate, r.unsubscribe_rate) for label, r in short],
            [(COMPLAINT_WARN, "0.1 %"), (COMPLAINT_LIMIT, "0.3 %")],
            "Complaint and unsubscribe rates against the 0.1 % and 0.3 % lines",
        ),
    }
    return ctx.page(
        "report.html",
        plan=plan,
        r=report,
        series=short,
        figures=figures,
        complaint_warn=COMPLAINT_WARN,
        complaint_limit=COMPLAINT_LIMIT,
        unsubscribe_warn=UNSUBSCRIBE_WARN,
    )


@router.get("/subscribers", response_class=HTMLResponse)
def subscribers_page(
    ctx: Editor,
    q: Annotated[str, Query(max_length=320)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Counts by status and edition, weekly growth, and a paginated search."""
    with ctx.engine.connect() as conn:
        over = overview(conn)
        found = search(conn, q, page)
    weeks = [(w.start.strftime("%d %b"), w.signups) for w in over.weeks]
    figure = charts.compare_bars(
        "growth", [(label, float(n), False) for label, n in weeks], "Signups per week", "{:.0f}"
    )
    return ctx.page("subscribers.html", over=over, found=found, q=q, figure=figure)


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def person_page(subscriber_id: int, ctx: Editor) -> Response:
    """One subscriber: status, editions, consent records, what they were sent and when."""
    with ctx.engine.connect() as conn:
        found = person(conn, subscriber_id)
    if found is None:
        raise HTTPException(404, "No such subscriber.")
    return ctx.page("subscriber.html", p=found)


@router.api_route(CANARY_PATH, methods=["GET", "HEAD"], include_in_schema=False)
def canary() -> Response:
    """The hidden canary link's target (provider mode): nothing to see, nothing recorded here."""
    return Response(status_code=204, headers={"X-Robots-Tag": "noindex"})


@router.api_route("/r/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def redirect(request: Request, token: str, ctx: Ctx, s: str = "") -> Response:
    """Follow a signed click token (never any other URL) and record the click."""
    key = ctx.secret_key
    target = verify_click(key, token) if key else None
    if target is None:
        raise HTTPException(400, "This link is not valid.")
    sid = token_subscriber_id(s) if s else None
    if key and sid is not None:
        try:
            with ctx.engine.begin() as conn:
                sub = get_subscriber(conn, sid)
                if sub is not None and verify_token(key, s, sub.id, sub.email):
                    record_own_click(
                        conn,
                        issue_id=target.issue_id,
                        email=sub.email,
                        subscriber_id=sub.id,
                        url=target.url,
                        head=request.method == "HEAD",
                    )
        except SQLAlchemyError as exc:  # the reader still gets where they wanted to go
            log.error("click redirect: database error: %s", type(exc).__name__)
    if target.canary:
        return Response(status_code=204, headers={"X-Robots-Tag": "noindex"})
    return RedirectResponse(
        target.url,
        status_code=302,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


def _glance(ctx: WebContext) -> Any:
    def at_a_glance(issue_ids: list[str]) -> dict[str, dict[str, int]]:
        try:
            with ctx.engine.connect() as conn:
                return glance(conn, issue_ids)
        except SQLAlchemyError:
            return {}

    return at_a_glance


def _overview(ctx: WebContext) -> Any:
    def subscribers_overview() -> Any:
        try:
            with ctx.engine.connect() as conn:
                return overview(conn, weeks=4)
        except SQLAlchemyError:
            return None

    return subscribers_overview


def register(app: FastAPI, ctx: WebContext) -> None:
    """Add the routes, the home page's helpers and the alert check after webhook batches."""
    app.include_router(router)
    ctx.templates.globals["engagement_glance"] = _glance(ctx)
    ctx.templates.globals["subscribers_overview"] = _overview(ctx)
    mailer = mail_editors(ctx.secrets)

    def after_events(issue_ids: list[str]) -> None:
        try:
            check_alerts(ctx.engine, ctx.cfg, issue_ids, mail=mailer)
        except Exception as exc:  # an alert that cannot be mailed must not break the webhook
            log.error("alert check failed: %s: %s", type(exc).__name__, str(exc)[:200])

    ctx.after_events = after_events
