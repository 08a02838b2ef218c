"""Jobs remember an end asked of ComfyUI (a cancel or a timeout) until ComfyUI confirms it.

`jobs.end_request` holds `{"status", "error"}` while the interruption is unconfirmed, so a restarted gateway
keeps asking (issue 12: a cancel or a timeout is recorded as done only once ComfyUI confirmed it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database adopted by 0001 from a gateway that already wrote this column (before migrations) has it.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    if "end_request" not in present:
        with op.batch_alter_table("jobs") as batch:
            batch.add_column(sa.Column("end_request", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("end_request")
