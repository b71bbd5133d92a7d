"""Which rows of a published batch may be marked done without breaking per-aggregate order."""

from collections.abc import Iterable, Set
from typing import NamedTuple


class PendingRow(NamedTuple):
    id: int
    aggregate_id: str


def rows_to_mark(batch: Iterable[PendingRow], delivered: Set[int]) -> list[int]:
    """The delivered rows up to each aggregate's first undelivered one.

    A later event of the same aggregate may have been delivered after an earlier one failed; it stays
    unmarked and is sent again after the failed one, so the last copy a consumer sees is in order.
    """
    blocked: set[str] = set()
    marked: list[int] = []
    for row in batch:
        if row.aggregate_id in blocked:
            continue
        if row.id in delivered:
            marked.append(row.id)
        else:
            blocked.add(row.aggregate_id)
    return marked
