"""The media part of the search read model: late or duplicate media events never replace fresher media, and
search hits carry the thumbnail."""

import itertools
import uuid
from typing import Any

from sqlalchemy import Engine, text

from catalog_indexer.adapters.read_model import SearchDocuments
from catalog_indexer.domain.document import CorePart, MediaPart, part_of
from tests.integration.test_search_read_model import IndexedSearch, searched, snapshot

__all__ = ["searched"]  # the fixture, shared with the read model's tests


def media(pid: str, version: int, thumbnail: str | None) -> dict[str, Any]:
    return {"id": pid, "version": version, "thumbnail_url": thumbnail, "images": []}


def snapshot_of(version: int, unique: str) -> Any:
    return lambda pid: snapshot(pid, version, unique)


def thumbnail(engine: Engine, pid: str) -> tuple[int, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT media_version, thumbnail_url FROM search.documents WHERE product_id = :id"), {"id": pid}
        ).one()
    return row.media_version, row.thumbnail_url


def test_every_order_of_media_events_ends_with_the_newest(engine: Engine, unique: str) -> None:
    documents = SearchDocuments(engine)
    events = [
        ("product.created", snapshot_of(1, unique)),
        ("product.media_processed", lambda pid: media(pid, 1, "http://m/one.webp")),
        ("product.media_processed", lambda pid: media(pid, 2, "http://m/two.webp")),
    ]
    for order in itertools.permutations(events):
        pid = str(uuid.uuid4())
        for event_type, data in [*order, *order]:
            part = part_of(event_type, data(pid))
            assert part is not None
            documents.apply(part)
        assert thumbnail(engine, pid) == (2, "http://m/two.webp")


def test_a_regeneration_of_the_same_version_replaces_the_thumbnail_and_hits_show_it(
    engine: Engine, unique: str, searched: IndexedSearch
) -> None:
    documents = SearchDocuments(engine)
    pid = str(uuid.uuid4())
    documents.apply(CorePart.from_snapshot(snapshot(pid, 3, unique)))
    assert documents.apply(MediaPart.from_event(media(pid, 3, "http://m/200.webp")))
    assert documents.apply(MediaPart.from_event(media(pid, 3, "http://m/150.webp")))  # new size list, same images
    assert not documents.apply(MediaPart.from_event(media(pid, 2, "http://m/late.webp")))
    hit = searched.run(text=f"SKU-{unique}").hits[0]
    assert hit.id == pid
    assert hit.thumbnail_url == "http://m/150.webp"
    assert hit.name == f"Linen shirt {unique}"  # media never touches core fields
