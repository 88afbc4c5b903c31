"""Deliverability alerts: an issue's complaint or bounce rate over the line, told once.

Gmail and Yahoo start filtering a bulk sender whose complaint rate passes 0.1 % (0.3 % is
their hard limit); a bounce rate over 2 % means the list needs cleaning. The alert is
recorded in ``report_alerts`` (one per issue and kind, so it is mailed once) and shown by
``newsletter status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from newsletter.config import Secrets, Settings
from newsletter.reporting.report import ledger_counts, people_counts
from newsletter.store.events import _insert_ignore
from newsletter.store.tables import report_alerts


@dataclass(frozen=True)
class Alert:
    """One line crossed by one issue."""

    issue_id: str
    kind: str  # complaints | bounces
    rate: float
    threshold: float
    message: str
    created_at: datetime | None = None
    mailed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "kind": self.kind,
            "rate": self.rate,
            "threshold": self.threshold,
            "message": self.message,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "mailed_at": self.mailed_at.isoformat() if self.mailed_at else None,
        }


def rates(conn: Connection, issue_id: str) -> tuple[int, int, int, int]:
    """(sent, delivered, complained, bounced) recipients of an issue."""
    _, sent = ledger_counts(conn, issue_id)
    counts = people_counts(conn, issue_id)
    return sent, counts["delivered"], counts["spamreport"], counts["bounced"]


def evaluate(
    cfg: Settings, issue_id: str, sent: int, delivered: int, complained: int, bounced: int
) -> list[Alert]:
    """The lines an issue has crossed (none below ``alerts.min_delivered`` deliveries)."""
    a = cfg.alerts
    out: list[Alert] = []
    if delivered < a.min_delivered:
        return out
    complaint_rate = complained / delivered
    if complaint_rate > a.complaint_rate:
        out.append(
            Alert(
                issue_id,
                "complaints",
                round(complaint_rate, 6),
                a.complaint_rate,
                f"{issue_id}: complaint rate {complaint_rate:.2%} ({complained} of {delivered} "
                f"delivered) is over {a.complaint_rate:.2%}; Gmail and Yahoo filter from 0.1 % "
                "and refuse from 0.3 %",
            )
        )
    base = sent or delivered + bounced
    bounce_rate = bounced / base if base else 0.0
    if bounce_rate > a.bounce_rate:
        out.append(
            Alert(
                issue_id,
                "bounces",
                round(bounce_rate, 6),
                a.bounce_rate,
                f"{issue_id}: bounce rate {bounce_rate:.2%} ({bounced} of {base} sent) is over "
                f"{a.bounce_rate:.2%}",
            )
        )
    return out


Mailer = Callable[[Settings, Alert], None]


def check_alerts(
    engine: Engine,
    cfg: Settings,
    issue_ids: Iterable[str],
    *,
    mail: Mailer | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Record (and mail, once) every new alert of these issues; returns the new ones."""
    found: list[Alert] = []
    for issue_id in issue_ids:
        with engine.connect() as conn:
            found += evaluate(cfg, issue_id, *rates(conn, issue_id))
    return record_alerts(engine, cfg, found, mail=mail, now=now)


def record_alerts(
    engine: Engine,
    cfg: Settings,
    alerts: Iterable[Alert],
    *,
    mail: Mailer | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Store alerts not seen before (one per issue and kind) and mail those; returns them."""
    now = now or datetime.now(UTC)
    new: list[Alert] = []
    for alert in alerts:
        values = {
            "issue_id": alert.issue_id,
            "kind": alert.kind,
            "rate": alert.rate,
            "threshold": alert.threshold,
            "message": alert.message,
            "created_at": now,
        }
        with engine.begin() as conn:
            if _insert_ignore(conn, report_alerts, values):
                new.append(alert)
    for alert in new:
        if mail is None or not cfg.site.editors:
            continue
        mail(cfg, alert)  # a failure leaves mailed_at empty: status still shows the alert
        with engine.begin() as conn:
            conn.execute(
                update(report_alerts)
                .where(
                    report_alerts.c.issue_id == alert.issue_id,
                    report_alerts.c.kind == alert.kind,
                )
                .values(mailed_at=datetime.now(UTC))
            )
    return new


def recent_alerts(engine: Engine, limit: int = 10) -> list[Alert]:
    """The latest recorded alerts, newest first."""
    t = report_alerts.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(report_alerts).order_by(t.created_at.desc(), t.id.desc()).limit(limit)
        )
        return [
            Alert(r.issue_id, r.kind, r.rate, r.threshold, r.message, r.created_at, r.mailed_at)
            for r in rows
        ]


def mail_editors(secrets: Secrets) -> Mailer:
    """A mailer that sends the alert to ``site.editors`` through the configured provider."""

    def send(cfg: Settings, alert: Alert) -> None:
        from newsletter.delivery import make_provider
        from newsletter.delivery.base import OutgoingIssue, Recipient

        report = f"{str(cfg.web.public_url).rstrip('/')}/issues/{alert.issue_id}/report"
        issue = OutgoingIssue(
            issue_id=f"{alert.issue_id}-{alert.kind}-alert",
            edition=alert.issue_id.rsplit("-", 1)[-1],
            subject=f"[{cfg.site.name}] {alert.issue_id}: {alert.kind} over the line",
            html=f'<p>{escape(alert.message)}</p><p><a href="{escape(report)}">Report</a></p>',
            text=f"{alert.message}\n\nReport: {report}\n",
            sender_email=cfg.site.sender.email,
            sender_name=cfg.site.sender.name,
            categories=("editor-alert",),
            test=True,
        )
        recipients = [
            Recipient(email=e, name=None, values={}, headers={}) for e in cfg.site.editors
        ]
        provider = make_provider(cfg, secrets)
        try:
            provider.send_batch(issue, recipients)
        finally:
            provider.close()

    return send
