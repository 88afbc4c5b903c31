"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it.

Subscribers, suppressions, issues, the send ledger (the truth about who got what),
provider events, and scheduler slot claims.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# "pending": signed up, not yet confirmed (never in an audience; purged after signup.confirm_ttl).
SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained", "pending")
# ``deferred``: transiently refused until the retry window ran out; certainly not sent, and
# retried by the next run of the send.
LEDGER_STATUSES = ("queued", "sent", "failed", "uncertain", "suppressed", "deferred")

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # Stored normalised (lower-cased), so uniqueness is case-insensitive on every engine.
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=True),
    Column("wants_midweek", Boolean, nullable=False, default=True),
    Column("wants_sunday", Boolean, nullable=False, default=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("source", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("unsubscribed_at", DateTime(timezone=True), nullable=True),
    Index("ix_subscribers_status_id", "status", "id"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("reason", String(40), nullable=False),
    Column("source", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

issues = Table(
    "issues",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("edition", String(20), nullable=False),
    Column("slot", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("report", Text, nullable=True),
)

sends = Table(
    "sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(40), ForeignKey("issues.id"), nullable=False),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("batch", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_message_id", String(200), nullable=True),
    Column("last_error", Text, nullable=True),
    # Set (and committed) right before each request to the provider, cleared when the
    # provider certainly did nothing: a `queued` row with posted_at set may have been sent.
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("issue_id", "subscriber_id", name="uq_sends_issue_subscriber"),
    Index("ix_sends_issue_status", "issue_id", "status"),
    Index("ix_sends_batch", "batch"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(20), nullable=False),
    Column("provider_event_id", String(200), nullable=False),
    Column("event", String(40), nullable=False),
    Column("email", String(320), nullable=True),
    Column("issue_id", String(40), nullable=True),
    Column("subscriber_id", Id, nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),
    UniqueConstraint("provider", "provider_event_id", name="uq_events_provider_event"),
)

slot_runs = Table(
    "slot_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(40), nullable=False),
    Column("edition", String(20), nullable=False),
    Column("slot", DateTime(timezone=True), nullable=False),
    Column("step", String(20), nullable=False),  # assemble | send
    Column("status", String(20), nullable=False),  # claimed | done | failed | held | missed
    Column("owner", String(200), nullable=False),
    Column("detail", Text, nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("issue_id", "step", name="uq_slot_runs_issue_step"),
)

# Append-only record of each consent: a signup, its confirmation, an import or a CLI add.
# Rows are only ever inserted; they go only when the person's data is purged.
consents = Table(
    "consents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("subscriber_id", Id, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(20), nullable=False),  # signup | confirm | import | cli
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Column("source", String(20), nullable=False),  # form | api | import | cli
    Column("method", String(20), nullable=False),  # double-opt-in | import | cli
    Column("text_version", String(40), nullable=True),
    Column("detail", String(200), nullable=True),  # import file name, or where the form was
    Index("ix_consents_email", "email"),
)

# Outstanding confirmation links: only the SHA-256 of each random token is stored.
signup_tokens = Table(
    "signup_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=True),
    Column("wants_midweek", Boolean, nullable=False),
    Column("wants_sunday", Boolean, nullable=False),
    Column("source", String(20), nullable=False),
    Column("text_version", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Index("ix_signup_tokens_email", "email"),
)

# Rate-limit hits (per IP, per address), shared by every process through the store.
rate_hits = Table(
    "rate_hits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_rate_hits_key_at", "key", "at"),
)
