"""Public signup routes: ``/subscribe``, ``/api/subscribe`` and the double opt-in ``/confirm``.

Every well-formed signup answers 202 with the same body whatever the address's state (new,
pending, active, unsubscribed, bounced, complained, or unknown to any mail server) and
whether or not a trap or limit dropped it: the answer reveals nothing. Only bad syntax gets
a 422 naming the field. Emails go out after the answer (a mail thread), so the time to
answer does not tell either. ``GET /confirm`` changes nothing (mail scanners open links);
the Confirm button posts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from newsletter.errors import ConfigError
from newsletter.personalization import sign_token
from newsletter.signup import (
    MailJob,
    MailQueue,
    SignupAttempt,
    SignupChallenge,
    SignupMailer,
    SignupRequest,
    confirm,
    load_challenge,
    look_up,
    make_stamp,
    passes,
    request_signup,
    resend,
    stamp_state,
)
from newsletter.signup.mails import human_span
from newsletter.store.subscribers import BadAddress, normalise_email
from newsletter.store.tables import subscribers
from newsletter.web.app import WebContext, context
from newsletter.web.security import check_same_origin
from newsletter.web.unsubscribe import mask_email

Ctx = Annotated[WebContext, Depends(context)]
router = APIRouter()
log = logging.getLogger("newsletter.signup")

ACCEPTED = {
    "status": "accepted",
    "message": "If this address can receive our emails, a confirmation link is on its way.",
}
MAX_NAME = 200
MAX_PLACEMENT = 100
MAX_FIELD = 1000
NO_DB = "Signup is not available right now. Please try again in a few minutes."


@dataclass
class SignupRuntime:
    """Per-app signup state: the mailer, the optional challenge, the form-stamp key."""

    mails: MailQueue
    challenge: SignupChallenge | None
    stamp_key: bytes


_runtime_lock = threading.Lock()


def _runtime(request: Request, ctx: WebContext) -> SignupRuntime:
    state = request.app.state
    with _runtime_lock:
        runtime: SignupRuntime | None = getattr(state, "signup", None)
        if runtime is None:
            try:
                challenge = load_challenge(ctx.cfg.signup.challenge)
            except ConfigError as exc:
                log.error("%s", exc)
                raise HTTPException(503, NO_DB) from None
            # Without NEWSLETTER_SECRET_KEY the stamps are signed with a key of this process.
            key = ctx.secret_key or os.urandom(32)
            runtime = SignupRuntime(MailQueue(SignupMailer(ctx.cfg, ctx.secrets)), challenge, key)
            state.signup = runtime
    return runtime


async def _passes(check: SignupChallenge | None, attempt: SignupAttempt) -> bool:
    # Without a challenge there is nothing to run (and no thread to hop to).
    return True if check is None else await run_in_threadpool(passes, check, attempt)


def _client(request: Request) -> tuple[str, str]:
    ip = request.client.host if request.client else "unknown"
    return ip, request.headers.get("user-agent", "")[:300]


class FieldError(ValueError):
    """A field with bad syntax: answered with 422 naming it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def _editions_from_list(raw: Any) -> tuple[bool, bool]:
    if raw is None:
        return True, True
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise FieldError({"editions": 'editions must be a list such as ["midweek", "sunday"]'})
    names = {e.strip().lower() for e in raw}
    if not names or not names <= {"midweek", "sunday"}:
        raise FieldError({"editions": "editions must name midweek, sunday or both"})
    return "midweek" in names, "sunday" in names


def _validated(
    email: Any, name: Any, midweek: bool, sunday: bool
) -> tuple[str, str | None, dict[str, str]]:
    errors: dict[str, str] = {}
    address = ""
    if not isinstance(email, str) or not email.strip():
        errors["email"] = "Enter your email address."
    else:
        try:
            address = normalise_email(email[:MAX_FIELD])
        except BadAddress:
            errors["email"] = "Enter an email address like name@example.com."
    clean_name: str | None = None
    if name is not None:
        if not isinstance(name, str) or len(name) > MAX_NAME:
            errors["name"] = f"The name can be at most {MAX_NAME} characters."
        else:
            clean_name = " ".join(name.split()) or None
    if not (midweek or sunday):
        errors["editions"] = "Choose at least one edition."
    return address, clean_name, errors


