"""GIN indexes without pending lists: every search sees an index with no unsorted tail to scan.

With `fastupdate` on, rows wait in a pending list until vacuum; a search scans that list on every query and the
planner may give up on the index (a common word took 377 ms instead of 45 ms under steady indexing). Indexing
pays the cost instead, and it has capacity to spare (over 1,000 parts/s measured).

Revision ID: s0002
"""

from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

_INDEXES = ("documents_fulltext", "documents_fuzzy", "documents_skus")


def upgrade() -> None:
    for index in _INDEXES:
        op.execute(f"ALTER INDEX search.{index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('search.{index}'::regclass)")


def downgrade() -> None:
    for index in _INDEXES:
        op.execute(f"ALTER INDEX search.{index} RESET (fastupdate)")
