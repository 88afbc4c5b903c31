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

__all__ = [
    "BatchResult",
    "OutgoingIssue",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejectedError",
    "ProviderTransientError",
    "ProviderUncertainError",
    "Recipient",
]
