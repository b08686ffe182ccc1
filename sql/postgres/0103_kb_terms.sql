-- Document frequency of every indexed word, so a search can leave out words that most articles
-- contain (they add nothing to tell articles apart, yet ranking them costs most of the work).
-- Kept by triggers on the search index, in the same transaction as the index change.
CREATE TABLE kb_terms (
    term TEXT PRIMARY KEY,
    docs BIGINT NOT NULL
);

CREATE FUNCTION kb_terms_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'UPDATE' THEN
        UPDATE kb_terms SET docs = docs - 1 WHERE term = ANY (tsvector_to_array(OLD.tsv));
    END IF;
    IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
        INSERT INTO kb_terms (term, docs)
        SELECT t, 1 FROM unnest(tsvector_to_array(NEW.tsv)) AS t
        ON CONFLICT (term) DO UPDATE SET docs = kb_terms.docs + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER kb_search_terms AFTER INSERT OR UPDATE OR DELETE ON kb_search
    FOR EACH ROW EXECUTE FUNCTION kb_terms_count();

-- Articles indexed before this migration.
INSERT INTO kb_terms (term, docs)
SELECT t, COUNT(*) FROM kb_search, unnest(tsvector_to_array(tsv)) AS t GROUP BY t;
