"""The search read model in PostgreSQL: applies batches of document parts with per-part version guards."""

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, TextClause, text

from catalog_indexer.adapters.search_index import IndexedProduct
from catalog_indexer.domain.document import CorePart, DocumentPart, EnrichmentPart, MediaPart, Tombstone, fold

# Each statement takes the batch's parts of one kind as a JSON array (one round trip, any batch size), inserts the
# documents that are new and changes the others only when the incoming part is newer than the one held: duplicates
# and late events are no-ops, so replays converge to the same rows. Rows are written in product id order, so two
# writers of overlapping batches lock them in the same order and cannot deadlock.
#
# `indexed_at` and `change` are set only when a guard lets the row change: `indexed_at` dates the last change, and
# `change` (the next number of search.document_changes, also the column's default for new rows) tells the search
# index which rows to apply since the last number it has; `core_indexed_at` / `enrichment_indexed_at` date the
# part's last change (lineage), from the same clock reading.
_CORE = text("""
INSERT INTO search.documents AS d
    (product_id, core_version, deleted, sku, skus, name, brand, description, price, price_text, currency, status,
     created_at, updated_at, indexed_at, core_indexed_at)
SELECT product_id, version, false, sku, skus, name, brand, description, price, price_text, currency, status,
       created_at, updated_at, stamp, stamp
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(
    product_id uuid, version bigint, sku text, skus text[], name text, brand text, description text,
    price numeric, price_text text, currency text, status text, created_at timestamptz, updated_at timestamptz),
    clock_timestamp() AS stamp
ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    core_version = EXCLUDED.core_version, deleted = false, sku = EXCLUDED.sku, skus = EXCLUDED.skus,
    name = EXCLUDED.name, brand = EXCLUDED.brand, description = EXCLUDED.description, price = EXCLUDED.price,
    price_text = EXCLUDED.price_text, currency = EXCLUDED.currency, status = EXCLUDED.status,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
    indexed_at = EXCLUDED.indexed_at, core_indexed_at = EXCLUDED.core_indexed_at,
    change = nextval('search.document_changes')
WHERE d.core_version < EXCLUDED.core_version
RETURNING d.product_id
""")

# A deletion keeps a tombstone row, so a late update of an older version cannot bring the product back; it
# outranks a core part of the same version (as `fold` does), whichever came first.
_TOMBSTONE = text("""
INSERT INTO search.documents AS d (product_id, core_version, deleted, indexed_at)
SELECT product_id, version, true, clock_timestamp()
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(product_id uuid, version bigint) ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    core_version = EXCLUDED.core_version, deleted = true, indexed_at = EXCLUDED.indexed_at,
    change = nextval('search.document_changes')
WHERE d.core_version < EXCLUDED.core_version OR (d.core_version = EXCLUDED.core_version AND NOT d.deleted)
RETURNING d.product_id
""")

_ENRICHMENT = text("""
INSERT INTO search.documents AS d
    (product_id, enrichment_version, enrichment_revision, enrichment_degraded, keywords, category, slug, price_band,
     completeness, indexed_at, enrichment_indexed_at)
SELECT product_id, version, revision, degraded, keywords, category, slug, price_band, completeness, stamp, stamp
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(
    product_id uuid, version bigint, revision bigint, degraded boolean, keywords text[], category text, slug text,
    price_band text, completeness numeric),
    clock_timestamp() AS stamp
ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    enrichment_version = EXCLUDED.enrichment_version, enrichment_revision = EXCLUDED.enrichment_revision,
    enrichment_degraded = EXCLUDED.enrichment_degraded, keywords = EXCLUDED.keywords, category = EXCLUDED.category,
    slug = EXCLUDED.slug, price_band = EXCLUDED.price_band, completeness = EXCLUDED.completeness,
    indexed_at = EXCLUDED.indexed_at, enrichment_indexed_at = EXCLUDED.enrichment_indexed_at,
    change = nextval('search.document_changes')
WHERE (d.enrichment_version, d.enrichment_revision) < (EXCLUDED.enrichment_version, EXCLUDED.enrichment_revision)
RETURNING d.product_id
""")

