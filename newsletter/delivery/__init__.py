"""Delivery: providers behind one Protocol, and the dispatcher."""

from newsletter.delivery.backends import dispatcher_class
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
from newsletter.delivery.dispatcher import (
    SendProgress,
    SendReport,
    reconcile_before_resend,
    send_issue,
    send_test,
)
from newsletter.delivery.factory import PROVIDER_NAMES, make_provider
from newsletter.delivery.gate import failed_checks, require_checks_passed
from newsletter.delivery.message import build_message, list_id, list_unsubscribe_headers
from newsletter.delivery.outbox import OutboxProvider
from newsletter.delivery.sendgrid import (
    PayloadSettings,
    SendGridProvider,
    build_payload,
    prepare_payload,
)
from newsletter.delivery.smtp import SmtpProvider
from newsletter.delivery.threads import Dispatcher

__all__ = [
    "PROVIDER_NAMES",
    "BatchResult",
    "Dispatcher",
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
    "SendProgress",
    "SendReport",
    "SmtpProvider",
    "build_message",
    "build_payload",
    "dispatcher_class",
    "failed_checks",
    "list_id",
    "list_unsubscribe_headers",
    "make_provider",
    "prepare_payload",
    "reconcile_before_resend",
    "require_checks_passed",
    "send_issue",
    "send_test",
]
