"""Runs up to `max_jobs` import jobs at a time, each in a thread with a heartbeat of its own.

Jobs are claimed when an `import.requested` event names them, and by the watchdog sweep, which also takes over
jobs whose worker stopped heartbeating and fails those that used up their attempts. The database, not the
event, is the job's source of truth: a job whose event was lost, or that arrived while all slots were busy,
is found by the next sweep.
"""

import logging
import threading
import uuid
from dataclasses import dataclass

from catalog_importer.adapters.jobs import Claim
from catalog_importer.service_layer.job_records import JobClaiming
from catalog_importer.service_layer.runner import JobRunner

log = logging.getLogger("catalog_importer.dispatcher")


@dataclass
class _Running:
    thread: threading.Thread
    stop: threading.Event


class Dispatcher:
    def __init__(self, claims: JobClaiming, runner: JobRunner, *, max_jobs: int, heartbeat_interval_s: float) -> None:
        self.claims = claims
        self.runner = runner
        self.max_jobs = max_jobs
        self.heartbeat_interval_s = heartbeat_interval_s
        self._running: dict[uuid.UUID, _Running] = {}
        self._lock = threading.Lock()
        self._closed = False

    def offer(self, job_id: uuid.UUID) -> bool:
        """Run this job if a slot is free and the job is claimable; False otherwise (a later sweep finds it)."""
        with self._lock:
            if self._closed or len(self._running) >= self.max_jobs or job_id in self._running:
                log.info("import job left for a later sweep", extra={"job_id": str(job_id)})
                return False
            claim = self.claims.claim(job_id)
            if claim is None:
                return False
            self._start(claim)
            return True

    def sweep(self) -> None:
        """The watchdog: fail exhausted jobs, finish abandoned cancels, then fill free slots with claimable jobs."""
        for job_id in self.claims.give_up_exhausted():
            log.error("import job failed: no attempts left", extra={"job_id": str(job_id)})
        for job_id in self.claims.cancel_abandoned():
            log.info("import job cancelled after its worker died", extra={"job_id": str(job_id)})
        with self._lock:
            while not self._closed and len(self._running) < self.max_jobs:
                claim = self.claims.claim_next()
                if claim is None:
                    return
                self._start(claim)

    def running(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._running)

    def shutdown(self, timeout: float) -> None:
        """Stop taking jobs; running ones stop at their next chunk boundary and are handed back."""
        with self._lock:
            self._closed = True
            running = list(self._running.values())
        for job in running:
            job.stop.set()
        for job in running:
            job.thread.join(timeout)

    def _start(self, claim: Claim) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(claim, stop), name=f"import-{claim.job.id}", daemon=True)
        self._running[claim.job.id] = _Running(thread, stop)
        thread.start()

    def _run(self, claim: Claim, stop: threading.Event) -> None:
        finished = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(claim, stop, finished), name=f"heartbeat-{claim.job.id}", daemon=True
        )
        heartbeat.start()
        try:
            self.runner.run(claim, stop)
        finally:
            finished.set()
            heartbeat.join()
            with self._lock:
                self._running.pop(claim.job.id, None)

    def _heartbeat(self, claim: Claim, stop: threading.Event, finished: threading.Event) -> None:
        context = {"job_id": str(claim.job.id)}
        while not finished.wait(self.heartbeat_interval_s):
            try:
                alive = self.claims.heartbeat(claim)
            except Exception:
                log.warning("heartbeat failed", extra=context, exc_info=True)
                continue
            if not alive and not finished.is_set():
                log.warning("import job is no longer ours; stopping its runner", extra=context)
                stop.set()
                return