# `<=`, unlike the other parts: a regeneration reprocesses the same core version into new derivatives (another
# size list), and it must replace what it regenerated. A repeated event writes the same values again.
_MEDIA = text("""
INSERT INTO search.documents AS d (product_id, media_version, thumbnail_url, indexed_at)
SELECT product_id, version, thumbnail_url, clock_timestamp()
FROM jsonb_to_recordset(CAST(:parts AS jsonb)) AS r(product_id uuid, version bigint, thumbnail_url text)
ORDER BY product_id
ON CONFLICT (product_id) DO UPDATE SET
    media_version = EXCLUDED.media_version, thumbnail_url = EXCLUDED.thumbnail_url, indexed_at = EXCLUDED.indexed_at,
    change = nextval('search.document_changes')
WHERE d.media_version <= EXCLUDED.media_version
RETURNING d.product_id
""")

# Writers of the read model take their change numbers one transaction after the other: a transaction holding this
# lock until it commits, whoever reads change numbers up to N has seen every change numbered below N too. Without
# it, two indexer processes could commit 12 before 11, and a reader having passed 12 would never apply 11.
_CHANGE_ORDER = text("SELECT pg_advisory_xact_lock(:key)")
CHANGE_ORDER_LOCK = 0x5EA2C4  # one key of the database's advisory lock space, for this purpose only

_COLUMNS = """product_id::text, change, core_version, deleted, sku, skus, name, brand, description, price, price_text,
       currency, status, created_at, enrichment_version, enrichment_degraded, keywords, category, completeness,
       thumbnail_url"""
_CHANGES_AFTER = text(f"SELECT {_COLUMNS} FROM search.documents WHERE change > :after ORDER BY change LIMIT :limit")
_ROWS_OF = text(f"SELECT {_COLUMNS} FROM search.documents WHERE product_id = ANY(CAST(:ids AS uuid[])) ORDER BY change")

# The products of a batch's interactive parts that it changed, announced to the search API processes (each keeps
# them in an overlay beside the index until the index has caught up). Sent inside the batch's transaction, so
# PostgreSQL delivers it at commit and never for a batch rolled back.
FRESH_CHANNEL = "search_fresh"
_ANNOUNCE = text("SELECT pg_notify(:channel, :ids)")
# A payload must stay below 8,000 bytes: 36 characters and a comma per product id.
_ANNOUNCE_PER_NOTICE = 200


@dataclass(frozen=True)
class Changes:
    """Read-model rows changed after a change number: the live products and the ids of those gone."""

    live: list[IndexedProduct]
    gone: list[str]
    last: int  # the highest change number among them (the `after` asked for, when there are none)


@dataclass(frozen=True)
class FreshRow:
    """A product's read-model row as it is now: its change number, and its document (None: deleted or no core)."""

    product_id: str
    change: int
    product: IndexedProduct | None


