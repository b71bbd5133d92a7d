"""Reads the media fields the media service keeps for a product (the API never writes them)."""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def processed_images(session: Session, product_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The media rows of a product, by source URL."""
    rows = session.execute(
        text(
            "SELECT source, sha256, status, reason, width, height, dominant_color, derivatives, computed_from_version "
            "FROM product_images WHERE product_id = :id ORDER BY position"
        ),
        {"id": product_id},
    ).mappings()
    return {row["source"]: dict(row) for row in rows}
