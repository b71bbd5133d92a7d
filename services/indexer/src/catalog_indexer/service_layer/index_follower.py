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
    # Rows read and staged at a time; urgent products are looked for before and after each read, so they wait for
    # one read or one staging of bulk rows at most (or for a commit under way).
    step: int = 250
    # Bulk rows are committed once `chunk` are staged or `commit_every_s` has passed since the last commit.
    commit_every_s: float = 0.0
    writer: GenerationWriter | None = None
    position: int = 0
    read_model: str = ""
    _wake: threading.Event = field(default_factory=threading.Event)
    _urgent: set[str] = field(default_factory=set)
    _urgent_lock: threading.Lock = field(default_factory=threading.Lock)
    _urgent_since: float = 0.0
    # Staged but not yet committed: rows up to this change number, and how many (a new writer drops them).
    _staged_position: int = 0
    _staged: int = 0
    _committed_at: float = 0.0
    _read_s: float = 0.0  # since the last commit, for its log line
    _stage_s: float = 0.0

    def wake(self, urgent: Sequence[str] = ()) -> None:
        """Something was written to the read model: look now rather than at the next poll, and apply the
        products in `urgent` (a shopper's or an editor's changes) before the next chunk of bulk changes."""
        if urgent:
            with self._urgent_lock:
                if not self._urgent:
                    self._urgent_since = time.monotonic()
                self._urgent.update(urgent)
        self._wake.set()

    def expedite(self) -> int:
        """Apply the urgent products' rows as they are now, ahead of the position, which stays where it is.

        Safe because a document is always the row's current state: when following reaches those changes it writes
        the same (or a newer) state again, and after a kill the changes are still ahead of the recorded position.
        """
        writer = self._writer()
        urgent, since = self._stage_urgent(writer)
        if urgent:
            self._commit(writer, urgent, since)
        return urgent

    def catch_up(self, defer: bool = False) -> int:
        """Apply every change there is now; returns how many rows were staged.

        Bulk rows are committed every `chunk` rows, or once `commit_every_s` has passed since the last commit: a
        commit has a fixed cost (files written and synced, threads handed work, segments to merge later), so fewer
        of them leave more of the machine to the rest of the pipeline. Urgent products are committed as soon as
        they are seen, with whatever is staged. Without `defer`, what is staged is committed before returning;
        with it (the follower's loop), it waits for the next commit, `commit_every_s` at most.
        """
        writer = self._writer()
        applied = 0
        step = min(self.step, self.chunk)
        while True:
            self._expedite_with(writer)
            started = time.monotonic()
            batch = self.changes.changes_after(self._staged_position, step)
            self._read_s += time.monotonic() - started
            # What woke during the read goes first; their rows in the batch were read before and may be older than
            # what was just staged for them, so they are left out (following reaches their newest change later).
            expedited = self._expedite_with(writer)
            count = len(batch.live) + len(batch.gone)
            started = time.monotonic()
            writer.stage(
                [p for p in batch.live if p.product_id not in expedited], [g for g in batch.gone if g not in expedited]
            )
            self._stage_s += time.monotonic() - started
            self._staged_position, self._staged, applied = batch.last, self._staged + count, applied + count
            if self._staged and (
                self._staged >= self.chunk or time.monotonic() - self._committed_at >= self.commit_every_s
            ):
                self._commit(writer, 0, None)
            if count < step:
                if self._staged and not defer:
                    self._commit(writer, 0, None)
                return applied

    def _expedite_with(self, writer: GenerationWriter) -> set[str]:
        """Stage the urgent products and commit at once, with whatever bulk rows are staged already; their ids."""
        with self._urgent_lock:
            urgent, self._urgent, since = sorted(self._urgent), set(), self._urgent_since
        if urgent:
            self._commit(writer, self._stage_rows_of(writer, urgent), since)
        return set(urgent)

    def _stage_urgent(self, writer: GenerationWriter) -> tuple[int, float]:
        """Stage the urgent products' rows; how many, and since when the oldest of them waits."""
        with self._urgent_lock:
            urgent, self._urgent, since = sorted(self._urgent), set(), self._urgent_since
        return (self._stage_rows_of(writer, urgent), since) if urgent else (0, 0.0)

    def _stage_rows_of(self, writer: GenerationWriter, product_ids: Sequence[str]) -> int:
        started = time.monotonic()
        rows = self.changes.rows_of(product_ids)
        read = time.monotonic()
        staged = writer.stage(rows.live, rows.gone)
        self._read_s += read - started
        self._stage_s += time.monotonic() - read
        return staged

    def _commit(self, writer: GenerationWriter, urgent: int, urgent_since: float | None) -> None:
        """Commit what is staged with the position it reaches (urgent rows ahead of it do not move it)."""
        started = time.monotonic()
        writer.commit(self._staged_position, self.read_model)
        done = time.monotonic()
        log.debug(
            "search index committed",
            extra={
                "rows": self._staged + urgent,
                "urgent": urgent_since is not None,
                "waited_ms": round((done - urgent_since) * 1000, 1) if urgent_since is not None else None,
                "read_ms": round(self._read_s * 1000, 1),
                "stage_ms": round(self._stage_s * 1000, 1),
                "commit_ms": round((done - started) * 1000, 1),
            },
        )
        self.position, self._staged, self._committed_at = self._staged_position, 0, done
        self._read_s = self._stage_s = 0.0

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
                self.catch_up(defer=True)
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
        self._staged_position, self._staged, self._committed_at = position, 0, time.monotonic()
        log.info("search index opened", extra={"generation": writer.path.name, "position": position})
        return writer

    def _close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except Exception as exc:
                log.warning("search index writer not closed cleanly", extra={"error": str(exc)[:300]})
