"""Catalog tables as SQLAlchemy Core objects (the migrations under `migrations/` create them)."""

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, MetaData, Numeric, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("brand", Text),
    Column("description", Text),
    Column("price", Numeric(20, 4), nullable=False),
    Column("currency", Text, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("images", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

variants = Table(
    "variants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("product_id", UUID(as_uuid=True), ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("sku", Text, nullable=False),
    Column("options", JSONB, nullable=False),
    Column("price", Numeric(20, 4)),
    Column("stock", Integer, nullable=False),
)

# One row per SKU in use, product's or variant's, keyed case-insensitively: the catalog-wide uniqueness
# that two unique indexes on two tables cannot give.
product_skus = Table(
    "product_skus",
    metadata,
    Column("sku_key", Text, primary_key=True),
    Column("product_id", UUID(as_uuid=True), ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
)
