"""Lineage of a product's current version and of an import job's products, from what the stores record."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from catalog_api.adapters.lineage import Lineage
from catalog_api.domain.lineage import product_lineage
from catalog_api.service_layer.imports import ImportRequests
from catalog_core.domain.errors import ProductNotFound


def of_product(session: Session, product_id: uuid.UUID) -> dict[str, Any]:
    """The stages of the product's current version; ProductNotFound if there is none."""
    records = Lineage(session).product(product_id)
    if records is None:
        raise ProductNotFound(product_id)
    return {
        "product_id": str(product_id),
        "version": records.version,
        "stages": [stage.as_json() for stage in product_lineage(records)],
    }


def of_job(requests: ImportRequests, job_id: uuid.UUID) -> dict[str, Any]:
    """How many of the job's product versions reached each stage; ImportJobNotFound for a job the caller may not
    see."""
    job = requests.get(job_id)
    stages, unchanged = Lineage(requests.session).job(job_id)
    return {
        "job_id": str(job.id),
        "state": job.state,
        "products_changed": stages[0].count,
        "products_unchanged": unchanged,
        "stages": [stage.as_json() for stage in stages],
    }
