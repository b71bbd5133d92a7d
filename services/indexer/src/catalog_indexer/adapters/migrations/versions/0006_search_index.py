"""Change numbers for the search index; the read model keeps no search structures of its own any more.

Searches are answered by a Tantivy index derived from this table (docs/search-and-enrichment.md: 1M documents,
a frequent word ranked in 210-650 ms and a fuzzy match in 2.3 s here, 3 ms and 1.3 ms there). The index follows
the table by change number: every write of a row takes the next number of `search.document_changes`, and
`documents_change` finds the rows changed after a given number. The tsvector, the trigram text, the lexicon and
the GIN and filter indexes served only the old SQL search and cost most of each write (~85% of a batch, s0003), so
they go.

Revision ID: s0006
"""

from alembic import op

revision = "s0006"
down_revision = "s0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written to run again over a database that an earlier build of it already upgraded (it was numbered s0004, then
    # s0005, before the part times and the enrichment revisions came first).
    op.execute("""
    CREATE SEQUENCE IF NOT EXISTS search.document_changes;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS change bigint;
    UPDATE search.documents SET change = nextval('search.document_changes') WHERE change IS NULL;
    ALTER TABLE search.documents
        ALTER COLUMN change SET DEFAULT nextval('search.document_changes'),
        ALTER COLUMN change SET NOT NULL;
    ALTER SEQUENCE search.document_changes OWNED BY search.documents.change;
    CREATE INDEX IF NOT EXISTS documents_change ON search.documents (change);

    DROP INDEX IF EXISTS search.documents_fulltext, search.documents_fuzzy, search.documents_skus,
        search.documents_brand, search.documents_category, search.documents_price, search.documents_created;
    ALTER TABLE search.documents DROP COLUMN IF EXISTS document, DROP COLUMN IF EXISTS fuzzy;
    DROP TABLE IF EXISTS search.lexicon;
    DROP FUNCTION IF EXISTS search.document_of(text, text, text[], text, text);
    DROP FUNCTION IF EXISTS search.fuzzy_of(text, text);

    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS core_indexed_at timestamptz;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_indexed_at timestamptz;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_revision bigint NOT NULL DEFAULT 0;
    ALTER TABLE search.documents ADD COLUMN IF NOT EXISTS enrichment_degraded boolean NOT NULL DEFAULT false;
    """)


def downgrade() -> None:
    op.execute("""
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
    ALTER TABLE search.documents
        ADD COLUMN document tsvector NOT NULL DEFAULT ''::tsvector, ADD COLUMN fuzzy text NOT NULL DEFAULT '';
    UPDATE search.documents SET document = search.document_of(name, brand, keywords, category, description),
                                fuzzy = search.fuzzy_of(name, brand);
    CREATE TABLE search.lexicon (word text PRIMARY KEY);
    CREATE INDEX lexicon_length ON search.lexicon (length(word));
    INSERT INTO search.lexicon (word)
        SELECT DISTINCT w FROM search.documents, regexp_split_to_table(fuzzy, '[^[:alnum:]]+') AS w
        WHERE length(w) >= 3;
    CREATE INDEX documents_fulltext ON search.documents USING gin (document)
        WITH (fastupdate = on, gin_pending_list_limit = 256);
    CREATE INDEX documents_fuzzy ON search.documents USING gin (fuzzy gin_trgm_ops)
        WITH (fastupdate = on, gin_pending_list_limit = 256);
    CREATE INDEX documents_skus ON search.documents USING gin (skus)
        WITH (fastupdate = on, gin_pending_list_limit = 256);
    CREATE INDEX documents_brand ON search.documents (brand);
    CREATE INDEX documents_category ON search.documents (category);
    CREATE INDEX documents_price ON search.documents (price);
    CREATE INDEX documents_created ON search.documents (created_at DESC);
    DROP INDEX search.documents_change;
    ALTER TABLE search.documents DROP COLUMN change;
    """)
