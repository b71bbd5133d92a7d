"""How far behind each processor's consumer group is, from what the broker knows alone (no processor needs to run)."""

from collections.abc import Iterable, Mapping

from catalog_schemas.topics import BULK_LANES

Partition = tuple[str, int]  # (topic, partition)


def lanes_of(topics: Iterable[str]) -> set[str]:
    """The topics a group reads, given those it has committed on: a topic with a bulk lane is read with its lane,
    so a lane the group never committed on (no records yet) still counts."""
    counterparts = {bulk.name: name for name, bulk in BULK_LANES.items()}
    wanted = set(topics)
    for topic in list(wanted):
        if topic in BULK_LANES:
            wanted.add(BULK_LANES[topic].name)
        if topic in counterparts:
            wanted.add(counterparts[topic])
    return wanted


def group_lag(
    committed: Mapping[Partition, int | None], ends: Mapping[Partition, int], beginnings: Mapping[Partition, int]
) -> dict[Partition, int]:
    """Lag per partition: end offset minus the committed offset; a partition without a commit is read from its
    beginning (the processors' `auto_offset_reset=earliest`), so all it holds counts."""
    lag = {}
    for partition, end in ends.items():
        offset = committed.get(partition)
        start = beginnings.get(partition, 0) if offset is None or offset < 0 else offset
        lag[partition] = max(0, end - start)
    return lag
