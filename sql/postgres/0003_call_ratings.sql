-- Post-call satisfaction given in the IVR survey (1..scale), per call; the ticket when one
-- was bound to the call by then.
CREATE TABLE call_ratings (
    call_id   TEXT NOT NULL PRIMARY KEY,
    ticket    TEXT,
    rating    BIGINT NOT NULL,
    scale     BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX call_ratings_ticket ON call_ratings (ticket);
