"""The media service's side of the catalog database: reads core fields, writes only the media-owned rows."""

import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_kit.outbox import OutboxWriter, PendingEvent
from catalog_media.domain.images import Derivative, ImageOutcome, MediaResult, StoredImage
from catalog_media.domain.regeneration import REGENERATION_REQUESTED
from catalog_schemas import Lane

AGGREGATE = "product"


class SaveOutcome(enum.StrEnum):
    SAVED = "saved"  # stored, and product.media_processed is in the outbox
    STALE = "stale"  # the product's image list changed meanwhile: its own event brings the new list
    UNCHANGED = "unchanged"  # exactly this is stored already (a duplicate event), or a newer result is
    GONE = "gone"  # the product was deleted


_COLUMNS = "position, source, sha256, status, reason, width, height, dominant_color, derivatives, renditions"

_INSERT = text(f"""
INSERT INTO product_images (product_id, {_COLUMNS}, computed_from_version, updated_at)
SELECT :product_id, r.position, r.source, r.sha256, r.status, r.reason, r.width, r.height, r.dominant_color,
       r.derivatives, r.renditions, :version, now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    position int, source text, sha256 text, status text, reason text, width int, height int, dominant_color text,
    derivatives jsonb, renditions text)
""")


class MediaStore:
    def __init__(self, sessions: sessionmaker[Session], outbox: OutboxWriter, media_base_url: str) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.media_base_url = media_base_url

    def stored_images(self, product_id: str) -> list[StoredImage]:
        """The outcomes held for a product, in list order."""
        with self.sessions() as session:
            rows = session.execute(
                text(f"SELECT {_COLUMNS} FROM product_images WHERE product_id = :id ORDER BY position"),
                {"id": product_id},
            ).mappings()
            return [StoredImage(row["position"], _outcome(row)) for row in rows]

    def with_media(self, product_ids: Sequence[str]) -> set[str]:
        """Which of the products hold media rows (one query for a whole batch of events)."""
        with self.sessions() as session:
            rows = session.execute(
                text(
                    "SELECT DISTINCT product_id::text FROM product_images WHERE product_id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": list(product_ids)},
            )
            return {row[0] for row in rows}

    def processed_content(self, sha256: str, renditions: str) -> ImageOutcome | None:
        """An earlier outcome for the same bytes and renditions (any product): no need to decode them again."""
        with self.sessions() as session:
            row = (
                session.execute(
                    text(
                        f"SELECT {_COLUMNS} FROM product_images WHERE sha256 = :sha AND renditions = :renditions "
                        "AND status = 'processed' LIMIT 1"
                    ),
                    {"sha": sha256, "renditions": renditions},
                )
                .mappings()
                .one_or_none()
            )
            return None if row is None else _outcome(row)

    def current_images(self, product_id: str) -> tuple[int, list[str]] | None:
        """The product's version and image list as they are now; None if it was deleted."""
        with self.sessions() as session:
            row = session.execute(
                text("SELECT version, images FROM products WHERE id = :id"), {"id": product_id}
            ).one_or_none()
            return None if row is None else (int(row.version), list(row.images))

    def save(self, result: MediaResult, lane: Lane = Lane.INTERACTIVE, traceparent: str | None = None) -> SaveOutcome:
        """Replace the product's media rows with `result`, with its event, if the product still lists those images.

        One transaction: the product row is locked FOR SHARE (core writers wait until commit), so the image list
        checked is the list the rows are stored for.
        """
        with self.sessions() as session, session.begin():
            row = session.execute(
                text("SELECT version, images FROM products WHERE id = :id FOR SHARE"), {"id": result.product_id}
            ).one_or_none()
            if row is None:
                return SaveOutcome.GONE
            if list(row.images) != result.urls:
                return SaveOutcome.STALE
            held = session.execute(
                text(
                    f"SELECT {_COLUMNS}, computed_from_version FROM product_images WHERE product_id = :id "
                    "ORDER BY position"
                ),
                {"id": result.product_id},
            ).mappings()
            held_rows = list(held)
            newest = max((r["computed_from_version"] for r in held_rows), default=0)
            if newest > result.version or [_outcome(r) for r in held_rows] == list(result.images):
                return SaveOutcome.UNCHANGED
            session.execute(text("DELETE FROM product_images WHERE product_id = :id"), {"id": result.product_id})
            if result.images:
                session.execute(
                    _INSERT,
                    {"product_id": result.product_id, "version": result.version, "rows": _rows(result.images)},
                )
            self.outbox.add(
                session,
                event_type="product.media_processed",
                aggregate_type=AGGREGATE,
                aggregate_id=result.product_id,
                data=result.to_event_data(self.media_base_url),
                lane=lane,  # the lane of the change it follows: an import's images never delay an edit's
                traceparent=traceparent,
            )
            return SaveOutcome.SAVED

    def request_regeneration(self, product_ids: Sequence[str | None]) -> None:
        """Stage regeneration requests (None: every product) in one transaction; the relay publishes them."""
        now = datetime.now(UTC).isoformat()
        with self.sessions() as session, session.begin():
            self.outbox.add_many(
                session,
                [
                    PendingEvent(
                        REGENERATION_REQUESTED, AGGREGATE, pid or "all", {"product_id": pid, "requested_at": now}
                    )
                    for pid in product_ids
                ],
            )

    def product_ids(self, after: str | None, limit: int) -> list[str]:
        """One page of product ids in id order (for fanning out a request about every product)."""
        with self.sessions() as session:
            rows = session.execute(
                text(
                    "SELECT id FROM products WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                    "ORDER BY id LIMIT :n"
                ),
                {"after": after, "n": limit},
            )
            return [str(r.id) for r in rows]


def _outcome(row: Any) -> ImageOutcome:
    return ImageOutcome(
        url=row["source"],
        status=row["status"],
        renditions=row["renditions"],
        reason=row["reason"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
        dominant_color=row["dominant_color"],
        derivatives=tuple(Derivative.from_json(d) for d in row["derivatives"]),
    )


def _rows(images: Sequence[ImageOutcome]) -> str:
    return json.dumps(
        [
            {
                "position": position,
                "source": image.url,
                "sha256": image.sha256,
                "status": image.status,
                "reason": image.reason,
                "width": image.width,
                "height": image.height,
                "dominant_color": image.dominant_color,
                "derivatives": [d.as_json() for d in image.derivatives],
                "renditions": image.renditions,
            }
            for position, image in enumerate(images)
        ]
    )
