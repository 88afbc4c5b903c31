"""The store: subscribers, issues, the send ledger, events, suppressions and slot claims."""

from newsletter.store import issues_repo, ledger, signups, subscribers, tables
from newsletter.store.db import create_engine_for, current_revision, open_store, upgrade
from newsletter.store.importer import ImportReport, export_csv, import_csv

__all__ = [
    "ImportReport",
    "create_engine_for",
    "current_revision",
    "export_csv",
    "import_csv",
    "issues_repo",
    "ledger",
    "open_store",
    "signups",
    "subscribers",
    "tables",
    "upgrade",
]
