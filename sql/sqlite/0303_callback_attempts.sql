-- Callback promises count their failed attempts and keep the last outcome (reached, busy, given up).
ALTER TABLE acd_callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE acd_callbacks ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE acd_callbacks ADD COLUMN last_attempt_ms BIGINT;
