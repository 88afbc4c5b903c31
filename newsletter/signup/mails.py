"""The signup emails (confirmation, welcome, "already subscribed"), sent through the provider.

They go through the configured provider like any send (with ``outbox``, ``.eml`` files under
``<outbox>/signup-confirm/`` and so on). The confirmation is plain: no tracking (SendGrid
click and open tracking are switched off for the ``transactional`` category), no images, and
never the name from the form, which anyone could have typed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jinja2

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings
from newsletter.delivery.base import (
    TRANSACTIONAL_CATEGORY,
    OutgoingIssue,
    Provider,
    ProviderError,
    Recipient,
)
from newsletter.delivery.message import list_unsubscribe_headers
from newsletter.personalization import sign_token
from newsletter.rendering.context import web_url
from newsletter.signup.flow import MailJob

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "signup"
SUBJECTS = {
    "confirm": "Please confirm your subscription to {site}",
    "welcome": "Welcome to {site}",
    "already": "You're already subscribed to {site}",
}
log = logging.getLogger("newsletter.signup")

ProviderFactory = Callable[[], Provider]


def human_span(seconds: float) -> str:
    """``72 hours``, ``3 days``, ``30 minutes``."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0 and seconds > 3 * 86400:
        return f"{int(seconds // 86400)} days"
    if seconds >= 3600:
        hours = round(seconds / 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def latest_issue_url(cfg: Settings) -> str | None:
    """The web address of the newest sent issue in the archive, or None."""
    sent = [p for p in Archive(cfg.archive_dir).plans() if p.status in ("sent", "partial")]
    return web_url(cfg, sent[-1].id) if sent else None


class SignupMailer:
    """Renders the signup emails from ``templates/email/signup/`` and sends each one."""

    def __init__(
        self, cfg: Settings, secrets: Secrets, provider: ProviderFactory | None = None
    ) -> None:
        self.cfg = cfg
        self.secrets = secrets
        self._provider = provider or self._configured_provider
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=jinja2.select_autoescape(["html.j2"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _configured_provider(self) -> Provider:
        from newsletter.delivery.factory import make_provider

        return make_provider(self.cfg, self.secrets)

    @property
    def base_url(self) -> str:
        return str(self.cfg.web.public_url).rstrip("/")

    def compose(self, job: MailJob) -> tuple[OutgoingIssue, Recipient]:
        """The message for one job: the shared part and its single recipient."""
        cfg = self.cfg
        values: dict[str, object] = {
            "site_name": cfg.site.name,
            "site_url": str(cfg.site.url),
            "postal_address": cfg.site.postal_address,
            "confirm_url": f"{self.base_url}/confirm?t={job.token}" if job.token else "",
            "ttl": human_span(cfg.signup.confirm_ttl.total_seconds()),
            "preferences_url": None,
            "unsubscribe_url": None,
            "latest_url": latest_issue_url(cfg) if job.kind == "welcome" else None,
            "editions": "",
        }
        headers: dict[str, str] = {}
        key = self.secrets.secret_key
        if job.kind != "confirm" and key is not None and job.subscriber_id is not None:
            signed = sign_token(key.get_secret_value().encode(), job.subscriber_id, job.email)
            values["preferences_url"] = f"{self.base_url}/preferences?t={signed}"
            values["unsubscribe_url"] = f"{self.base_url}/unsubscribe?t={signed}"
            if job.kind == "welcome":
                headers = list_unsubscribe_headers(
                    str(values["unsubscribe_url"]), cfg.delivery.unsubscribe_mailto
                )
        text = self._env.get_template(f"{job.kind}.txt.j2").render(values)
        html = self._env.get_template(f"{job.kind}.html.j2").render(values)
        issue = OutgoingIssue(
            issue_id=f"signup-{job.kind}",
            edition="signup",
            subject=SUBJECTS[job.kind].format(site=cfg.site.name),
            html=html,
            text=text,
            sender_email=cfg.site.sender.email,
            sender_name=cfg.site.sender.name,
            reply_to=cfg.site.reply_to,
            categories=(TRANSACTIONAL_CATEGORY,),
        )
        # No display name: the name came from a form anyone can fill in.
        return issue, Recipient(email=job.email, name=None, values={}, headers=headers)

    def send(self, job: MailJob) -> bool:
        """Send one email; True when the provider accepted it. Failures are logged, not raised
        (this runs after the HTTP answer; the reader can ask again once the limits allow)."""
        issue, recipient = self.compose(job)
        try:
            provider = self._provider()
        except Exception as exc:
            log.error("signup %s email not sent: provider unavailable (%s)", job.kind, exc)
            return False
        try:
            result = provider.send_batch(issue, [recipient])
        except ProviderError as exc:
            log.error("signup %s email not sent: %s", job.kind, exc)
            return False
        finally:
            provider.close()
        missed = {**result.rejected, **result.deferred, **result.uncertain}
        if missed:
            log.error("signup %s email not sent: %s", job.kind, next(iter(missed.values())))
            return False
        return True


class MailQueue:
    """Sends signup emails on one background thread, in the order they were queued.

    The web answer never waits for an email (building a MIME message costs more than the
    whole signup transaction), and a burst of signups does not take the request threads'
    time. Queued emails live in memory only (a token is never stored in the clear): if the
    process dies first, the reader asks again once the per-address limit allows.
    """

    def __init__(self, mailer: SignupMailer, maxsize: int = 10_000) -> None:
        self.mailer = mailer
        self._queue: queue.Queue[MailJob] = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: MailJob) -> bool:
        """Queue one email; False (and logged) when the queue is full."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="signup-mail", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.error("signup %s email not sent: the mail queue is full", job.kind)
            return False
        return True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self.mailer.send(job)
            except Exception:
                log.exception("signup %s email not sent", job.kind)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued email was handed to the provider (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True
