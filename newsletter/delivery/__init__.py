"""Delivery: providers behind one Protocol, and the dispatcher."""

from newsletter.delivery.base import (
    BatchResult,
    OutgoingIssue,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
)
from newsletter.delivery.dispatcher import SendReport, send_issue, send_test
from newsletter.delivery.factory import PROVIDER_NAMES, make_provider
from newsletter.delivery.message import build_message, list_unsubscribe_headers
from newsletter.delivery.outbox import OutboxProvider
from newsletter.delivery.sendgrid import (
    PayloadSettings,
    SendGridProvider,
    build_payload,
    prepare_payload,
)
from newsletter.delivery.smtp import SmtpProvider

__all__ = [
    "PROVIDER_NAMES",
    "BatchResult",
    "OutboxProvider",
    "OutgoingIssue",
    "PayloadSettings",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejectedError",
    "ProviderTransientError",
    "ProviderUncertainError",
    "Recipient",
    "SendGridProvider",
    "SendReport",
    "SmtpProvider",
    "build_message",
    "build_payload",
    "list_unsubscribe_headers",
    "make_provider",
    "prepare_payload",
    "send_issue",
    "send_test",
]
