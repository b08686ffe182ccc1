-- Core telephony: SIP accounts of agent extensions, registrar bindings, call detail records.

-- Credentials are kept only as digest HA1 values (H(user:realm:password)) for MD5 and SHA-256,
-- never as the password itself.
CREATE TABLE sip_accounts (
    extension   TEXT PRIMARY KEY,
    realm       TEXT NOT NULL,
    ha1_md5     TEXT NOT NULL,
    ha1_sha256  TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_ms  BIGINT NOT NULL
);

-- One row per contact binding; an extension may have several (desk phone + softphone).
CREATE TABLE registrations (
    extension   TEXT NOT NULL,
    contact_uri TEXT NOT NULL,
    received    TEXT NOT NULL,            -- source address:port the REGISTER came from (NAT)
    transport   TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    cseq        BIGINT NOT NULL,
    q_milli     BIGINT NOT NULL DEFAULT 1000,
    expires_ms  BIGINT NOT NULL,
    user_agent  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (extension, contact_uri)
);
CREATE INDEX registrations_expiry ON registrations (expires_ms);

-- One row per call (the A-leg as the citizen sees it) and one per leg.
CREATE TABLE cdr_calls (
    call_id       TEXT PRIMARY KEY,
    direction     TEXT NOT NULL,          -- inbound | outbound | internal
    caller        TEXT NOT NULL,
    callee        TEXT NOT NULL,
    did           TEXT NOT NULL DEFAULT '',
    trunk         TEXT NOT NULL DEFAULT '',
    agent         TEXT NOT NULL DEFAULT '',
    start_ms      BIGINT NOT NULL,
    answer_ms     BIGINT,
    end_ms        BIGINT NOT NULL,
    sip_code      BIGINT NOT NULL,
    hangup_side   TEXT NOT NULL,          -- caller | callee | system
    hangup_cause  TEXT NOT NULL
);
CREATE INDEX cdr_calls_start ON cdr_calls (start_ms);
CREATE INDEX cdr_calls_caller ON cdr_calls (caller);

CREATE TABLE cdr_legs (
    call_id      TEXT NOT NULL,
    leg          TEXT NOT NULL,           -- a | b1 | b2 ...
    sip_call_id  TEXT NOT NULL,
    peer         TEXT NOT NULL,           -- trunk name or extension
    remote_uri   TEXT NOT NULL,
    start_ms     BIGINT NOT NULL,
    answer_ms    BIGINT,
    end_ms       BIGINT NOT NULL,
    sip_code     BIGINT NOT NULL,
    codec        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (call_id, leg)
);
