-- Call recordings: one row per WAV file under the recording store. The file is named by the row id
-- (a uuid v4, never a phone number); `path` is relative to the store root so the store can move.
-- state: recording (file open) -> complete (finalised, hashed) | repaired (fixed after a crash) | failed.

CREATE TABLE recordings (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    a_leg        TEXT NOT NULL,
    b_leg        TEXT NOT NULL DEFAULT '',
    agent        TEXT NOT NULL DEFAULT '',
    skill_group  TEXT NOT NULL DEFAULT '',
    started_ms   BIGINT NOT NULL,
    ended_ms     BIGINT,
    duration_ms  BIGINT,
    size_bytes   BIGINT,
    sha256       TEXT,
    path         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'recording'
                 CHECK (state IN ('recording', 'complete', 'repaired', 'failed')),
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recordings_call ON recordings (call_id, started_ms);
CREATE INDEX recordings_state ON recordings (state, started_ms);
