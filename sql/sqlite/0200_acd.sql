-- ACD: the agent state log, callback promises, the blacklist (with its audit trail), the red list,
-- and changes of the per-group not-ready cap.

CREATE TABLE acd_agent_state_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_no    TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',   -- not-ready reason, call id: the JSON of the new state
    reason      TEXT NOT NULL,              -- why it changed (login, ring_no_answer, wrap_up_timeout, ...)
    at_ms       BIGINT NOT NULL
);
CREATE INDEX acd_agent_state_log_agent ON acd_agent_state_log (agent_no, at_ms);

-- A callback promise is kept across restarts until an agent takes it.
CREATE TABLE acd_callbacks (
    call_id     TEXT PRIMARY KEY,
    number      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    priority    TEXT NOT NULL,
    arrived_ms  BIGINT NOT NULL,
    accepted_ms BIGINT NOT NULL,
    done_ms     BIGINT,
    agent_no    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX acd_callbacks_pending ON acd_callbacks (done_ms, arrived_ms);

CREATE TABLE acd_blacklist (
    number      TEXT PRIMARY KEY,
    until_ms    BIGINT,                    -- NULL: until removed
    reason      TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    added_ip    TEXT NOT NULL,
    added_ms    BIGINT NOT NULL
);

CREATE TABLE acd_red_list (
    number      TEXT PRIMARY KEY,
    note        TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    added_ip    TEXT NOT NULL,
    added_ms    BIGINT NOT NULL
);

-- Every add/remove of a list entry and every cap change, with who and from where (A L1354).
CREATE TABLE acd_list_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    list        TEXT NOT NULL,              -- blacklist | red_list | not_ready_cap
    action      TEXT NOT NULL,              -- add | remove | set
    subject     TEXT NOT NULL,              -- the number, or the group id
    detail      TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    by_ip       TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX acd_list_audit_subject ON acd_list_audit (subject, at_ms);
