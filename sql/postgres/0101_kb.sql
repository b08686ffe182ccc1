-- Knowledge base (知识库): articles with a review workflow (draft → review → published →
-- retired, with history of every version) and Chinese full-text search over text segmented
-- into words by the application (jieba), so the engines only see space-separated tokens.
CREATE TABLE kb_articles (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    category_code TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,          -- draft | review | published | retired
    version       BIGINT NOT NULL,
    author        TEXT NOT NULL,
    reviewer      TEXT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    published_ms  BIGINT
);
CREATE INDEX kb_articles_status ON kb_articles (status, updated_ms);

-- Every workflow step with the version's text, so any earlier version can be shown.
CREATE TABLE kb_history (
    article_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    opinion     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (article_id, seq)
);

-- The search index holds published articles only: a tsvector over pre-segmented words, title
-- weighted above body.
CREATE TABLE kb_search (
    article_id TEXT PRIMARY KEY,
    title_seg  TEXT NOT NULL,
    body_seg   TEXT NOT NULL,
    tsv        tsvector NOT NULL
);
CREATE INDEX kb_search_tsv ON kb_search USING GIN (tsv);