class SearchDocuments:
    """Writes document parts: a batch is one transaction, whatever kinds of parts it holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, part: DocumentPart) -> bool:
        """Apply `part` if it is newer than what the document holds; True if the document changed."""
        return self.apply_many([part]) == 1

    def apply_many(self, parts: Sequence[DocumentPart], announce: Sequence[str] = ()) -> int:
        """Apply every part that is newer than what its document holds, all or nothing; how many documents changed.

        Parts of the same product and kind are folded first, so any mix of duplicates, reorderings and
        create-then-delete gives what applying the parts one by one would. The products in `announce` (those of
        interactive events) that changed are announced on `FRESH_CHANNEL` when the transaction commits.
        """
        rows: dict[TextClause, list[dict[str, Any]]] = {_CORE: [], _TOMBSTONE: [], _ENRICHMENT: [], _MEDIA: []}
        for part in fold(parts):
            match part:
                case CorePart():
                    rows[_CORE].append({**vars(part), "skus": list(part.skus), "price": str(part.price)})
                case Tombstone():
                    rows[_TOMBSTONE].append(vars(part))
                case EnrichmentPart():
                    rows[_ENRICHMENT].append({**vars(part), "keywords": list(part.keywords)})
                case MediaPart():
                    rows[_MEDIA].append(vars(part))
        changed: set[str] = set()
        with self.engine.begin() as conn:
            conn.execute(_CHANGE_ORDER, {"key": CHANGE_ORDER_LOCK})
            for statement, batch in rows.items():
                if batch:
                    changed.update(_run(conn, statement, batch))
            fresh = sorted(changed.intersection(pid.lower() for pid in announce))
            for start in range(0, len(fresh), _ANNOUNCE_PER_NOTICE):
                ids = ",".join(fresh[start : start + _ANNOUNCE_PER_NOTICE])
                conn.execute(_ANNOUNCE, {"channel": FRESH_CHANNEL, "ids": ids})
        return len(changed)

    def changes_after(self, after: int, limit: int) -> Changes:
        """Up to `limit` rows changed after change number `after`, in change order."""
        with self.engine.connect() as conn:
            return _changes(conn.execute(_CHANGES_AFTER, {"after": after, "limit": limit}).all(), after)

    def rows_of(self, product_ids: Sequence[str]) -> Changes:
        """The rows of these products as they are now (`last` is the highest change number among them)."""
        with self.engine.connect() as conn:
            return _changes(conn.execute(_ROWS_OF, {"ids": list(product_ids)}).all(), 0)

    def fresh_rows(self, product_ids: Sequence[str]) -> list[FreshRow]:
        """The rows of these products as they are now, with their change numbers (products without a row: none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(_ROWS_OF, {"ids": list(product_ids)}).all()
        return [
            FreshRow(r.product_id, r.change, _product(r) if r.core_version > 0 and not r.deleted else None)
            for r in rows
        ]

    def identity(self) -> str:
        """Which read model this is: a database restored or made anew has other object ids, so an index of the
        old one is not taken for this one's."""
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    text(
                        "SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::text || '/' ||"
                        " 'search.document_changes'::regclass::oid::text"
                    )
                ).scalar_one()
            )

    def issued(self) -> int:
        """The highest change number ever handed out (rows deleted since do not lower it, unlike `last_change`)."""
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT last_value, is_called FROM search.document_changes")).one()
            return int(row.last_value) if row.is_called else 0

    def last_change(self) -> int:
        """The highest change number in the read model (0 when empty)."""
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(max(change), 0) FROM search.documents")).scalar_one())

    def behind(self, position: int) -> tuple[int, float]:
        """The highest change number, and for how long the oldest change above `position` has waited (seconds; 0
        when there is none): how far an index at `position` is behind, in changes and in time."""
        with self.engine.connect() as conn:
            last = int(conn.execute(text("SELECT coalesce(max(change), 0) FROM search.documents")).scalar_one())
            waited = conn.execute(
                text(
                    "SELECT extract(epoch FROM clock_timestamp() - indexed_at) FROM search.documents"
                    " WHERE change > :position ORDER BY change LIMIT 1"
                ),
                {"position": position},
            ).scalar_one_or_none()
        return last, max(0.0, float(waited or 0.0))


def _changes(rows: Sequence[Any], after: int) -> Changes:
    live = [_product(r) for r in rows if r.core_version > 0 and not r.deleted]
    gone = [r.product_id for r in rows if r.core_version == 0 or r.deleted]
    return Changes(live, gone, rows[-1].change if rows else after)


def _product(r: Any) -> IndexedProduct:
    return IndexedProduct(
        product_id=r.product_id,
        sku=r.sku,
        skus=r.skus,
        name=r.name,
        brand=r.brand,
        description=r.description,
        price=float(r.price),
        price_text=r.price_text,
        currency=r.currency,
        status=r.status,
        created_at=r.created_at,
        core_version=r.core_version,
        enrichment_version=r.enrichment_version,
        enrichment_degraded=r.enrichment_degraded,
        keywords=r.keywords,
        category=r.category,
        completeness=None if r.completeness is None else float(r.completeness),
        thumbnail_url=r.thumbnail_url,
    )


def _run(conn: Connection, statement: TextClause, batch: list[dict[str, Any]]) -> list[str]:
    return [str(pid) for pid in conn.execute(statement, {"parts": json.dumps(batch)}).scalars()]


class FreshNotices:
    """The announcements of fresh products, over a psycopg session of its own (LISTEN needs one that stays open).

    While the session is down, announcements are lost: their products then wait for the search index's follower.
    """

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection[Any] | None = None

    def connect(self) -> None:
        self.close()
        self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        self._conn.execute(f"LISTEN {FRESH_CHANNEL}")

    def wait(self, timeout_s: float) -> list[str]:
        """The product ids announced since the last call, waiting up to `timeout_s` for the first announcement."""
        if self._conn is None:
            self.connect()
        assert self._conn is not None
        ids: list[str] = []
        for notice in self._conn.notifies(timeout=timeout_s, stop_after=1):
            ids += _ids(notice.payload)
        # Whatever else arrived with it is in psycopg's backlog already: take it without waiting.
        for notice in self._conn.notifies(timeout=0):
            ids += _ids(notice.payload)
        return ids

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(psycopg.Error):  # a session already lost
                conn.close()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ids(payload: str) -> Iterator[str]:
    # Anyone with access to the database may notify on the channel: only product ids are taken from it.
    return (pid for pid in payload.split(",") if _UUID.fullmatch(pid))
