"""The store: subscribers, issues, the send ledger, events, suppressions and slot claims."""

from newsletter.store import tables

__all__ = ["tables"]
