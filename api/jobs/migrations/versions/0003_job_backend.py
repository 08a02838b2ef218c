"""Jobs remember the fleet backend that runs them, and how often a lost run was resubmitted (issue 13).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by 0001 (made by create_all from today's models) already has them.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    with op.batch_alter_table("jobs") as batch:
        if "backend" not in present:
            batch.add_column(sa.Column("backend", sa.String(128), nullable=True))
        if "attempts" not in present:
            batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("backend")
