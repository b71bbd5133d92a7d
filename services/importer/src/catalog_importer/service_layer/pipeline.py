"""Chunks in flight: a job writes its next chunk while the previous one is still in the database, and the running
jobs of an importer take turns at the chunk slots.

A chunk is still one transaction, and chunks still commit in feed order: each chunk waits for its predecessor's
commit (and takes over its tally) before it records the job's progress, so the resume point is always the end of
the last committed chunk. A chunk reads the catalog before its predecessor commits only when that cannot change
what it reads: the predecessor only creates products, and the two share no product or SKU. Otherwise it waits for
the commit first, exactly as if the chunks ran one after the other.
"""

import threading
from collections import deque
from collections.abc import Iterable

from catalog_importer.domain.tally import Tally


class Abandoned(Exception):
    """The chunk before this one did not commit (it failed, or the job was cancelled or lost): roll back."""


class Baton:
    """What a chunk passes to the next one of its job: when the next may read the catalog, and its tally once it
    committed."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(keys)  # lower-cased product and row SKUs of the chunk
        self._read = threading.Event()
        self._creates_only = False
        self._done = threading.Event()
        self._tally: Tally | None = None

    @classmethod
    def committed_with(cls, tally: Tally) -> "Baton":
        """The baton before a run's first chunk: the job's counts as the run found them."""
        baton = cls(())
        baton.read(creates_only=True)
        baton.commit(tally)
        return baton

    def read(self, *, creates_only: bool) -> None:
        """The chunk has read the catalog; `creates_only`: none of its products was in the catalog."""
        if not self._read.is_set():
            self._creates_only = creates_only
            self._read.set()

    def commit(self, tally: Tally) -> None:
        """The chunk committed, with these counts."""
        self._tally = tally
        self._read.set()
        self._done.set()

    def abandon(self) -> None:
        """The chunk did not commit: whatever follows rolls back."""
        self._read.set()
        self._done.set()

    def wait_readable(self, keys: frozenset[str]) -> None:
        """Block until a chunk with these keys may read the catalog: at once if this chunk only creates products
        none of which it shares, else once this chunk committed."""
        self._read.wait()
        if not (self._creates_only and self.keys.isdisjoint(keys)):
            self.tally()

    def tally(self) -> Tally:
        """The counts after this chunk, once it committed; Abandoned if it did not."""
        self._done.wait()
        if self._tally is None:
            raise Abandoned
        return self._tally


class ChunkTurns:
    """The chunk slots of one importer, handed out round-robin among its running jobs.

    Each job asks for a turn before each chunk and holds at most one request at a time, so serving the requests
    in the order they were made gives every running job a chunk in turn: a huge feed cannot starve a small one, and
    a job alone uses every slot (its chunks then overlap, see `Baton`).
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._busy = 0
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """Wait for a free slot, in the order of asking; the chunk's thread gives it back with `release()`."""
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            while self._waiting[0] is not ticket or self._busy >= self.slots:
                self._changed.wait()
            self._waiting.popleft()
            self._busy += 1
            self._changed.notify_all()

    @property
    def queued(self) -> int:
        """How many requests wait for a slot."""
        with self._changed:
            return len(self._waiting)

    def release(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify_all()