def _placement(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    text = "".join(ch for ch in raw if ch.isprintable()).strip()
    return text[:MAX_PLACEMENT] or None


def _run_signup(ctx: WebContext, runtime: SignupRuntime, req: SignupRequest) -> MailJob | None:
    try:
        return request_signup(ctx.engine, ctx.cfg.signup, req)
    except SQLAlchemyError as exc:
        log.error("signup not recorded: %s", type(exc).__name__)
        raise HTTPException(503, NO_DB) from None


def _subscribe_page(
    ctx: WebContext,
    runtime: SignupRuntime,
    *,
    status_code: int = 200,
    email: str = "",
    name: str = "",
    midweek: bool = True,
    sunday: bool = True,
    source: str = "",
    errors: Mapping[str, str] | None = None,
    prefilled: bool = False,
) -> HTMLResponse:
    # A prefilled page follows a form the reader already submitted: no minimum time again.
    minimum = 0 if prefilled else ctx.cfg.signup.min_submit_time.total_seconds()
    response = ctx.page(
        "subscribe.html",
        status_code=status_code,
        email=email,
        full_name=name,
        midweek=midweek,
        sunday=sunday,
        source=source,
        errors=dict(errors or {}),
        prefilled=prefilled,
        stamp=make_stamp(runtime.stamp_key, time.time(), minimum),
        midweek_title=ctx.cfg.editions["midweek"].title,
        sunday_title=ctx.cfg.editions["sunday"].title,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _accepted_page(ctx: WebContext) -> HTMLResponse:
    response = ctx.page("subscribe_done.html", status_code=202)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Query(max_length=320)] = "",
    source: Annotated[str, Query(max_length=MAX_PLACEMENT)] = "",
) -> Response:
    """The standalone signup page (works without JavaScript)."""
    runtime = _runtime(request, ctx)
    return _subscribe_page(ctx, runtime, email=email, source=_placement(source) or "")


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=30)
    except Exception:
        raise HTTPException(400, "The form could not be read.") from None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe_post(request: Request, ctx: Ctx) -> Response:
    """The signup form: 202 and the same page for every address; 422 for bad syntax."""
    runtime = _runtime(request, ctx)
    form = await _form(request)
    midweek, sunday = form.get("midweek") is not None, form.get("sunday") is not None
    raw_name = _text(form, "name") if form.get("name") is not None else None
    email, name, errors = _validated(_text(form, "email"), raw_name, midweek, sunday)
    source = _placement(form.get("source")) or ""
    redisplay = {
        "email": _text(form, "email"),
        "name": raw_name or "",
        "midweek": midweek,
        "sunday": sunday,
        "source": source,
    }
    if errors:
        return _subscribe_page(ctx, runtime, status_code=422, errors=errors, **redisplay)  # type: ignore[arg-type]
    stamp = form.get("ts")
    max_age = ctx.cfg.signup.form_max_age.total_seconds()
    state = stamp_state(
        runtime.stamp_key, stamp if isinstance(stamp, str) else None, time.time(), max_age
    )
    if stamp is None or state == "old":
        # The guide-page snippet (no stamp) or a page left open too long: show the filled-in
        # page to press once more. This depends only on the request, not on the address.
        return _subscribe_page(ctx, runtime, prefilled=True, **redisplay)  # type: ignore[arg-type]
    ip, agent = _client(request)
    attempt = SignupAttempt(
        fields={k: v for k, v in form.items() if isinstance(v, str)},
        channel="form",
        ip=ip,
        user_agent=agent,
    )
    trapped = (
        bool(_text(form, "website"))
        or state != "ok"
        or not await _passes(runtime.challenge, attempt)
    )
    if not trapped:
        req = SignupRequest(email, name, midweek, sunday, "form", ip, agent, source or None)
        job = await run_in_threadpool(_run_signup, ctx, runtime, req)
        if job is not None:
            runtime.mails.submit(job)
    return _accepted_page(ctx)


