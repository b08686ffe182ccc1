-- Per-leg media quality with each CDR leg (issue 4): what hotline measured on the RTP it
-- received from the leg (packets, loss, RFC 3550 jitter), what the leg's endpoint reported in
-- RTCP (report blocks, mean fraction lost, jitter, round trip), and an E-model R-factor and MOS.
-- NULL when the leg carried no relayed media.
ALTER TABLE cdr_legs ADD COLUMN rtp_packets BIGINT;
ALTER TABLE cdr_legs ADD COLUMN rtp_lost BIGINT;
ALTER TABLE cdr_legs ADD COLUMN loss_pct REAL;
ALTER TABLE cdr_legs ADD COLUMN jitter_ms REAL;
ALTER TABLE cdr_legs ADD COLUMN rtcp_reports BIGINT;
ALTER TABLE cdr_legs ADD COLUMN remote_loss_pct REAL;
ALTER TABLE cdr_legs ADD COLUMN remote_jitter_ms REAL;
ALTER TABLE cdr_legs ADD COLUMN rtt_ms REAL;
ALTER TABLE cdr_legs ADD COLUMN r_factor REAL;
ALTER TABLE cdr_legs ADD COLUMN mos REAL;
-- Reports look for poor calls by quality.
CREATE INDEX cdr_legs_mos ON cdr_legs (mos);
