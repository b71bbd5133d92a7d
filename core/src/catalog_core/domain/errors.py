"""What can go wrong with a product command, in the catalog's terms (the API maps each to an HTTP status)."""

import uuid


class ProductNotFound(LookupError):
    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__(f"no product with id {product_id}")
        self.product_id = product_id


class DuplicateSku(Exception):
    """A SKU (of the product or one of its variants) is already taken by another product."""

    def __init__(self, sku: str, field: str) -> None:
        super().__init__(f"SKU {sku} is already used by another product")
        self.sku = sku
        self.field = field


class VersionMismatch(Exception):
    """The client's `If-Match` names a version that is no longer current."""

    def __init__(self, expected: str, current: int) -> None:
        super().__init__(f"the product is at version {current}, not {expected}")
        self.current = current
