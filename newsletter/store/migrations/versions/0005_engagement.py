"""Engagement rows (one per provider event of an issue), per-recipient summaries, alerts;
an index on the ledger by issue and address (for the confirmations events bring).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Ledger confirmations from provider events look rows up by issue and address.
    op.create_index("ix_sends_issue_email", "sends", ["issue_id", "email"])
    op.create_table(
        "engagement",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("subscriber_id", Id, nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("detail", sa.String(20), nullable=True),
        sa.Column("machine", sa.Boolean, nullable=False),
        sa.Column("flag", sa.String(20), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engagement"),
    )
    op.create_index("ix_engagement_issue_kind", "engagement", ["issue_id", "kind"])
    op.create_index("ix_engagement_email", "engagement", ["email"])
    counters = [
        sa.Column(name, sa.Integer, nullable=False)
        for name in (
            "processed", "delivered", "deferred", "bounce_hard", "bounce_soft",
            "bounce_blocked", "dropped", "spamreport", "unsubscribe", "resubscribe",
            "open_human", "open_machine", "clicks",
        )
    ]  # fmt: skip
    op.create_table(
        "engagement_people",
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        *counters,
        sa.Column("delivered_ts", sa.BigInteger, nullable=True),
        sa.Column("first_click", sa.BigInteger, nullable=True),
        sa.Column("last_click", sa.BigInteger, nullable=True),
        sa.Column("bot_sign", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "email", name="pk_engagement_people"),
    )
    op.create_index(
        "ix_engagement_people_clickers",
        "engagement_people",
        ["issue_id", "clicks", "first_click", "last_click", "delivered_ts", "bot_sign", "email"],
    )
    op.create_table(
        "issue_counts",
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(24), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "name", name="pk_issue_counts"),
    )
    op.create_table(
        "click_links",
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("clicks", sa.Integer, nullable=False),
        sa.Column("first_ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "email", "url", name="pk_click_links"),
    )
    op.create_index(
        "ix_click_links_issue_url",
        "click_links",
        ["issue_id", "url", "email", "clicks", "first_ts"],
    )
    op.create_table(
        "report_alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("mailed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_report_alerts"),
        sa.UniqueConstraint("issue_id", "kind", name="uq_report_alerts_issue_kind"),
    )


def downgrade() -> None:
    op.drop_index("ix_sends_issue_email", "sends")
    op.drop_table("report_alerts")
    op.drop_index("ix_click_links_issue_url", "click_links")
    op.drop_table("click_links")
    op.drop_table("issue_counts")
    op.drop_index("ix_engagement_people_clickers", "engagement_people")
    op.drop_table("engagement_people")
    op.drop_index("ix_engagement_email", "engagement")
    op.drop_index("ix_engagement_issue_kind", "engagement")
    op.drop_table("engagement")
