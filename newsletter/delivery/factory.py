"""Choosing a provider by name: ``delivery.provider`` in config, ``--provider`` on the CLI."""

from __future__ import annotations

from newsletter.config import Secrets, Settings
from newsletter.delivery.base import Provider
from newsletter.errors import ConfigError, InputError

PROVIDER_NAMES: tuple[str, ...] = ("outbox", "sendgrid", "smtp")


def make_provider(
    cfg: Settings, secrets: Secrets | None = None, name: str | None = None
) -> Provider:
    """The provider named ``name`` (default ``cfg.delivery.provider``), configured from ``cfg``.

    Secrets come from ``secrets`` (default: the environment). An unknown name raises
    :class:`InputError`. A missing SendGrid key or SMTP password is reported by the provider
    as :class:`ProviderAuthError` when it first sends, so ``--dry-run`` works without it.
    """
    chosen = (name or cfg.delivery.provider).strip().lower()
    delivery = cfg.delivery
    if chosen == "outbox":
        from newsletter.delivery.outbox import OutboxProvider

        return OutboxProvider(cfg.path(delivery.outbox.dir), batch_size=delivery.batch_size)
    secrets = secrets if secrets is not None else Secrets.from_env()
    if chosen == "sendgrid":
        from newsletter.delivery.sendgrid import SendGridProvider

        return SendGridProvider(
            delivery.sendgrid,
            secrets.sendgrid_api_key,
            batch_size=delivery.batch_size,
            tracking=cfg.tracking,
        )
    if chosen == "smtp":
        from newsletter.delivery.smtp import SmtpProvider

        ca_file = cfg.path(delivery.smtp.ca_file) if delivery.smtp.ca_file else None
        return SmtpProvider(
            delivery.smtp, secrets.smtp_password, batch_size=delivery.batch_size, ca_file=ca_file
        )
    raise InputError(
        f"unknown provider {name or chosen!r}: choose one of {', '.join(PROVIDER_NAMES)}"
    )


def check_credentials(cfg: Settings, secrets: Secrets, name: str | None = None) -> None:
    """Raise :class:`ConfigError` if the provider's secret is missing from the environment.

    Called before a send changes anything, so a forgotten key stops the send at once
    instead of failing its first batch.
    """
    chosen = (name or cfg.delivery.provider).strip().lower()
    if chosen == "sendgrid" and secrets.sendgrid_api_key is None:
        raise ConfigError("SENDGRID_API_KEY is not set: the sendgrid provider needs it")
    if chosen == "smtp" and cfg.delivery.smtp.username and secrets.smtp_password is None:
        raise ConfigError(
            f"NEWSLETTER_SMTP_PASSWORD is not set: SMTP user {cfg.delivery.smtp.username} needs it"
        )
