"""Lineage through the running platform: a product's current version and an import job's products reach every stage,
and the times follow the pipeline's causal order (no timing bounds)."""

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import READ_KEY, WRITE_KEY, System
from tests.images import ImageServer, Served, jpeg
from tests.support import wait_until

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
FINISHED = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"}


def _stages(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["stage"]: stage for stage in body["stages"]}


def _at(stage: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(stage["at"])


def _settled(http: httpx.Client, product_id: str, version: int) -> dict[str, dict[str, Any]] | None:
    body = http.get(f"/products/{product_id}/lineage").json()
    stages = _stages(body)
    wanted = ("persisted", "published", "indexed_fast", "enriched", "indexed_full")
    if body["version"] == version and all(stages[s]["state"] == "done" for s in wanted):
        return stages
    return None


def test_a_products_versions_pass_every_stage_in_order(running_system: System, unique: str) -> None:
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10) as http:
        body = {"sku": f"LIN-{unique}", "name": f"Lineage {unique}", "price": "3.00", "currency": "EUR"}
        created = http.post("/products", json=body)
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        first = wait_until(lambda: _settled(http, product_id, 1), timeout=60, interval=0.1)
        assert first["media_processed"]["state"] == "not_applicable"  # no images
        assert all(stage["version"] == 1 for name, stage in first.items() if name != "media_processed")
        _assert_causal_order(first)

        patched = http.patch(
            f"/products/{product_id}", json={"name": f"Lineage {unique} v2"}, headers={"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        second = wait_until(lambda: _settled(http, product_id, 2), timeout=60, interval=0.1)
        _assert_causal_order(second)
        assert _at(second["persisted"]) > _at(first["indexed_full"])  # the edit came after the first version's run

        # A read key may look, an anonymous caller may not; an unknown product is a 404 problem.
        reader = {"Authorization": f"Bearer {READ_KEY}"}
        assert http.get(f"/products/{product_id}/lineage", headers=reader).status_code == 200
        assert httpx.get(f"{running_system.api_url}/products/{product_id}/lineage").status_code == 401
        missing = http.get("/products/00000000-0000-7000-8000-000000000000/lineage")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_a_products_images_are_a_stage_of_their_own(
    running_system: System, image_host: ImageServer, unique: str
) -> None:
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=10) as http:
        image = image_host.serve(f"/{unique}/lineage.jpg", Served(jpeg(64, 48)))
        body = {"sku": f"LIM-{unique}", "name": f"Pictured {unique}", "price": "3.00", "currency": "EUR"}
        created = http.post("/products", json={**body, "images": [image]})
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        def processed() -> dict[str, dict[str, Any]] | None:
            stages = _stages(http.get(f"/products/{product_id}/lineage").json())
            return stages if stages["media_processed"]["state"] == "done" else None

        stages = wait_until(processed, timeout=60, interval=0.1)
        assert stages["media_processed"]["version"] == 1
        assert _at(stages["media_processed"]) >= _at(stages["persisted"])
        images = http.get(f"/products/{product_id}/images").json()
        assert [i["status"] for i in images["images"]] == ["processed"]


def _assert_causal_order(stages: dict[str, dict[str, Any]]) -> None:
    """What the pipeline guarantees: everything after persisted, the relay's mark after it, the derived fields
    indexed after they were stored. (indexed_fast and enriched run in parallel, and a consumer may take a record a
    moment before the relay marks it published, so neither is ordered against published.)"""
    persisted = _at(stages["persisted"])
    for name in ("published", "indexed_fast", "enriched", "indexed_full"):
        assert _at(stages[name]) >= persisted, name
        assert stages[name]["since_persisted_ms"] >= 0
    assert _at(stages["enriched"]) <= _at(stages["indexed_full"])


def test_an_import_jobs_products_reach_every_stage(running_system: System, unique: str) -> None:
    rows = 40
    feed = "sku,name,price,currency\n" + "".join(f"LJ-{unique}-{n},Lineage feed {n},2.50,EUR\n" for n in range(rows))
    with httpx.Client(base_url=running_system.api_url, headers=AUTH, timeout=30) as http:
        submitted = http.post(
            "/imports", files={"file": ("feed.csv", feed.encode(), "text/csv")}, data={"format": "csv"}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]

        def reached() -> dict[str, dict[str, Any]] | None:
            job = http.get(f"/imports/{job_id}").json()
            if job["state"] not in FINISHED:
                return None
            assert job["state"] == "COMPLETED", job
            body = http.get(f"/imports/{job_id}/lineage").json()
            stages = _stages(body)
            wanted = ("persisted", "published", "indexed_fast", "enriched", "indexed_full")
            return stages if all(stages[s]["count"] == rows for s in wanted) else None

        stages = wait_until(reached, timeout=120, interval=0.25)
        assert all(stage["of"] == rows for name, stage in stages.items() if name != "media_processed")
        assert stages["media_processed"] == {**stages["media_processed"], "count": 0, "of": 0}
        first_persisted = datetime.fromisoformat(stages["persisted"]["first_at"])
        for name in ("published", "indexed_fast", "enriched", "indexed_full"):
            assert datetime.fromisoformat(stages[name]["first_at"]) >= first_persisted, name
            assert stages[name]["first_at"] <= stages[name]["last_at"]
        assert stages["enriched"]["first_at"] <= stages["indexed_full"]["last_at"]

        # Another key's job is not found, as in the job's other endpoints.
        other = http.get(f"/imports/{job_id}/lineage", headers={"Authorization": f"Bearer {READ_KEY}"})
        assert other.status_code == 404
