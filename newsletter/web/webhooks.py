"""SendGrid's signed event webhook: verify, de-duplicate and apply delivery events."""

from __future__ import annotations

import binascii
import logging
import time
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from newsletter.store import events as store
from newsletter.web.app import WebContext, context
from newsletter.web.event_batch import NotAnArray, split_events

log = logging.getLogger(__name__)
Ctx = Annotated[WebContext, Depends(context)]
router = APIRouter()

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE  # X-Twilio-Email-Event-Webhook-Signature
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP  # X-Twilio-Email-Event-Webhook-Timestamp
MAX_BODY = 10 * 1024 * 1024


class PublicKeyError(ValueError):
    """The configured verification key cannot be read."""


def _strip_pem(key: str) -> str:
    """Accept the key as SendGrid shows it (base64 DER) or as a PEM block."""
    lines = [ln.strip() for ln in key.strip().splitlines()]
    return "".join(ln for ln in lines if ln and not ln.startswith("-----"))


@lru_cache(maxsize=8)
def load_public_key(key: str) -> Any:
    """The ECDSA public key object for SendGrid's verification key (cached)."""
    try:
        return EventWebhook().convert_public_key_to_ecdsa(_strip_pem(key))
    except (ValueError, TypeError) as exc:
        raise PublicKeyError(
            f"delivery.sendgrid.event_public_key is not a valid key ({exc})"
        ) from None


def signature_valid(public_key: Any, payload: bytes, signature: str, timestamp: str) -> bool:
    """Verify SendGrid's ECDSA signature over ``timestamp + raw body`` with the library helper."""
    try:
        text = payload.decode("utf-8")
        return bool(EventWebhook().verify_signature(text, signature, timestamp, public_key))
    except (UnicodeDecodeError, binascii.Error, ValueError, TypeError):
        return False


def timestamp_fresh(timestamp: str, max_age_s: float, now: float | None = None) -> bool:
    """True when the signed timestamp is within ``max_age_s`` of now (either direction)."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    return abs(now - stamp) <= max_age_s


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request, ctx: Ctx, background: BackgroundTasks) -> JSONResponse:
    """Receive a batch of SendGrid events (a JSON array), signed with the account's key."""
    key_text = ctx.cfg.delivery.sendgrid.event_public_key
    if not key_text:
        raise HTTPException(
            503, "Event webhook not configured: set delivery.sendgrid.event_public_key."
        )
    try:
        public_key = load_public_key(key_text)
    except PublicKeyError as exc:
        raise HTTPException(503, f"Event webhook not configured: {exc}.") from None

    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise HTTPException(403, "Missing event webhook signature headers.")
    body = await read_capped(request, MAX_BODY)
    if not signature_valid(public_key, body, signature, timestamp):
        raise HTTPException(403, "Bad event webhook signature.")
    max_age = ctx.cfg.delivery.sendgrid.event_max_age.total_seconds()
    if not timestamp_fresh(timestamp, max_age):
        raise HTTPException(403, "Stale or future event webhook timestamp (possible replay).")

    try:
        events, skipped = split_events(body)
    except NotAnArray as exc:
        raise HTTPException(400, f"{exc}.") from None
    for reason in skipped[:20]:
        log.warning("event webhook: skipped %s", reason)
    if len(skipped) > 20:
        log.warning("event webhook: skipped %d more bad events", len(skipped) - 20)
    try:
        counts = await run_in_threadpool(_apply, ctx, events)
    except SQLAlchemyError as exc:
        # 5xx makes SendGrid retry later; de-duplication makes the retry safe.
        log.error("event webhook: database error: %s", type(exc).__name__)
        raise HTTPException(503, "Database unavailable; retry later.") from None
    counts["ignored"] = len(skipped)
    if ctx.after_events is not None and counts["new"]:
        # Only complaints and bounces can push a rate over its line.
        issue_ids = sorted(
            {
                str(e["issue_id"])
                for e in events
                if e.get("issue_id") and e.get("event") in ("bounce", "spamreport")
            }
        )
        if issue_ids:
            background.add_task(ctx.after_events, issue_ids)
    return JSONResponse(counts)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, read as a stream and refused (413) as soon as it passes ``limit``.

    A declared Content-Length over the limit is refused before reading anything, and a body
    without one is never buffered past the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise HTTPException(413, "Event batch too large.")
        except ValueError:
            raise HTTPException(400, "Bad Content-Length.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, "Event batch too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _apply(ctx: WebContext, events: list[dict[str, Any]]) -> dict[str, int]:
    """Apply every event in one transaction; replays are counted as duplicates."""
    counts = {"received": len(events), "new": 0, "duplicate": 0}
    with ctx.engine.begin() as conn:
        for outcome in store.apply_provider_events(conn, events, provider="sendgrid"):
            counts["new" if outcome.new else "duplicate"] += 1
    return counts
