"""Webhook deliveries are claimed by one gateway replica at a time (issue 13): the replica sending a pending
delivery and until when its claim holds (renewed as it goes; another replica takes it once it expires).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by 0001 (made by create_all from today's models) already has them.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("webhook_deliveries")}
    with op.batch_alter_table("webhook_deliveries") as batch:
        if "claimed_by" not in present:
            batch.add_column(sa.Column("claimed_by", sa.String(128), nullable=True))
        if "claimed_until" not in present:
            batch.add_column(sa.Column("claimed_until", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
