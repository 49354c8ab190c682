"""printers.poll_interval nullable: NULL follows the global monitoring_interval

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

A printer's ``poll_interval`` becomes optional: NULL means "poll at the global ``monitoring_interval`` setting"
(the run-time setting, ``PUT /api/v1/settings``), a number is the printer's own interval.

What happens to existing rows (before this revision every row held a number, 5.0 unless one was given):

- Bambu rows are set to NULL. Bambu printers push their reports and never used the value; the 5.0 they hold is
  the old default, never a choice, and NULL is what a Bambu printer added from now on gets.
- PrusaLink and OctoPrint rows keep their value, 5.0 included: the store cannot tell a 5.0 someone typed from
  the old default, and turning a chosen interval into "follow the global setting" would change what a printer
  does behind its operator's back, whereas keeping it changes nothing. Printers from the configuration file
  need no data change here: they are written again from the file at every start-up (``PrinterService.seed``),
  so one without ``poll_interval`` in the file becomes NULL on the first start after this upgrade. A printer
  added through the API or the web keeps its stored interval; ``PATCH /api/v1/printers/{id}`` with
  ``{"poll_interval": null}`` makes it follow the global setting.

The downgrade writes 5.0 (the old default) into NULL rows before making the column NOT NULL again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Repeated here rather than imported: a revision must keep doing what it did, whatever later becomes of the code.
_OLD_DEFAULT_POLL_INTERVAL_S = 5.0

_printers = sa.table(
    "printers",
    sa.column("kind", sa.String()),
    sa.column("poll_interval", sa.Float()),
)


def upgrade() -> None:
    """Allow NULL in ``printers.poll_interval``; clear the value of Bambu rows (pushed, never polled)."""
    # Batch mode: SQLite cannot drop a NOT NULL constraint in place, so the table is rebuilt (env.py turns
    # foreign keys off meanwhile); on PostgreSQL this is a plain ALTER COLUMN ... DROP NOT NULL.
    with op.batch_alter_table("printers") as batch:
        batch.alter_column("poll_interval", existing_type=sa.Float(), nullable=True)
    op.execute(_printers.update().where(_printers.c.kind == "bambu").values(poll_interval=None))


def downgrade() -> None:
    """Give NULL rows the old default interval back and make ``printers.poll_interval`` NOT NULL again."""
    op.execute(
        _printers.update().where(_printers.c.poll_interval.is_(None)).values(poll_interval=_OLD_DEFAULT_POLL_INTERVAL_S)
    )
    with op.batch_alter_table("printers") as batch:
        batch.alter_column("poll_interval", existing_type=sa.Float(), nullable=False)
