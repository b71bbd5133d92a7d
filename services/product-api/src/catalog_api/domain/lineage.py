"""Lineage: which stages of the pipeline a product version (or an import job's products) has reached, and when.

Pure rules over what the stores record (read by `adapters.lineage`): a stage is reached when the store that stage
writes holds the version, or a newer one (version guards skip an older version once a newer one is there).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    PERSISTED = "persisted"  # the product row and its outbox row committed (the product's updated_at)
    PUBLISHED = "published"  # the relay had the broker's acknowledgement (outbox.published_at)
    INDEXED_FAST = "indexed_fast"  # the core part is in the search read model: searchable
    ENRICHED = "enriched"  # derived fields stored (product_enrichment)
    INDEXED_FULL = "indexed_full"  # the enrichment part is in the read model
    MEDIA_PROCESSED = "media_processed"  # every listed image processed or failed for good (product_images)


STAGES = tuple(Stage)

# What each stage follows from: the pipeline's causal order. Stages on different branches (indexed_fast and enriched)
# run in parallel, and a consumer may take a record a moment before the relay has marked it published.
AFTER = {
    Stage.PUBLISHED: Stage.PERSISTED,
    Stage.INDEXED_FAST: Stage.PUBLISHED,
    Stage.ENRICHED: Stage.PUBLISHED,
    Stage.INDEXED_FULL: Stage.ENRICHED,
    Stage.MEDIA_PROCESSED: Stage.PUBLISHED,
}


class State(StrEnum):
    DONE = "done"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"  # media of a product without images
    EXPIRED = "expired"  # reached, but its time is no longer kept (outbox rows past RELAY_RETENTION_HOURS)


@dataclass(frozen=True)
class ProductRecords:
    """What the stores hold of one product now (None: the store holds nothing of it)."""

    version: int
    persisted_at: datetime
    published: tuple[datetime | None] | None  # the version's outbox row: (published_at,), None when not found
    core_version: int | None
    core_indexed_at: datetime | None
    deleted_in_index: bool
    enrichment_version: int | None
    enriched_at: datetime | None
    indexed_enrichment_version: int | None
    enrichment_indexed_at: datetime | None
    images: Sequence[str]
    media_sources: Sequence[str]  # the image URLs the media rows are for, in list order
    media_pending: int
    media_version: int | None
    media_at: datetime | None


@dataclass(frozen=True)
class StageView:
    stage: Stage
    state: State
    at: datetime | None
    version: int | None  # the version the stage's store holds
    since_persisted_ms: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "state": self.state,
            "at": self.at.isoformat() if self.at else None,
            "version": self.version,
            "since_persisted_ms": self.since_persisted_ms,
            "after": AFTER.get(self.stage),
        }


def product_lineage(records: ProductRecords) -> list[StageView]:
    """The current version's stages, in pipeline order."""
    v = records.version

    def reached(held: int | None) -> bool:
        return held is not None and held >= v

    def view(stage: Stage, state: State, at: datetime | None, held: int | None) -> StageView:
        since = None
        if at is not None and state is State.DONE:
            since = round((at - records.persisted_at).total_seconds() * 1000, 1)
        return StageView(stage, state, at if state is State.DONE else None, held, since)

    indexed = reached(records.core_version) and not records.deleted_in_index
    if records.published is not None:
        (published_at,) = records.published
        published = view(Stage.PUBLISHED, State.DONE if published_at else State.PENDING, published_at, v)
    else:
        # No outbox row: cleaned up after retention if a later stage has the version, else not yet visible.
        later = indexed or reached(records.enrichment_version)
        published = view(Stage.PUBLISHED, State.EXPIRED if later else State.PENDING, None, v if later else None)
    media_done = (
        list(records.media_sources) == list(records.images) and records.media_pending == 0 and bool(records.images)
    )
    if not records.images and not records.media_sources:
        media = view(Stage.MEDIA_PROCESSED, State.NOT_APPLICABLE, None, None)
    else:
        media = view(
            Stage.MEDIA_PROCESSED,
            State.DONE if media_done else State.PENDING,
            records.media_at,
            records.media_version,
        )
    return [
        view(Stage.PERSISTED, State.DONE, records.persisted_at, v),
        published,
        view(
            Stage.INDEXED_FAST,
            State.DONE if indexed else State.PENDING,
            records.core_indexed_at,
            records.core_version,
        ),
        view(
            Stage.ENRICHED,
            State.DONE if reached(records.enrichment_version) else State.PENDING,
            records.enriched_at,
            records.enrichment_version,
        ),
        view(
            Stage.INDEXED_FULL,
            State.DONE if reached(records.indexed_enrichment_version) else State.PENDING,
            records.enrichment_indexed_at,
            records.indexed_enrichment_version,
        ),
        media,
    ]


@dataclass(frozen=True)
class StageCount:
    """How many of a job's product versions reached a stage, and when the first and the last did."""

    stage: Stage
    count: int
    first_at: datetime | None
    last_at: datetime | None
    of: int  # how many could: every product the job changed; for media, those listing images

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "count": self.count,
            "of": self.of,
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
        }
