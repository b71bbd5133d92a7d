"""Batch writes: search columns derived by the writing statement, the lexicon kept once per batch, GIN pending lists.

Measured on 20,000 documents (`bench/read_model.py --breakdown`, 2 shared CPUs), a batch of 1,000 new documents
took 410-680 ms, and ~85% of it was the GIN indexes with `fastupdate = off` (the trigram index alone over half:
each row inserts its ~30 trigram keys one by one, ~45 MB of WAL per 1,000 rows); the per-row lexicon upsert of the
trigger took another 13-20%. So:

- No trigger. The writers compute `document` and `fuzzy` with `search.document_of` / `search.fuzzy_of` (SQL
  functions the planner inlines, so they cost what the expressions cost) and set `indexed_at` themselves, only when
  a guard lets the row change. The lexicon gets the new words of a batch in one `INSERT ... SELECT DISTINCT`.
- GIN pending lists back on, but small: `gin_pending_list_limit` = 256 kB per index. An insert appends to the list
  and the writer that overflows it merges the list into the index in key order, ~4x cheaper than key-by-key
  insertion. A search scans at most 256 kB of unsorted entries (a few hundred documents), not the 4 MB default that
  made the planner give up on the indexes (s0002's reason).

The existing rows keep their derived columns: the expressions are exactly the trigger's.

Revision ID: s0003
"""

from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None

_GIN_INDEXES = ("documents_fulltext", "documents_fuzzy", "documents_skus")
PENDING_LIST_KB = 256

# STABLE, not IMMUTABLE (array_to_string and concat_ws are STABLE): a SQL function is inlined into the calling
# statement only when its body is no more volatile than it is declared, and inlining is what makes it cheap.
_FUNCTIONS = """
CREATE FUNCTION search.document_of(name text, brand text, keywords text[], category text, description text)
    RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT
        setweight(to_tsvector('simple', search.fold(name)), 'A') ||
        setweight(to_tsvector('simple', search.fold(brand)), 'A') ||
        setweight(to_tsvector('simple', search.fold(array_to_string(keywords, ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(replace(category, '/', ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(description)), 'C') $$;

CREATE FUNCTION search.fuzzy_of(name text, brand text)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT search.fold(concat_ws(' ', name, brand)) $$;
"""

_OLD_TRIGGER = """
CREATE FUNCTION search.derive_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.document :=
        setweight(to_tsvector('simple', search.fold(NEW.name)), 'A') ||
        setweight(to_tsvector('simple', search.fold(NEW.brand)), 'A') ||
        setweight(to_tsvector('simple', search.fold(array_to_string(NEW.keywords, ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(replace(NEW.category, '/', ' '))), 'B') ||
        setweight(to_tsvector('simple', search.fold(NEW.description)), 'C');
    NEW.fuzzy := search.fold(concat_ws(' ', NEW.name, NEW.brand));
    NEW.indexed_at := now();
    IF NEW.fuzzy <> '' THEN
        INSERT INTO search.lexicon (word)
            SELECT DISTINCT w FROM regexp_split_to_table(NEW.fuzzy, '[^[:alnum:]]+') AS w WHERE length(w) >= 3
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER documents_derive BEFORE INSERT OR UPDATE ON search.documents
    FOR EACH ROW EXECUTE FUNCTION search.derive_document();
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS documents_derive ON search.documents")
    op.execute("DROP FUNCTION IF EXISTS search.derive_document()")
    op.execute(_FUNCTIONS)
    for index in _GIN_INDEXES:
        op.execute(f"ALTER INDEX search.{index} SET (fastupdate = on, gin_pending_list_limit = {PENDING_LIST_KB})")


def downgrade() -> None:
    for index in _GIN_INDEXES:
        op.execute(f"ALTER INDEX search.{index} SET (fastupdate = off)")
        op.execute(f"ALTER INDEX search.{index} RESET (gin_pending_list_limit)")
        op.execute(f"SELECT gin_clean_pending_list('search.{index}'::regclass)")
    op.execute("DROP FUNCTION search.document_of(text, text, text[], text, text)")
    op.execute("DROP FUNCTION search.fuzzy_of(text, text)")
    op.execute(_OLD_TRIGGER)
