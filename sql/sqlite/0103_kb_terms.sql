-- Document frequency of every indexed word, so a search can leave out words that most articles
-- contain (bm25 gives them no weight, yet ranking them costs most of the work). FTS5 keeps the
-- counts itself; the view gives them the name and columns PostgreSQL's table has.
CREATE VIRTUAL TABLE kb_fts_vocab USING fts5vocab(kb_fts, 'row');
CREATE VIEW kb_terms AS SELECT term, doc AS docs FROM kb_fts_vocab;
