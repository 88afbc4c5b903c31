"""The editor's JSON API and the edit page's live panel.

``GET|PATCH /api/issues/<id>``, ``POST /api/issues/<id>/test``, ``GET /api/issues/<id>/history``
(see the README). Every route needs the editor login (or loopback, as the pages do); every
mutating request must be ``Content-Type: application/json`` and, when it carries an ``Origin``
(or ``Referer``), a same-origin one: a cross-site page can neither send JSON without a
preflight nor pass the origin check. The page's forms keep the CSRF token.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from newsletter.editing import (
    NOTE_LIMIT,
    PREHEADER_LIMIT,
    SUBJECT_LIMIT,
    Edit,
    EditError,
    StaleVersion,
    apply_edit,
    current_version,
    parse_edit,
)
from newsletter.errors import InputError, IssueNotFoundError, NewsletterError, StateError
from newsletter.models import IssuePlan
from newsletter.rendering.checks import PREHEADER_MAX, PREHEADER_MIN, SUBJECT_MAX
from newsletter.web.app import TEMPLATES_DIR, WebContext, context
from newsletter.web.security import CSRF_FIELD, check_same_origin
from newsletter.workflow import content_hash, now_iso, read_approval
from newsletter.workspace import bench, load_workspace

TEST_SEND_LIMIT = 5
"""Test sends per issue within ``TEST_SEND_WINDOW`` (all editors together)."""
TEST_SEND_WINDOW = timedelta(minutes=10)
EDITOR_JS = TEMPLATES_DIR / "static" / "editor.js"
EDIT_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

Ctx = Annotated[WebContext, Depends(context)]
router = APIRouter()


def editor_ctx(request: Request, ctx: Ctx) -> WebContext:
    """Dependency of every route here: the editor login / loopback rule."""
    ctx.guard.check(request)
    return ctx


Editor = Annotated[WebContext, Depends(editor_ctx)]


def who(ctx: WebContext) -> str:
    """The audit name of the person behind a request: the login user, or ``local``."""
    return ctx.guard.user if ctx.guard.has_credentials and ctx.guard.user else "local"


def _trusted(ctx: WebContext) -> frozenset[str]:
    return frozenset({urlsplit(str(ctx.cfg.web.public_url)).netloc.lower()})


def require_json(request: Request, ctx: WebContext) -> None:
    """Refuse a mutating API request that is not same-origin JSON (415 / 403)."""
    check_same_origin(request, _trusted(ctx))
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, "Send Content-Type: application/json.")


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > 256 * 1024:
        raise HTTPException(413, "Request body too large.")
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return _Invalid()


class _Invalid:
    """Marker for a body that is not JSON."""


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def _valid_id(ctx: WebContext, issue_id: str) -> None:
    try:
        ctx.archive.issue_dir(issue_id)
    except InputError:  # not an issue id at all
        raise HTTPException(404, "No such issue.") from None


def _plan(ctx: WebContext, issue_id: str) -> IssuePlan:
    _valid_id(ctx, issue_id)
    try:
        return ctx.archive.load_plan(issue_id)
    except IssueNotFoundError:
        raise HTTPException(404, f"No issue {issue_id} in the archive.") from None
    except InputError as exc:
        raise HTTPException(409, str(exc)) from None


def _checks(ctx: WebContext, issue_id: str) -> list[dict[str, Any]]:
    path = ctx.archive.file(issue_id, "checks.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = data.get("checks", []) if isinstance(data, dict) else data
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def issue_state(ctx: WebContext, plan: IssuePlan) -> dict[str, Any]:
    """What ``GET /api/issues/<id>`` answers (and the edit page shows)."""
    version = current_version(ctx.archive, plan)
    ws = load_workspace(ctx.cfg)
    choices = ws.guide_choices([ws.members(s) for s in plan.stories])
    try:
        approval = read_approval(ctx.archive, plan.id)
    except InputError:
        approval = None
    return {
        "plan": plan.model_dump(mode="json"),
        "version": version,
        "content_hash": content_hash(plan),
        "approval": approval,
        "bench": [b.model_dump() for b in bench(ctx.cfg, ctx.archive, plan, ws)],
        "guide_choices": {
            s.item.id: [c.model_dump() for c in options]
            for s, options in zip(plan.stories, choices, strict=True)
        },
        "checks": _checks(ctx, plan.id),
        "limits": {
            "subject": SUBJECT_LIMIT,
            "subject_advice": SUBJECT_MAX,
            "preheader": PREHEADER_LIMIT,
            "preheader_advice": [PREHEADER_MIN, PREHEADER_MAX],
            "note": NOTE_LIMIT,
        },
    }


def _run_edit(ctx: WebContext, issue_id: str, edit: Edit) -> JSONResponse:
    try:
        result = apply_edit(ctx.cfg, issue_id, edit, who=who(ctx), archive=ctx.archive)
    except StaleVersion as exc:
        return _error(
            409,
            "stale",
            f"Someone else changed this issue (now version {exc.current}); reload it and "
            "re-apply your change.",
            version=exc.current,
            your_version=exc.given,
            changes=exc.changes,
        )
    except EditError as exc:
        return _error(422, "invalid", str(exc), field=exc.field)
    except IssueNotFoundError:
        return _error(404, "not_found", f"No issue {issue_id} in the archive.")
    except InputError as exc:  # a bad id, or an unreadable issue.json / overrides.json
        return _error(409, "unreadable", str(exc))
    except StateError as exc:
        return _error(409, "state", str(exc))
    except NewsletterError as exc:
        return _error(500, "render", str(exc))
    return JSONResponse(
        {
            "version": result.version,
            "content_hash": result.content_hash,
            "status": result.plan.status,
            "changes": result.changes,
            "returned_to_draft": result.returned_to_draft,
            "checks": [c.model_dump(mode="json") for c in result.checks],
        }
    )


@router.get("/api/issues/{issue_id}")
def get_issue(issue_id: str, ctx: Editor) -> JSONResponse:
    """The plan, its version and content hash, the bench, guide choices and checks."""
    plan = _plan(ctx, issue_id)
    response = JSONResponse(issue_state(ctx, plan))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.patch("/api/issues/{issue_id}")
async def patch_issue(request: Request, issue_id: str, ctx: Editor) -> Response:
    """Apply an edit (see :class:`newsletter.editing.Edit`): 200, 409 stale, 422 invalid."""
    require_json(request, ctx)
    _valid_id(ctx, issue_id)
    data = await _body(request)
    if isinstance(data, _Invalid):
        return _error(400, "invalid_json", "The body is not valid JSON.")
    try:
        edit = parse_edit(data)
    except EditError as exc:
        return _error(422, "invalid", str(exc), field=exc.field)
    if edit.version is None:
        return _error(422, "invalid", "version: required (the version you edited)", field="version")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_run_edit, ctx, issue_id, edit)


@router.get("/api/issues/{issue_id}/history")
def history(issue_id: str, ctx: Editor) -> JSONResponse:
    """The audit log: who, when and what for every edit, test send, approval and send."""
    _plan(ctx, issue_id)
    return JSONResponse({"issue": issue_id, "history": ctx.archive.read_history(issue_id)})


def test_addresses(ctx: WebContext) -> list[str]:
    """Who may receive a [TEST] copy: ``site.editors`` and ``site.team``, in that order."""
    seen = dict.fromkeys(a.strip() for a in [*ctx.cfg.site.editors, *ctx.cfg.site.team])
    return [a for a in seen if a]


def _allowed_test_addresses(ctx: WebContext) -> set[str]:
    return {a.strip().lower() for a in test_addresses(ctx)}


def _recent_tests(ctx: WebContext, issue_id: str) -> int:
    since = datetime.now(UTC) - TEST_SEND_WINDOW
    count = 0
    for record in ctx.archive.read_history(issue_id):
        if record.get("action") != "test":
            continue
        try:
            at = datetime.fromisoformat(str(record.get("at")))
        except ValueError:
            continue
        count += at >= since
    return count


@router.post("/api/issues/{issue_id}/test")
async def test_send(request: Request, issue_id: str, ctx: Editor) -> Response:
    """Send a ``[TEST]`` copy to editors (``site.editors``) only; rate-limited, outside the ledger."""
    require_json(request, ctx)
    data = await _body(request)
    to = data.get("to") if isinstance(data, dict) else None
    if not isinstance(to, list) or not to or not all(isinstance(a, str) for a in to):
        return _error(422, "invalid", "to: a list of editor addresses", field="to")
    allowed = _allowed_test_addresses(ctx)
    wanted = list(dict.fromkeys(a.strip().lower() for a in to if a.strip()))
    strangers = [a for a in wanted if a not in allowed]
    if strangers or not wanted:
        return _error(
            422,
            "invalid",
            f"to: {strangers[0] if strangers else '(empty)'} is not in site.editors or site.team; "
            "test copies go to the editors only",
            field="to",
        )
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_send_test, ctx, issue_id, wanted)


def _send_test(ctx: WebContext, issue_id: str, to: list[str]) -> JSONResponse:
    from newsletter.delivery import send_issue

    plan = _plan(ctx, issue_id)
    if _recent_tests(ctx, issue_id) >= TEST_SEND_LIMIT:
        minutes = int(TEST_SEND_WINDOW.total_seconds() // 60)
        return _error(
            429,
            "rate_limited",
            f"At most {TEST_SEND_LIMIT} test sends per issue every {minutes} minutes.",
        )
    started = time.perf_counter()
    try:
        report = send_issue(
            ctx.cfg, ctx.secrets, issue_id, test_to=tuple(to), progress=False, engine=ctx.engine
        )
    except NewsletterError as exc:
        return _error(409 if isinstance(exc, StateError) else 400, "send", str(exc))
    ctx.archive.append_history(
        issue_id,
        {
            "at": now_iso(),
            "who": who(ctx),
            "action": "test",
            "to": to,
            "sent": report.sent,
            "failed": report.failed,
            "version": None,
            "hash": content_hash(plan),
        },
    )
    return JSONResponse(
        {
            "sent": report.sent,
            "failed": report.failed,
            "errors": report.errors,
            "provider": report.provider,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@router.get("/static/editor.js", include_in_schema=False)
def editor_js() -> Response:
    """The edit page's small script (no build step, no framework)."""
    response = Response(EDITOR_JS.read_text(encoding="utf-8"), media_type="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/issues/{issue_id}/edit/panel", response_class=HTMLResponse)
