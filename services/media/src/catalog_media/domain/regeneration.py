"""Regeneration requests: the event that asks for a product's derivatives again, and the product ids it may name."""

import uuid

REGENERATION_REQUESTED = "media.regeneration_requested"


def parse_product_id(value: str) -> str:
    """A product id as text, refusing anything that is not a UUID (a malformed key would otherwise reach SQL)."""
    return str(uuid.UUID(value))
