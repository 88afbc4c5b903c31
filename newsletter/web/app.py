"""The FastAPI app behind ``newsletter serve``: editor preview, unsubscribe, webhook."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings
from newsletter.store.db import open_store
from newsletter.web.security import Csrf, EditorGuard

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "web"

# Pages carry no scripts; email previews are framed only by our own pages.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "font-src https: data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)


@dataclass
class WebContext:
    """Everything a route needs, shared through ``app.state.ctx``."""

    cfg: Settings
    secrets: Secrets
    archive: Archive
    guard: EditorGuard
    csrf: Csrf
    templates: jinja2.Environment
    _engine: Engine | None = None
    after_events: Callable[[list[str]], None] | None = None
    """Called (in the background) with the issues a webhook batch brought new events for."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def engine(self) -> Engine:
        """The database engine, created from ``storage.url`` on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = open_store(self.cfg)
            return self._engine

    @property
    def secret_key(self) -> bytes | None:
        key = self.secrets.secret_key
        return key.get_secret_value().encode() if key else None

    @property
    def public_url(self) -> str:
        return str(self.cfg.web.public_url).rstrip("/")

    def page(
        self,
        name: str,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """Render ``templates/web/<name>`` as an HTML response with the page headers."""
        html = self.templates.get_template(name).render(site_name=self.cfg.site.name, **values)
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response


def context(request: Request) -> WebContext:
    """The app's shared context (a FastAPI dependency)."""
    ctx: WebContext = request.app.state.ctx
    return ctx


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def create_app(
    cfg: Settings,
    secrets: Secrets,
    *,
    engine: Engine | None = None,
    bind_host: str | None = None,
) -> FastAPI:
    """Build the web app.

    ``bind_host`` is where the server listens (default ``web.host``): beyond loopback, editor
    pages need the editor login. ``engine`` defaults to one made from ``storage.url``.
    """
    from newsletter.web import editor_api, preview, report, signup, unsubscribe, webhooks

    key = secrets.secret_key.get_secret_value().encode() if secrets.secret_key else os.urandom(32)
    ctx = WebContext(
        cfg=cfg,
        secrets=secrets,
        archive=Archive(cfg.archive_dir),
        guard=EditorGuard.from_secrets(secrets, bind_host or cfg.web.host),
        csrf=Csrf(key, frozenset({urlsplit(str(cfg.web.public_url)).netloc})),
        templates=_templates(),
        _engine=engine,
    )
    app = FastAPI(
        title=f"{cfg.site.name} newsletter",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Not "no-referrer": Chromium then sends "Origin: null" on same-origin form posts.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return _error_response(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 400, "The request is not valid.", None)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    app.include_router(unsubscribe.router)
    app.include_router(webhooks.router)
    app.include_router(preview.router)
    app.include_router(signup.router)
    app.include_router(editor_api.router)
    report.register(app, ctx)
    return app


def startup_warnings(cfg: Settings, secrets: Secrets) -> list[str]:
    """What will not work with this configuration (printed by ``newsletter serve``)."""
    from newsletter.web.webhooks import PublicKeyError, load_public_key

    warnings: list[str] = []
    if secrets.secret_key is None:
        warnings.append(
            "NEWSLETTER_SECRET_KEY is not set: /unsubscribe and /preferences answer 503"
        )
    key = cfg.delivery.sendgrid.event_public_key
    if not key:
        warnings.append(
            "delivery.sendgrid.event_public_key is not set: /webhooks/sendgrid answers 503"
        )
    else:
        try:
            load_public_key(key)
        except PublicKeyError as exc:
            warnings.append(f"{exc}: /webhooks/sendgrid answers 503")
    return warnings


_TITLES = {
    400: "This link does not work",
    401: "Login needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not possible now",
    422: "Not possible",
    503: "Not available",
}


def _error_response(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None
) -> Response:
    if request.url.path.startswith("/webhooks/"):
        return PlainTextResponse(detail + "\n", status_code=status, headers=headers)
    if request.url.path.startswith("/api/"):
        body = {"error": _TITLES.get(status, "error"), "message": detail}
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))
    ctx = context(request)
    return ctx.page(
        "message.html",
        status_code=status,
        headers=dict(headers or {}),
        title=_TITLES.get(status, "Something went wrong"),
        message=detail,
        tone="error",
    )
