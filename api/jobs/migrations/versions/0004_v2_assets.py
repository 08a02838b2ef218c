"""Comfy API v2 assets: records over content-addressed blobs (uploads) and job output files.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "v2_assets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("hash", sa.String(80), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("file_path", sa.Text, nullable=True),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("output", sa.JSON, nullable=True),
    )
    op.create_index("ix_v2_assets_hash", "v2_assets", ["hash"])
    op.create_index("ix_v2_assets_owner", "v2_assets", ["owner"])
    op.create_index("ix_v2_assets_job_id", "v2_assets", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_v2_assets_job_id", table_name="v2_assets")
    op.drop_index("ix_v2_assets_owner", table_name="v2_assets")
    op.drop_index("ix_v2_assets_hash", table_name="v2_assets")
    op.drop_table("v2_assets")
