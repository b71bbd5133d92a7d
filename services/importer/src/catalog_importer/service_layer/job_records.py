"""What running import jobs needs from the job rows and the row ledger, as the protocols the adapters fulfil."""

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from catalog_core.domain.imports import ImportJob
from catalog_importer.adapters.jobs import Claim
from catalog_importer.domain.feed import Position
from catalog_importer.domain.products import RowOutcome
from catalog_importer.domain.tally import Previous, Tally


class JobClaiming(Protocol):
    """Taking jobs and keeping them: what the dispatcher and its watchdog do with the job rows."""

    def claim(self, job_id: uuid.UUID) -> Claim | None: ...

    def claim_next(self) -> Claim | None: ...

    def heartbeat(self, claim: Claim) -> bool: ...

    def give_up_exhausted(self) -> list[uuid.UUID]: ...

    def cancel_abandoned(self) -> list[uuid.UUID]: ...


class JobProgress(Protocol):
    """A claimed job's progress and end, each write checked against the claim (LostClaim when it is gone)."""

    def record_progress(self, session: Session, claim: Claim, end: Position, tally: Tally, run_rows: int) -> bool: ...

    def finish(self, claim: Claim, tally: Tally) -> ImportJob: ...

    def cancelled(self, claim: Claim) -> ImportJob: ...

    def fail(self, claim: Claim, reason: str) -> ImportJob: ...

    def hand_back(self, claim: Claim, error: str | None, retry_in: timedelta) -> None: ...


class RowLedger(Protocol):
    """The outcome of every row of a job, written in the chunk's transaction."""

    def write(self, job_id: uuid.UUID, outcomes: Sequence[RowOutcome], *, retry: bool) -> None: ...

    def defined_earlier(self, job_id: uuid.UUID, sku_keys: Iterable[str]) -> dict[str, int]: ...

    def retryable(self, job_id: uuid.UUID, max_attempts: int) -> dict[int, Previous]: ...


LedgerOn = Callable[[Session], RowLedger]  # the ledger within one session (one transaction)