def panel(
    request: Request,
    issue_id: str,
    ctx: Editor,
    view: Annotated[str, Query()] = "desktop",
    scheme: Annotated[str, Query()] = "light",
) -> Response:
    """The live part of the edit page, re-fetched by the script after every change."""
    from newsletter.web.preview import edit_page_values

    plan = _plan(ctx, issue_id)
    session = ctx.csrf.session(request)
    values = edit_page_values(ctx, plan, view, scheme, session, just_approved=False)
    html = ctx.templates.get_template("editor_panel.html").render(
        site_name=ctx.cfg.site.name, **values
    )
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = EDIT_PAGE_CSP
    return response


@router.post("/issues/{issue_id}/edit")
def edit_form(
    request: Request,
    issue_id: str,
    ctx: Editor,
    version: Annotated[int, Form()],
    subject: Annotated[str, Form()],
    preheader: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    """The form fallback of the text fields (no script needed); same function as the API."""
    ctx.csrf.verify(request, csrf_token)
    edit = Edit(version=version, subject=subject, preheader=preheader, note=note)
    try:
        apply_edit(ctx.cfg, issue_id, edit, who=who(ctx), archive=ctx.archive)
    except StaleVersion as exc:
        raise HTTPException(409, str(exc)) from None
    except EditError as exc:
        raise HTTPException(422, str(exc)) from None
    except StateError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/issues/{issue_id}/edit?saved=1", status_code=303)
