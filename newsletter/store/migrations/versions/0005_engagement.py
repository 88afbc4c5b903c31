"""Engagement rows (one per provider event of an issue) and report alerts.

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
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
    op.create_index(
        "ix_engagement_issue_kind_email",
        "engagement",
        ["issue_id", "kind", "email", "ts", "url", "machine", "detail", "flag"],
    )
    op.create_index("ix_engagement_email", "engagement", ["email"])
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
    op.drop_table("report_alerts")
    op.drop_index("ix_engagement_email", "engagement")
    op.drop_index("ix_engagement_issue_kind_email", "engagement")
    op.drop_table("engagement")
