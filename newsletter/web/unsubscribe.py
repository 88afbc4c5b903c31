"""Public subscriber routes: one-click unsubscribe (RFC 8058) and edition preferences.

The signed token in the URL (``?t=``) is what authorises: these requests come without
cookies (mail clients post the one-click form themselves), so there is no CSRF token.
A GET never changes anything, because link scanners fetch every link in an email.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from newsletter.personalization import token_subscriber_id, verify_token
from newsletter.store import events as store
from newsletter.web.app import WebContext, context

Ctx = Annotated[WebContext, Depends(context)]
Token = Annotated[str | None, Query(alias="t", max_length=200)]
router = APIRouter()

NO_KEY = (
    "Unsubscribe and preference links are not available on this server right now "
    "(it has no signing key). Reply to the email and we will take you off the list."
)
BAD_LINK = (
    "This link is not valid: it may have been cut short or changed. Use the link at the "
    "bottom of the newsletter email you received."
)
NO_DB = "The subscriber list is not available right now. Please try again in a few minutes."


def mask_email(email: str) -> str:
    """Show enough of an address to recognise it: ``a•••@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


@contextmanager
def _db(ctx: WebContext) -> Iterator[Connection]:
    try:
        with ctx.engine.begin() as conn:
            yield conn
    except SQLAlchemyError:
        raise HTTPException(503, NO_DB) from None


def _key(ctx: WebContext) -> bytes:
    key = ctx.secret_key
    if key is None:
        raise HTTPException(503, NO_KEY)
    return key


def _subscriber(ctx: WebContext, conn: Connection, token: str | None) -> store.SubscriberRow:
    """The subscriber a valid token names; 503 without a key, 400 for any bad token."""
    key = _key(ctx)
    sid = token_subscriber_id(token) if token else None
    if sid is None or token is None:
        raise HTTPException(400, BAD_LINK)
    sub = store.get_subscriber(conn, sid)
    if sub is None or not verify_token(key, token, sub.id, sub.email):
        raise HTTPException(400, BAD_LINK)
    return sub


def _page(ctx: WebContext, name: str, **values: Any) -> HTMLResponse:
    response = ctx.page(name, **values)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_form(ctx: Ctx, t: Token = None) -> Response:
    """A confirmation page whose button posts the one-click form. Changes nothing."""
    _key(ctx)
    with _db(ctx) as conn:
        sub = _subscriber(ctx, conn, t)
    return _page(
        ctx,
        "unsubscribe.html",
        token=t,
        email=mask_email(sub.email),
        active=sub.status == "active",
    )


@router.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_now(ctx: Ctx, t: Token = None) -> Response:
    """RFC 8058 one-click unsubscribe: the token authorises; repeating it is harmless."""
    _key(ctx)
    with _db(ctx) as conn:
        sub = _subscriber(ctx, conn, t)
        store.unsubscribe(conn, sub.id)
    return _page(
        ctx,
        "message.html",
        title="You're unsubscribed",
        message=f"{mask_email(sub.email)} will get no more emails from {ctx.cfg.site.name}.",
        tone="ok",
        links=[(f"preferences?t={t}", "Changed your mind? Choose your editions")],
    )


@router.get("/preferences", response_class=HTMLResponse)
def preferences_form(ctx: Ctx, t: Token = None) -> Response:
    """Choose Midweek, Sunday or both, or unsubscribe from all."""
    _key(ctx)
    with _db(ctx) as conn:
        sub = _subscriber(ctx, conn, t)
    return _preferences_page(ctx, sub, t, saved=False)


@router.post("/preferences", response_class=HTMLResponse)
def preferences_save(
    ctx: Ctx,
    t: Token = None,
    midweek: Annotated[str | None, Form()] = None,
    sunday: Annotated[str | None, Form()] = None,
    action: Annotated[Literal["save", "unsubscribe"], Form()] = "save",
) -> Response:
    """Save the editions chosen (none chosen, or "unsubscribe from all", unsubscribes)."""
    _key(ctx)
    with _db(ctx) as conn:
        sub = _subscriber(ctx, conn, t)
        if action == "unsubscribe":
            store.unsubscribe(conn, sub.id)
            updated = store.get_subscriber(conn, sub.id)
        else:
            updated = store.set_preferences(
                conn, sub.id, midweek=midweek is not None, sunday=sunday is not None
            )
    return _preferences_page(ctx, updated or sub, t, saved=True)


def _preferences_page(
    ctx: WebContext, sub: store.SubscriberRow, token: str | None, *, saved: bool
) -> HTMLResponse:
    editions = ctx.cfg.editions
    return _page(
        ctx,
        "preferences.html",
        token=token,
        email=mask_email(sub.email),
        status=sub.status,
        midweek=sub.wants_midweek and sub.status == "active",
        sunday=sub.wants_sunday and sub.status == "active",
        midweek_title=editions["midweek"].title,
        sunday_title=editions["sunday"].title,
        saved=saved,
        blocked=sub.status in ("bounced", "complained"),
    )
