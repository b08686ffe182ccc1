-- Work orders, second round: KPI appeals (申诉), deemed revisits, knowledge-base synonyms.

-- One row per appeal: query columns beside the state the appeal core owns, as JSON.
CREATE TABLE ticket_appeals (
    id            TEXT PRIMARY KEY,
    ticket_id     TEXT NOT NULL,
    indicator     TEXT NOT NULL,
    department_id TEXT NOT NULL,
    status        TEXT NOT NULL,          -- reviewing | granted | rejected | withdrawn
    stage         BIGINT NOT NULL,
    filed_by      TEXT NOT NULL,
    filed_ms      BIGINT NOT NULL,
    decided_ms    BIGINT,
    version       BIGINT NOT NULL,
    state_json    TEXT NOT NULL
);
CREATE INDEX ticket_appeals_ticket ON ticket_appeals (ticket_id, indicator);
CREATE INDEX ticket_appeals_dept ON ticket_appeals (department_id, filed_ms);
CREATE INDEX ticket_appeals_status ON ticket_appeals (status, filed_ms);

-- A revisit recorded as satisfied after failed calls, not the citizen's answer.
ALTER TABLE revisits ADD COLUMN deemed BIGINT NOT NULL DEFAULT 0;

-- Synonyms (同义词), applied at search time: every word of a group finds the others.
-- The group is named by its main word, which is also a row of its own group.
CREATE TABLE kb_synonyms (
    word      TEXT PRIMARY KEY,
    main_word TEXT NOT NULL
);
CREATE INDEX kb_synonyms_main ON kb_synonyms (main_word);
