"""The provider Protocol and the values that cross it.

A provider sends one rendered issue to a batch of recipients. It knows nothing of the
store, retries or the ledger: it reports what happened by returning a :class:`BatchResult`
or raising one of the :class:`ProviderError` subclasses, and the dispatcher decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from newsletter.errors import NewsletterError


@dataclass(frozen=True, slots=True)
class Recipient:
    """One addressee with their personal values.

    ``values`` maps each placeholder token in the rendered issue to this recipient's value;
    ``headers`` are per-recipient headers (List-Unsubscribe, List-Unsubscribe-Post).
    """

    email: str
    name: str | None
    values: Mapping[str, str]
    headers: Mapping[str, str]
    subscriber_id: int | None = None


# A category marking one-off messages (signup confirmation, welcome): the SendGrid provider
# switches click and open tracking off for them.
TRANSACTIONAL_CATEGORY = "transactional"


@dataclass(frozen=True, slots=True)
class OutgoingIssue:
    """The rendered issue as every recipient shares it, placeholders still in place."""

    issue_id: str
    edition: str
    subject: str
    html: str
    text: str
    sender_email: str
    sender_name: str
    reply_to: str | None = None
    categories: tuple[str, ...] = ()
    test: bool = False
    list_name: str | None = None
    """The edition's title, the display part of the List-Id header ("Sunday")."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The provider accepted the batch, except for the recipients named in the three maps.

    Every recipient not named in ``rejected``, ``deferred`` or ``uncertain`` was accepted.
    The maps are keyed by the recipient's email as given, with a one-line reason:

    - ``rejected``: refused for good (an SMTP 5xx, a SendGrid limit): not sent, do not retry;
    - ``deferred``: refused for now (an SMTP 4xx, the connection lost before the message):
      certainly not sent, safe to retry;
    - ``uncertain``: may or may not have been sent (the connection died during DATA).

    Providers that send one request per batch (SendGrid) raise instead of filling
    ``deferred`` and ``uncertain``; only ``rejected`` can name recipients they dropped
    before posting.
    """

    status_code: int | None = None
    message_id: str | None = None
    message_ids: Mapping[str, str] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    deferred: Mapping[str, str] = field(default_factory=dict)
    uncertain: Mapping[str, str] = field(default_factory=dict)


class ProviderError(NewsletterError):
    """The provider did not accept the batch."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProviderAuthError(ProviderError):
    """Credentials are missing or refused (401): stop the whole send."""


class ProviderRejectedError(ProviderError):
    """The provider refused this batch for good (400, 403, 413): fail it, do not retry."""


class ProviderTransientError(ProviderError):
    """Throttled or temporarily failing (429, 5xx, connection refused): retry later.

    The request certainly had no effect. ``retry_after`` is the provider's hint in seconds.
    """

    def __init__(
        self, message: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class ProviderUncertainError(ProviderError):
    """The request may or may not have been acted on (the connection died mid-flight)."""


@runtime_checkable
class Provider(Protocol):
    """Sends one issue to a batch of recipients."""

    name: str
    max_batch_size: int

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        """Send to every recipient in one request or session; raise a ProviderError if not."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
