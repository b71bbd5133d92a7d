"""Regeneration requests through the outbox: for one product, or for every product fanned out per product."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.products import ProductDraft
from catalog_core.service_layer.catalog import ProductCatalog
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.object_store import LocalDirectoryStore
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_media.adapters.fetcher import ImageFetcher
from catalog_media.adapters.media_store import MediaStore
from catalog_media.adapters.pipeline import Limits, PillowRenderer
from catalog_media.domain.geometry import Renditions
from catalog_media.entrypoints import regenerate
from catalog_media.service_layer.media_processing import ImageWorker, MediaService
from catalog_schemas import topic_for, validate_event


def requests(sessions: sessionmaker[Session]) -> list[Any]:
    with sessions() as s:
        rows = s.execute(
            select(outbox).where(outbox.c.event_type == "media.regeneration_requested").order_by(outbox.c.id)
        ).all()
    for row in rows:
        validate_event(row.event_type, row.payload)
        assert row.topic == topic_for(row.event_type).name == "catalog.media.v1"
    return list(rows)


def test_a_request_for_every_product_becomes_one_per_product(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(fresh_database, pool_size=2)
    sessions = make_session_factory(engine)
    try:
        ids = []
        with sessions() as s, s.begin():
            catalog = ProductCatalog(s, OutboxWriter("/catalog/product-api"))
            for n in range(5):
                draft = ProductDraft.model_validate({"sku": f"RG-{n}", "name": "R", "price": "1", "currency": "EUR"})
                ids.append(str(catalog.create(draft)[0].id))

        monkeypatch.setenv("DATABASE_URL", fresh_database)
        regenerate.main(["--all"])
        [everything] = requests(sessions)
        assert (everything.aggregate_id, everything.payload["product_id"]) == ("all", None)

        store = MediaStore(sessions, OutboxWriter("/catalog/media"), "http://m.test/media")
        objects = LocalDirectoryStore(tmp_path)
        client = OutboundClient(OutboundPolicy(), timeout_s=1)
        fetcher = ImageFetcher(objects, "http://m.test/media", client, max_bytes=1000, deadline_s=1)
        worker = ImageWorker(
            fetcher, objects, Renditions((100,)), PillowRenderer(Limits(1000, 1000)), store.processed_content
        )
        media = MediaService(worker, store, ThreadPoolExecutor(1))
        assert asyncio.run(media.fan_out_regeneration(page_size=2)) == 5
        per_product = requests(sessions)[1:]
        assert [r.aggregate_id for r in per_product] == sorted(ids)
        assert all(r.payload["product_id"] == r.aggregate_id for r in per_product)

        regenerate.main(["--product", ids[0]])
        assert requests(sessions)[-1].payload["product_id"] == ids[0]
        with pytest.raises(SystemExit):
            regenerate.main(["--product", "not-a-uuid"])
    finally:
        engine.dispose()
