-- Work orders (工单): catalogues, users, tickets with their append-only event log, and the
-- projections the KPIs and lists read. Times are unix ms; booleans are BIGINT 0/1.

-- 行政区划: 4-level tree, hierarchical codes (a prefix selects a subtree).
CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_code TEXT,
    level       BIGINT NOT NULL
);

-- 归口 / 事项分类: 5-level tree, two digits per level.
CREATE TABLE categories (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_code TEXT,
    level       BIGINT NOT NULL,
    enabled     BIGINT NOT NULL DEFAULT 1
);

-- 承办单位 in a hierarchy: region → city → county → street, each with its region scope.
CREATE TABLE departments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT,
    level       BIGINT NOT NULL,
    region_code TEXT NOT NULL,
    phone       TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX departments_parent ON departments (parent_id);

-- Dispatch rules: category prefix × region prefix → department; the longest match wins.
CREATE TABLE dispatch_rules (
    id              TEXT PRIMARY KEY,
    category_prefix TEXT NOT NULL,
    region_prefix   TEXT NOT NULL,
    department_id   TEXT NOT NULL,
    priority        BIGINT NOT NULL DEFAULT 0
);

-- Users of the web API (agents, dispatchers, reviewers, department handlers...).
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,          -- argon2 PHC string
    roles           TEXT NOT NULL,          -- comma-separated role names
    region_scope    TEXT NOT NULL DEFAULT '',
    department_id   TEXT,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    locked_until_ms BIGINT NOT NULL DEFAULT 0,
    enabled         BIGINT NOT NULL DEFAULT 1,
    created_ms      BIGINT NOT NULL
);

-- Bearer tokens, stored only as their SHA-256.
CREATE TABLE auth_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX auth_tokens_expiry ON auth_tokens (expires_ms);

-- Per-day ticket number counters.
CREATE TABLE ticket_counters (
    day   TEXT PRIMARY KEY,
    last  BIGINT NOT NULL
);

-- One row per ticket: descriptive fields, query columns, and the lifecycle state as JSON.
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    request_type    TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    confidential    BIGINT NOT NULL DEFAULT 0,
    title           TEXT NOT NULL,
    content         TEXT NOT NULL,
    category_code   TEXT NOT NULL,
    region_code     TEXT NOT NULL,
    address         TEXT NOT NULL DEFAULT '',
    requester_name  TEXT NOT NULL DEFAULT '',
    contact_phone   TEXT NOT NULL DEFAULT '',
    caller_number   TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '',
    lead_dept       TEXT,
    due_ms          BIGINT,
    overdue         BIGINT NOT NULL DEFAULT 0,
    next_timer_ms   BIGINT,
    master_id       TEXT,
    cycle           BIGINT NOT NULL DEFAULT 1,
    created_by      TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    closed_ms       BIGINT,
    version         BIGINT NOT NULL,
    idempotency_key TEXT UNIQUE,
    state_json      TEXT NOT NULL
);
CREATE INDEX tickets_caller ON tickets (caller_number, created_ms);
CREATE INDEX tickets_dept_status ON tickets (lead_dept, status, created_ms);
CREATE INDEX tickets_status ON tickets (status, created_ms);
CREATE INDEX tickets_region ON tickets (region_code, created_ms);
CREATE INDEX tickets_timer ON tickets (next_timer_ms);
CREATE INDEX tickets_created ON tickets (created_ms);
CREATE INDEX tickets_master ON tickets (master_id);

-- The append-only log of every action: who, when, what, state before and after.
CREATE TABLE ticket_events (
    ticket_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

-- Calls and recordings linked to a ticket (screen pop, callbacks).
CREATE TABLE ticket_calls (
    ticket_id    TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    recording_id TEXT NOT NULL DEFAULT '',
    did          TEXT NOT NULL DEFAULT '',
    skill_group  TEXT NOT NULL DEFAULT '',
    agent        TEXT NOT NULL DEFAULT '',
    at_ms        BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, call_id)
);
CREATE INDEX ticket_calls_call ON ticket_calls (call_id);

-- Assisting (协办) parties of the current dispatch.
CREATE TABLE ticket_assisting (
    ticket_id     TEXT NOT NULL,
    department_id TEXT NOT NULL,
    PRIMARY KEY (ticket_id, department_id)
);

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    ticket_id    TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    storage_path TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id);

-- Revisits (回访), one per evaluation; KPIs read the last one of a ticket.
CREATE TABLE revisits (
    ticket_id    TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    at_ms        BIGINT NOT NULL,
    by_user      TEXT NOT NULL,
    method       TEXT NOT NULL,
    satisfaction TEXT NOT NULL,
    resolution   TEXT NOT NULL,
    cycle        BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

-- Satisfaction on 3 dimensions (agent service, seat service, handling result), 1..5.
CREATE TABLE satisfaction (
    ticket_id     TEXT NOT NULL,
    cycle         BIGINT NOT NULL,
    at_ms         BIGINT NOT NULL,
    channel       TEXT NOT NULL,
    agent_service BIGINT NOT NULL,
    seat_service  BIGINT NOT NULL,
    result        BIGINT NOT NULL,
    comment       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (ticket_id, cycle)
);

-- Supervision (督办) cases.
CREATE TABLE supervision_cases (
    ticket_id  TEXT NOT NULL,
    case_no    BIGINT NOT NULL,
    level      TEXT NOT NULL,
    cause      TEXT NOT NULL,
    opened_ms  BIGINT NOT NULL,
    closed_ms  BIGINT,
    note       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, case_no)
);

-- Notifications produced by the lifecycle, drained by the SMS / in-app senders.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    template   TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    sent_ms    BIGINT
);
CREATE INDEX notifications_unsent ON notifications (sent_ms, created_ms);
