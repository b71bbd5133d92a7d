"""Keeping the search index in step with the read model: apply what changed since the index's position, repeat.

The index records, in each commit, the highest read-model change number it has applied, so following resumes
exactly there after a restart or a kill; a change applied twice leaves the same document. Without a usable
generation (first start, a new schema version) a new one is built from the whole read model and published only
once it has caught up, so searches never see a half-built index; `rebuild` does the same on demand.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from catalog_indexer.adapters.read_model import Changes
from catalog_indexer.adapters.search_index import IndexedProduct

log = logging.getLogger("catalog_indexer.index_follower")


class ReadModelChanges(Protocol):
    def changes_after(self, after: int, limit: int) -> Changes: ...

    def last_change(self) -> int: ...

    def issued(self) -> int: ...

    def rows_of(self, product_ids: Sequence[str]) -> Changes: ...

    def identity(self) -> str: ...


class GenerationWriter(Protocol):
    path: Path

    def position(self) -> tuple[int, str]: ...

    def apply(self, live: Sequence[IndexedProduct], gone: Sequence[str], position: int, read_model: str) -> int: ...

    def stage(self, live: Sequence[IndexedProduct], gone: Sequence[str]) -> int: ...

    def commit(self, position: int, read_model: str) -> None: ...

    def close(self) -> None: ...


class Generations(Protocol):
    def current(self) -> Path | None: ...

    def open_current(self) -> GenerationWriter | None: ...

    def start_new(self) -> GenerationWriter: ...

    def publish(self, generation: Path) -> None: ...


Progress = Callable[[int, int, float], None]  # applied change number, read model's last, seconds so far


@dataclass
class IndexFollower:
    changes: ReadModelChanges
    generations: Generations
    chunk: int = 1000
    # Rows read and staged at a time; a commit comes after `chunk` of them, or at once when urgent products wait, so
    # an urgent product waits for one step of bulk rows at most, not for a whole chunk.
    step: int = 250
    writer: GenerationWriter | None = None
    position: int = 0
    read_model: str = ""
    _wake: threading.Event = field(default_factory=threading.Event)
    _urgent: set[str] = field(default_factory=set)
    _urgent_lock: threading.Lock = field(default_factory=threading.Lock)

    def wake(self, urgent: Sequence[str] = ()) -> None:
        """Something was written to the read model: look now rather than at the next poll, and apply the
        products in `urgent` (a shopper's or an editor's changes) before the next chunk of bulk changes."""
        if urgent:
            with self._urgent_lock:
                self._urgent.update(urgent)
        self._wake.set()

    def expedite(self) -> int:
        """Apply the urgent products' rows as they are now, ahead of the position, which stays where it is.

        Safe because a document is always the row's current state: when following reaches those changes it writes
        the same (or a newer) state again, and after a kill the changes are still ahead of the recorded position.
        """
        writer = self._writer()
        staged = self._stage_urgent(writer)
        if staged:
            writer.commit(self.position, self.read_model)
        return staged

    def catch_up(self) -> int:
        """Apply every change there is now; returns how many rows were applied."""
        writer = self._writer()
        applied = staged = 0
        position = self.position
        step = min(self.step, self.chunk)
        while True:
            if self._stage_urgent(writer):  # committed at once, with whatever bulk rows are staged already
                writer.commit(position, self.read_model)
                self.position, staged = position, 0
            batch = self.changes.changes_after(position, step)
            count = writer.stage(batch.live, batch.gone)
            position, staged, applied = batch.last, staged + count, applied + count
            done = count < step
            if staged >= self.chunk or (done and staged):
                writer.commit(position, self.read_model)
                self.position, staged = position, 0
            if done:
                return applied

    def _stage_urgent(self, writer: GenerationWriter) -> int:
        with self._urgent_lock:
            urgent, self._urgent = sorted(self._urgent), set()
        if not urgent:
            return 0
        rows = self.changes.rows_of(urgent)
        return writer.stage(rows.live, rows.gone)

    def rebuild(self, progress: Progress | None = None) -> GenerationWriter:
        """A new generation from the whole read model, published once it has caught up."""
        started = time.monotonic()
        read_model = self.changes.identity()
        target = self.changes.last_change()
        writer = self.generations.start_new()
        position = 0
        log.info("search index rebuild started", extra={"generation": writer.path.name, "changes": target})
        while True:
            batch = self.changes.changes_after(position, self.chunk)
            if not batch.live and not batch.gone:
                break
            writer.apply(batch.live, batch.gone, batch.last, read_model)
            position = batch.last
            if progress:
                progress(position, max(target, position), time.monotonic() - started)
        writer.close()  # every merge done and the lock released before anyone opens it
        self.generations.publish(writer.path)
        log.info(
            "search index rebuilt",
            extra={
                "generation": writer.path.name,
                "position": position,
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        return writer

    def run(self, stop: threading.Event, poll_s: float, retry_s: float = 1.0) -> None:
        """Follow until `stop` is set; outages (database, index lock held by another process) are waited out."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception as exc:  # an outage or a lock held elsewhere: log, drop the writer, try again
                log.warning("search index not updated", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                self._close()
                stop.wait(retry_s)
                continue
            self._wake.wait(poll_s)
            self._wake.clear()
        self._close()

    def _writer(self) -> GenerationWriter:
        current = self.generations.current()
        if self.writer is not None and self.writer.path == current:
            return self.writer
        self._close()  # none yet, or another process published a rebuilt generation: follow that one
        read_model = self.changes.identity()
        writer = self.generations.open_current()
        if writer is not None:
            position, indexed = writer.position()
            # An index of another read model (a database made anew or restored), or one ahead of this read model,
            # would miss changes: build a new one rather than follow it.
            if indexed not in ("", read_model) or position > self.changes.issued():
                log.warning(
                    "search index belongs to another read model; rebuilding",
                    extra={"generation": writer.path.name, "position": position, "index_of": indexed},
                )
                writer.close()
                writer = None
        if writer is None:
            self.rebuild()
            writer = self.generations.open_current()
            assert writer is not None, "a published generation opens"
            position, indexed = writer.position()
        self.writer, self.position, self.read_model = writer, position, read_model
        log.info("search index opened", extra={"generation": writer.path.name, "position": position})
        return writer

    def _close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except Exception as exc:
                log.warning("search index writer not closed cleanly", extra={"error": str(exc)[:300]})
