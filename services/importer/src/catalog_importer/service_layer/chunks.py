"""One chunk, one transaction: its products (through `ProductCatalog`, the one write path for core fields), their
outbox events, its ledger rows, and the job's progress — all committed together or not at all."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.errors import DuplicateSku
from catalog_core.domain.imports import ErrorCategory, FeedFormat, RowStatus
from catalog_core.domain.model import Product
from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_importer.adapters.jobs import Claim
from catalog_importer.domain.feed import FeedRow, FieldError
from catalog_importer.domain.products import (
    Failure,
    Kind,
    PlannedProduct,
    ProductRows,
    RowOutcome,
    draft,
    failed,
    plan,
    succeeded,
)
from catalog_importer.domain.tally import Previous, Tally, row_counts
from catalog_importer.service_layer.job_records import JobProgress, LedgerOn, RowLedger
from catalog_importer.service_layer.pipeline import Baton
from catalog_kit import tracing
from catalog_kit.outbox import OutboxWriter

# Errors of a batch write that one product of the batch can cause; the chunk is then written again with each
# product in a savepoint of its own, so only that product fails.
ISOLATABLE = (DuplicateSku, IntegrityError, DataError)


@dataclass(frozen=True)
class ChunkResult:
    tally: Tally
    cancel_requested: bool
    outcomes: int
    by_status: Mapping[str, int] = field(default_factory=dict)  # this chunk's rows by status
    failed_by_category: Mapping[str, int] = field(default_factory=dict)  # this chunk's failed rows by category


@dataclass(frozen=True)
class _Ready:
    planned: PlannedProduct
    draft: ProductDraft
    current: Product | None


class ChunkWriter:
    """Writes the chunks of one claimed job."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: OutboxWriter,
        claims: JobProgress,
        ledger: LedgerOn,
        claim: Claim,
        retry: Mapping[int, Previous] | None,
        traceparent: str | None = None,
    ) -> None:
        """`traceparent`: the job run's trace; each chunk's product events continue it."""
        self.sessions = sessions
        self.outbox = outbox
        self.claims = claims
        self.ledger = ledger
        self.claim = claim
        self.format: FeedFormat = claim.job.format
        self.retry = retry  # None: every row; otherwise only products whose rows are all retryable
        self.traceparent = traceparent

    def write(self, chunk: Sequence[ProductRows], run_rows: int, after: Baton, baton: Baton) -> ChunkResult:
        """Write the chunk in one transaction. `after` is the baton of the job's previous chunk: this one reads the
        catalog when that allows, and records the job's progress only once that chunk committed. `baton` tells the
        next chunk when it may read. Abandoned if the previous chunk did not commit."""
        try:
            return self._write(chunk, run_rows, after, baton, isolated=False)
        except ISOLATABLE:
            return self._write(chunk, run_rows, after, baton, isolated=True)

    def _write(
        self, chunk: Sequence[ProductRows], run_rows: int, after: Baton, baton: Baton, *, isolated: bool
    ) -> ChunkResult:
        job_id = self.claim.job.id
        attributes: dict[str, str | int] = {
            "catalog.job_id": str(job_id),
            "catalog.rows": sum(len(p.rows) for p in chunk),
        }
        with (
            tracing.child_span("import chunk", self.traceparent, attributes) as traceparent,
            self.sessions() as session,
            session.begin(),
        ):
            catalog = ProductCatalog(session, self.outbox, traceparent)
            ledger = self.ledger(session)
            outcomes: list[RowOutcome] = []
            planned: list[PlannedProduct] = []
            for rows in chunk:
                if self.retry is not None and not all(row.number in self.retry for row in rows.rows):
                    continue
                result = plan(rows, self.format)
                if isinstance(result, list):
                    outcomes += result
                else:
                    planned.append(result)
            after.wait_readable(baton.keys)
            ready, creates_only = self._prepare(catalog, ledger, job_id, planned, outcomes)
            baton.read(creates_only=creates_only)
            if isolated:
                outcomes += self._upsert_one_by_one(session, catalog, ready)
            else:
                results = catalog.upsert_many([(r.draft, r.current) for r in ready])
                for r, (product, outcome) in zip(ready, results, strict=True):
                    outcomes += succeeded(r.planned, RowStatus(outcome.value), product.id, product.version)
            outcomes.sort(key=lambda o: o.row.number)
            previous = {o.row.number: self.retry[o.row.number] for o in outcomes} if self.retry is not None else {}
            ledger.write(job_id, outcomes, retry=self.retry is not None)
            new_tally = after.tally().add(outcomes, previous)  # waits for the previous chunk's commit
            end = chunk[-1].rows[-1].end
            cancel = self.claims.record_progress(session, self.claim, end, new_tally, run_rows)
        by_status, failed_by_category = row_counts(outcomes)
        return ChunkResult(new_tally, cancel, len(outcomes), by_status, failed_by_category)

    def _prepare(
        self,
        catalog: ProductCatalog,
        ledger: RowLedger,
        job_id: uuid.UUID,
        planned: Sequence[PlannedProduct],
        outcomes: list[RowOutcome],
    ) -> tuple[list[_Ready], bool]:
        """Drafts of the products that can be written, and whether none of them was in the catalog; the others'
        outcomes go to `outcomes`."""
        existing = catalog.products.get_by_skus([p.sku for p in planned], for_update=True)
        redefined = ledger.defined_earlier(
            job_id, [p.key for p in planned if p.kind is Kind.DEFINE and p.key in existing]
        )
        drafts: list[_Ready] = []
        for p in planned:
            if p.key in redefined:
                outcomes += failed(
                    p.group,
                    [
                        _failure(
                            p.group.rows[0], ErrorCategory.DUPLICATE, self._sku_field(p), _given_twice(p, redefined)
                        )
                    ],
                )
                continue
            current = existing.get(p.key)
            result = draft(p, current, self.format)
            if isinstance(result, list):
                outcomes += result
            else:
                drafts.append(_Ready(p, result, current))
        # SKUs held by other products, or wanted by two products of this chunk: refused before writing anything.
        owners = catalog.products.sku_owners(sku for r in drafts for sku in r.draft.skus())
        wanted: dict[str, str] = {}  # SKU key -> product key, for the products of this chunk
        ready: list[_Ready] = []
        for r in drafts:
            clash = next((sku for sku in r.draft.skus() if _taken(sku.lower(), r, owners, wanted)), None)
            if clash is not None and r.current is None and clash.lower() == r.planned.key:
                # Created by another import since `existing` was read: this row updates that product instead.
                current = catalog.products.get_by_skus([r.planned.sku], for_update=True).get(r.planned.key)
                revised = draft(r.planned, current, self.format) if current is not None else None
                if isinstance(revised, list):
                    outcomes += revised
                    continue
                if revised is not None:
                    r = _Ready(r.planned, revised, current)
                    clash = next((sku for sku in r.draft.skus() if _taken(sku.lower(), r, owners, wanted)), None)
            if clash is not None:
                outcomes += self._duplicate(r.planned, clash)
                continue
            wanted.update((sku.lower(), r.planned.key) for sku in r.draft.skus())
            ready.append(r)
        return ready, not existing and all(r.current is None for r in ready)

    def _upsert_one_by_one(
        self, session: Session, catalog: ProductCatalog, ready: Sequence[_Ready]
    ) -> list[RowOutcome]:
        outcomes: list[RowOutcome] = []
        for r in ready:
            try:
                with session.begin_nested():
                    [(product, outcome)] = catalog.upsert_many([(r.draft, r.current)])
            except DuplicateSku as exc:
                concurrent = self._update_of_concurrent_create(session, catalog, r, exc.sku)
                outcomes += concurrent if concurrent is not None else self._duplicate(r.planned, exc.sku)
            except (IntegrityError, DataError) as exc:
                message = f"the catalog refused the product: {str(exc.orig).splitlines()[0]}"
                outcomes += failed(
                    r.planned.group, [_failure(r.planned.group.rows[0], ErrorCategory.INTERNAL, None, message)]
                )
            else:
                outcomes += succeeded(r.planned, RowStatus(outcome.value), product.id, product.version)
        return outcomes

    def _update_of_concurrent_create(
        self, session: Session, catalog: ProductCatalog, r: _Ready, sku: str
    ) -> list[RowOutcome] | None:
        """A product to create whose own SKU another import created meanwhile is that very product, not a
        duplicate: write this row as an update of it. None when the SKU really belongs to another product."""
        if r.current is not None or sku.lower() != r.planned.key:
            return None
        current = catalog.products.get_by_skus([r.planned.sku], for_update=True).get(r.planned.key)
        if current is None:
            return None
        result = draft(r.planned, current, self.format)
        if isinstance(result, list):
            return result
        try:
            with session.begin_nested():
                [(product, outcome)] = catalog.upsert_many([(result, current)])
        except DuplicateSku as exc:
            return self._duplicate(r.planned, exc.sku)
        return succeeded(r.planned, RowStatus(outcome.value), product.id, product.version)

    def _duplicate(self, planned: PlannedProduct, sku: str) -> list[RowOutcome]:
        row, field = self._sku_origin(planned, sku)
        return failed(
            planned.group,
            [_failure(row, ErrorCategory.DUPLICATE, field, f"SKU {sku} is already used by another product")],
        )

    def _sku_field(self, planned: PlannedProduct) -> str:
        return "product_key" if planned.group.grouped else "sku"

    def _sku_origin(self, planned: PlannedProduct, sku: str) -> tuple[FeedRow, str]:
        """The row and field that gave a SKU of the product."""
        first = planned.group.rows[0]
        key = sku.lower()
        if key == planned.key:
            return first, self._sku_field(planned)
        for row in planned.variant_rows:
            given = row.fields.get("sku")
            if isinstance(given, str) and given.strip().lower() == key:
                return row, "sku"
        variants = first.fields.get("variants")
        if planned.nested and isinstance(variants, list):
            for i, variant in enumerate(variants):
                if isinstance(variant, dict) and str(variant.get("sku", "")).strip().lower() == key:
                    return first, f"variants[{i}].sku"
        return first, "sku"


def _taken(key: str, ready: _Ready, owners: Mapping[str, uuid.UUID], wanted: Mapping[str, str]) -> bool:
    """Whether another product holds the SKU, or another product of the chunk wants it."""
    owner = owners.get(key)
    held_elsewhere = owner is not None and (ready.current is None or owner != ready.current.id)
    return held_elsewhere or wanted.get(key, ready.planned.key) != ready.planned.key


def _failure(row: FeedRow, category: ErrorCategory, field: str | None, message: str) -> Failure:
    return Failure(row, category, (FieldError(field, message, category.value.lower()),))


def _given_twice(planned: PlannedProduct, redefined: Mapping[str, int]) -> str:
    return f"product {planned.sku} was already given at row {redefined[planned.key]} of this feed"
