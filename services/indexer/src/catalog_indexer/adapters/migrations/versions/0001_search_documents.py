"""Search documents: one per product, with per-part versions, weighted full text and trigrams.

Revision ID: s0001
"""

from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE EXTENSION IF NOT EXISTS unaccent;
    CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
    CREATE SCHEMA IF NOT EXISTS search;

    -- unaccent() is only STABLE (its dictionary could change); pinning the dictionary makes this wrapper
    -- safe to declare IMMUTABLE, which indexes need.
    CREATE FUNCTION search.fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, coalesce(value, ''))) $$;

    CREATE TABLE search.documents (
        product_id         uuid PRIMARY KEY,
        -- core part (product.created/updated/deleted); 0 = not seen yet
        core_version       bigint NOT NULL DEFAULT 0,
        deleted            boolean NOT NULL DEFAULT false,
        sku                text,
        skus               text[] NOT NULL DEFAULT '{}',  -- lower-cased SKUs of the product and its variants
        name               text,
        brand              text,
        description        text,
        price              numeric(20, 4),
        price_text         text,
        currency           text,
        status             text,
        created_at         timestamptz,
        updated_at         timestamptz,
        -- enrichment part (product.enriched); its version is the core version it was computed from
        enrichment_version bigint NOT NULL DEFAULT 0,
        keywords           text[] NOT NULL DEFAULT '{}',
        category           text,
        slug               text,
        price_band         text,
        completeness       numeric(3, 2),
        -- media part (product.media_processed), filled by the media work
        media_version      bigint NOT NULL DEFAULT 0,
        thumbnail_url      text,
        -- derived by the trigger below from whichever parts are present
        document           tsvector NOT NULL DEFAULT ''::tsvector,
        fuzzy              text NOT NULL DEFAULT '',
        indexed_at         timestamptz NOT NULL DEFAULT now()
    );

    -- Every word of a name or brand ever indexed: the vocabulary a misspelt query word is corrected against.
    CREATE TABLE search.lexicon (word text PRIMARY KEY);
    CREATE INDEX lexicon_length ON search.lexicon (length(word));

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

    CREATE INDEX documents_fulltext ON search.documents USING gin (document);
    CREATE INDEX documents_fuzzy ON search.documents USING gin (fuzzy gin_trgm_ops);
    CREATE INDEX documents_skus ON search.documents USING gin (skus);
    CREATE INDEX documents_brand ON search.documents (brand);
    CREATE INDEX documents_category ON search.documents (category);
    CREATE INDEX documents_price ON search.documents (price);
    CREATE INDEX documents_created ON search.documents (created_at DESC);
    """)


def downgrade() -> None:
    op.execute("DROP SCHEMA search CASCADE")