def _origin_allowed(request: Request, ctx: WebContext) -> tuple[bool, str | None]:
    """Whether the Origin may call the API, and the origin to echo in CORS headers."""
    origin = request.headers.get("origin")
    if origin is None:
        return True, None  # not a browser's cross-origin request (curl, a server)
    clean = origin.strip().rstrip("/").lower()
    if clean in ctx.cfg.signup.allowed_origins:
        return True, origin
    try:
        check_same_origin(request, frozenset({_public_host(ctx)}))
    except HTTPException:
        return False, None
    return True, None


def _public_host(ctx: WebContext) -> str:
    return urlsplit(ctx.public_url).netloc.lower()


def _cors(response: Response, origin: str | None) -> Response:
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


@router.options("/api/subscribe", include_in_schema=False)
def subscribe_preflight(request: Request, ctx: Ctx) -> Response:
    """CORS preflight: only ``signup.allowed_origins`` (and this site) get the allow headers."""
    allowed, origin = _origin_allowed(request, ctx)
    response = Response(status_code=204)
    if allowed and origin is not None:
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return _cors(response, origin if allowed else None)


def _field_errors(errors: Mapping[str, str]) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"field": f, "message": m} for f, m in errors.items()]}, status_code=422
    )


@router.post("/api/subscribe")
async def subscribe_api(request: Request, ctx: Ctx) -> Response:
    """JSON signup ``{"email", "name"?, "editions"?, "source"?}``: 202 alike for every address."""
    runtime = _runtime(request, ctx)
    allowed, origin = _origin_allowed(request, ctx)
    body = await request.body()
    if len(body) > 10_000:
        return _field_errors({"body": "the request body is too large"})
    try:
        data = json.loads(body)
    except ValueError:
        return _cors(_field_errors({"body": "the body must be a JSON object"}), origin)
    if not isinstance(data, dict):
        return _cors(_field_errors({"body": "the body must be a JSON object"}), origin)
    try:
        midweek, sunday = _editions_from_list(data.get("editions"))
    except FieldError as exc:
        return _cors(_field_errors(exc.errors), origin)
    email, name, errors = _validated(data.get("email"), data.get("name"), midweek, sunday)
    if errors:
        return _cors(_field_errors(errors), origin)
    ip, agent = _client(request)
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    attempt = SignupAttempt(fields=fields, channel="api", ip=ip, user_agent=agent)
    trapped = (
        not allowed or bool(fields.get("website")) or not await _passes(runtime.challenge, attempt)
    )
    if not trapped:
        req = SignupRequest(
            email, name, midweek, sunday, "api", ip, agent, _placement(data.get("source"))
        )
        job = await run_in_threadpool(_run_signup, ctx, runtime, req)
        if job is not None:
            runtime.mails.submit(job)
    return _cors(JSONResponse(ACCEPTED, status_code=202), origin if allowed else None)


def _signed(ctx: WebContext, subscriber_id: int | None, email: str | None) -> str | None:
    key = ctx.secret_key
    if key is None or subscriber_id is None or email is None:
        return None
    return sign_token(key, subscriber_id, email)


def _invalid_page(ctx: WebContext) -> HTMLResponse:
    return ctx.page(
        "message.html",
        status_code=400,
        title="This link does not work",
        message="This confirmation link is not valid: it may have been cut short or changed. "
        "Copy the whole link from the email, or sign up again.",
        tone="error",
        links=[("subscribe", "Sign up again")],
    )


def _expired_page(ctx: WebContext, token: str, email: str | None) -> HTMLResponse:
    return ctx.page(
        "confirm_expired.html",
        status_code=410,
        token=token,
        email=mask_email(email or ""),
        ttl=human_span(ctx.cfg.signup.confirm_ttl.total_seconds()),
    )


def _used_page(ctx: WebContext, email: str | None) -> HTMLResponse:
    links: list[tuple[str, str]] = []
    sid = _subscriber_id(ctx, email)
    signed = _signed(ctx, sid, email)
    if signed:
        links.append((f"preferences?t={signed}", "Manage your preferences"))
    return ctx.page(
        "message.html",
        title="This link was already used",
        message="This confirmation link has already been used, so it changes nothing now.",
        tone="ok",
        links=links,
    )


