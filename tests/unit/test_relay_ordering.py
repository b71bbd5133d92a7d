"""Which rows a relay may mark published after a partly failed batch."""

from catalog_relay.domain.ordering import PendingRow, rows_to_mark


def test_all_delivered_are_marked() -> None:
    batch = [PendingRow(1, "a"), PendingRow(2, "b"), PendingRow(3, "a")]
    assert rows_to_mark(batch, {1, 2, 3}) == [1, 2, 3]


def test_a_failure_holds_back_later_rows_of_the_same_aggregate_only() -> None:
    batch = [PendingRow(1, "a"), PendingRow(2, "b"), PendingRow(3, "a"), PendingRow(4, "b"), PendingRow(5, "a")]
    # Row 1 of "a" failed: rows 3 and 5 were delivered but must be sent again after it, so they stay unmarked.
    assert rows_to_mark(batch, {2, 3, 4, 5}) == [2, 4]


def test_nothing_delivered_nothing_marked() -> None:
    assert rows_to_mark([PendingRow(1, "a")], set()) == []
