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
    Float,
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
    # Provider events name the address: their ledger confirmations look rows up by it.
    Index("ix_sends_issue_email", "issue_id", "email"),
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

# One narrow row per provider event (or own redirect click) of an issue: what the report
# aggregates. The events table keeps the raw payloads; this one is what stays fast at 3M rows.
engagement = Table(
    "engagement",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(40), nullable=False),
    Column("email", String(320), nullable=False),
    Column("subscriber_id", Id, nullable=True),
    # processed, delivered, deferred, bounce, dropped, open, click, spamreport, unsubscribe, ...
    Column("kind", String(24), nullable=False),
    Column("detail", String(20), nullable=True),  # bounce: hard | soft | blocked
    Column("machine", Boolean, nullable=False, default=False),  # sg_machine_open
    Column("flag", String(20), nullable=True),  # a bot sign seen at ingest (head)
    Column("url", Text, nullable=True),  # a click's URL, normalised (no utm_*)
    Column("ts", BigInteger, nullable=False),  # epoch seconds: portable arithmetic
    Column("source", String(10), nullable=False),  # sendgrid | own
    Index("ix_engagement_issue_kind", "issue_id", "kind"),
    Index("ix_engagement_email", "email"),
)

# One row per issue and recipient, kept up to date at ingest (new events only): the report
# adds these up instead of scanning every event. Counters count events; > 0 means "had one".
engagement_people = Table(
    "engagement_people",
    metadata,
    Column("issue_id", String(40), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("processed", Integer, nullable=False, default=0),
    Column("delivered", Integer, nullable=False, default=0),
    Column("deferred", Integer, nullable=False, default=0),
    Column("bounce_hard", Integer, nullable=False, default=0),
    Column("bounce_soft", Integer, nullable=False, default=0),
    Column("bounce_blocked", Integer, nullable=False, default=0),
    Column("dropped", Integer, nullable=False, default=0),
    Column("spamreport", Integer, nullable=False, default=0),
    Column("unsubscribe", Integer, nullable=False, default=0),
    Column("resubscribe", Integer, nullable=False, default=0),
    Column("open_human", Integer, nullable=False, default=0),
    Column("open_machine", Integer, nullable=False, default=0),
    Column("clicks", Integer, nullable=False, default=0),
    Column("delivered_ts", BigInteger, nullable=True),
    Column("first_click", BigInteger, nullable=True),
    Column("last_click", BigInteger, nullable=True),
    Column("bot_sign", Integer, nullable=False, default=0),  # HEAD requests, canary clicks
    # The clickers of an issue, with what the bot test needs, without reading the table.
    Index(
        "ix_engagement_people_clickers",
        "issue_id",
        "clicks",
        "first_click",
        "last_click",
        "delivered_ts",
        "bot_sign",
        "email",
    ),
)

# Per issue: recipients who had each kind of event (``<counter>``, counted when their row in
# engagement_people first goes above 0) and event totals (``<counter>_n``).
issue_counts = Table(
    "issue_counts",
    metadata,
    Column("issue_id", String(40), primary_key=True),
    Column("name", String(24), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# One row per issue, recipient and link clicked (normalised URL): unique clicks per link.
click_links = Table(
    "click_links",
    metadata,
    Column("issue_id", String(40), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("url", String(2000), primary_key=True),
    Column("clicks", Integer, nullable=False, default=0),
    Column("first_ts", BigInteger, nullable=False),
    Index("ix_click_links_issue_url", "issue_id", "url", "email", "clicks", "first_ts"),
)

# An alert sent to the editors for an issue (complaints or bounces over the line), once.
report_alerts = Table(
    "report_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(40), nullable=False),
    Column("kind", String(20), nullable=False),  # complaints | bounces
    Column("rate", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("mailed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("issue_id", "kind", name="uq_report_alerts_issue_kind"),
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