def _subscriber_id(ctx: WebContext, email: str | None) -> int | None:
    if email is None:
        return None
    with ctx.engine.connect() as conn:
        sid = conn.execute(
            select(subscribers.c.id).where(subscribers.c.email == email)
        ).scalar_one_or_none()
    return int(sid) if sid is not None else None


def _no_store(response: HTMLResponse) -> HTMLResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


Token = Annotated[str | None, Query(alias="t", max_length=200)]


@router.get("/confirm", response_class=HTMLResponse)
def confirm_form(ctx: Ctx, t: Token = None) -> Response:
    """One Confirm button (a POST). Changes nothing: mail scanners follow every link."""
    try:
        outcome = look_up(ctx.engine, t)
    except SQLAlchemyError:
        raise HTTPException(503, NO_DB) from None
    if outcome.state == "invalid" or t is None:
        return _no_store(_invalid_page(ctx))
    if outcome.state == "expired":
        return _no_store(_expired_page(ctx, t, outcome.email))
    if outcome.state == "used":
        return _no_store(_used_page(ctx, outcome.email))
    return _no_store(ctx.page("confirm.html", token=t, email=mask_email(outcome.email or "")))


@router.post("/confirm", response_class=HTMLResponse)
async def confirm_post(request: Request, ctx: Ctx) -> Response:
    """Confirm: the address becomes active with its editions; shows the preferences page."""
    check_same_origin(request, frozenset({_public_host(ctx)}))
    runtime = _runtime(request, ctx)
    form = await _form(request)
    token = _text(form, "t") or request.query_params.get("t")
    ip, agent = _client(request)
    try:
        outcome = await run_in_threadpool(
            lambda: confirm(ctx.engine, token, ip=ip, user_agent=agent)
        )
    except SQLAlchemyError:
        raise HTTPException(503, NO_DB) from None
    if outcome.state == "invalid" or not token:
        return _no_store(_invalid_page(ctx))
    if outcome.state == "expired":
        return _no_store(_expired_page(ctx, token, outcome.email))
    if outcome.state == "used":
        return _no_store(await run_in_threadpool(_used_page, ctx, outcome.email))
    assert outcome.email is not None
    if outcome.welcome:
        job = MailJob("welcome", outcome.email, subscriber_id=outcome.subscriber_id)
        runtime.mails.submit(job)
    sub = await run_in_threadpool(_editions, ctx, outcome.email)
    editions = ctx.cfg.editions
    return _no_store(
        ctx.page(
            "confirm_done.html",
            replay=False,
            email=mask_email(outcome.email),
            token=_signed(ctx, outcome.subscriber_id, outcome.email),
            midweek=sub[0],
            sunday=sub[1],
            midweek_title=editions["midweek"].title,
            sunday_title=editions["sunday"].title,
        )
    )


def _editions(ctx: WebContext, email: str) -> tuple[bool, bool]:
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(subscribers.c.wants_midweek, subscribers.c.wants_sunday).where(
                subscribers.c.email == email
            )
        ).first()
    return (bool(row.wants_midweek), bool(row.wants_sunday)) if row is not None else (True, True)


@router.post("/confirm/resend", response_class=HTMLResponse)
async def confirm_resend(request: Request, ctx: Ctx) -> Response:
    """A fresh link for an expired one (the usual limits apply); answers like a signup."""
    check_same_origin(request, frozenset({_public_host(ctx)}))
    runtime = _runtime(request, ctx)
    form = await _form(request)
    ip, agent = _client(request)
    token = _text(form, "t")
    try:
        job = await run_in_threadpool(
            lambda: resend(ctx.engine, ctx.cfg.signup, token, ip=ip, user_agent=agent)
        )
    except SQLAlchemyError:
        raise HTTPException(503, NO_DB) from None
    if job is not None:
        runtime.mails.submit(job)
    return _accepted_page(ctx)
