"""A job's row counts, moved on by each chunk's outcomes (retried rows leave their old outcome first)."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from catalog_core.domain.imports import ErrorCategory, ImportJob, RowStatus
from catalog_importer.domain.products import RowOutcome


@dataclass(frozen=True)
class Previous:
    """A row's outcome before a retry."""

    status: RowStatus
    category: ErrorCategory | None
    attempts: int


@dataclass(frozen=True)
class Tally:
    processed: int = 0  # rows with an outcome
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)  # failed rows by category

    @classmethod
    def of(cls, job: ImportJob) -> "Tally":
        return cls(
            job.rows_processed,
            job.rows_created,
            job.rows_updated,
            job.rows_unchanged,
            job.rows_failed,
            job.rows_skipped,
            dict(job.error_counts),
        )

    def add(self, outcomes: Sequence[RowOutcome], previous: Mapping[int, Previous]) -> "Tally":
        """The counts after `outcomes`; a row in `previous` (a retry) moves from its old outcome to the new."""
        counts = Counter({status: getattr(self, status.value) for status in RowStatus})
        errors = Counter(self.errors)
        processed = self.processed
        for outcome in outcomes:
            before = previous.get(outcome.row.number)
            if before is None:
                processed += 1
            else:
                counts[before.status] -= 1
                if before.status is RowStatus.FAILED and before.category is not None:
                    errors[before.category] -= 1
            counts[outcome.status] += 1
            if outcome.status is RowStatus.FAILED and outcome.category is not None:
                errors[outcome.category] += 1
        return Tally(
            processed=processed,
            created=counts[RowStatus.CREATED],
            updated=counts[RowStatus.UPDATED],
            unchanged=counts[RowStatus.UNCHANGED],
            failed=counts[RowStatus.FAILED],
            skipped=counts[RowStatus.SKIPPED],
            errors={str(k): v for k, v in sorted(errors.items()) if v > 0},
        )


def row_counts(outcomes: Sequence[RowOutcome]) -> tuple[dict[str, int], dict[str, int]]:
    """Rows by status, and failed rows by category, of one chunk's outcomes."""
    by_status = Counter(outcome.status.value for outcome in outcomes)
    failed = Counter(
        outcome.category.value
        for outcome in outcomes
        if outcome.status is RowStatus.FAILED and outcome.category is not None
    )
    return dict(by_status), dict(failed)
