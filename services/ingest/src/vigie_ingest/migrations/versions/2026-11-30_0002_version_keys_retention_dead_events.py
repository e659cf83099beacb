"""current version key, (ticket, version) unique, retention indexes, dead outbox events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vigie_common.db.types
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PENDING_BEFORE = sa.text("sent_at IS NULL")
PENDING = sa.text("sent_at IS NULL AND dead_at IS NULL")
DEAD = sa.text("dead_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dead_at", vigie_common.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_index(
            "ix_outbox_event_pending", sqlite_where=PENDING_BEFORE, postgresql_where=PENDING_BEFORE
        )
        batch_op.create_index(
            "ix_outbox_event_pending", ["seq"], sqlite_where=PENDING, postgresql_where=PENDING
        )
        batch_op.create_index(
            "ix_outbox_event_dead", ["seq"], sqlite_where=DEAD, postgresql_where=DEAD
        )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upstream_version_key", sa.String(length=200), nullable=True))
    # The current version's key, from the version row that made it current.
    op.execute(
        "UPDATE ticket SET upstream_version_key = ("
        " SELECT v.upstream_version_key FROM ticket_version v"
        " WHERE v.ticket_id = ticket.id AND v.version = ticket.version)"
    )
    with op.batch_alter_table("ticket_version", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ticket_version_ticket_id_version", ["ticket_id", "version"], unique=True
        )
        batch_op.create_index("ix_ticket_version_received_at", ["received_at"], unique=False)
    with op.batch_alter_table("rejected_webhook", schema=None) as batch_op:
        batch_op.create_index("ix_rejected_webhook_received_at", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rejected_webhook", schema=None) as batch_op:
        batch_op.drop_index("ix_rejected_webhook_received_at")
    with op.batch_alter_table("ticket_version", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_version_received_at")
        batch_op.drop_index("uq_ticket_version_ticket_id_version")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("upstream_version_key")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_dead", sqlite_where=DEAD, postgresql_where=DEAD)
        batch_op.drop_index(
            "ix_outbox_event_pending", sqlite_where=PENDING, postgresql_where=PENDING
        )
        batch_op.create_index(
            "ix_outbox_event_pending",
            ["seq"],
            sqlite_where=PENDING_BEFORE,
            postgresql_where=PENDING_BEFORE,
        )
        batch_op.drop_column("dead_at")
