//! Call detail records: every call and each of its legs, written in batches by one writer task
//! so that call tasks never wait on the database.
//!
//! A failed batch is kept and retried (with a growing pause) rather than dropped; the queue in
//! front of the writer is bounded, and a full queue is logged and counted, never blocking a call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use crate::media::quality::LegQualityReport;
use crate::store::{Db, StoreError};

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupSide {
    Caller,
    Callee,
    System,
}

impl HangupSide {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSide::Caller => "caller",
            HangupSide::Callee => "callee",
            HangupSide::System => "system",
        }
    }
}

/// The whole call as the citizen experienced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub call_id: String,
    pub direction: &'static str,
    pub caller: String,
    pub callee: String,
    pub did: String,
    pub trunk: String,
    pub agent: String,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub end_ms: i64,
    pub sip_code: u16,
    pub hangup_side: HangupSide,
    pub hangup_cause: String,
}

/// One SIP leg of a call (the A-leg from the carrier, each forked B-leg to an agent's device).
#[derive(Debug, Clone, PartialEq)]
pub struct LegRecord {
    pub call_id: String,
    pub leg: String,
    pub sip_call_id: String,
    pub peer: String,
    pub remote_uri: String,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub end_ms: i64,
    pub sip_code: u16,
    pub codec: String,
    /// The leg's media quality (loss, jitter, RTCP reports, R, MOS); None when the leg carried
    /// no relayed media (not answered, or the call ended before the relay's first figures).
    pub quality: Option<LegQualityReport>,
    /// Why this leg ended apart from the call: `transferred` when its party transferred the
    /// call away; empty when it ended with the call (or never answered).
    pub hangup_cause: String,
}

/// A finished call with its legs: written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Cdr {
    pub call: CallRecord,
    pub legs: Vec<LegRecord>,
}

enum Msg {
    Record(Box<Cdr>),
    Flush(oneshot::Sender<()>),
}

/// The handle call tasks use; cheap to clone.
#[derive(Clone)]
pub struct CdrWriter {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    pub max_batch: usize,
    pub max_delay: Duration,
    pub queue: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: 256,
            max_delay: Duration::from_millis(200),
            queue: 100_000,
        }
    }
}

impl CdrWriter {
    /// Starts the writer task on `db`.
    pub fn spawn(db: Db, policy: BatchPolicy) -> CdrWriter {
        let (tx, rx) = mpsc::channel(policy.queue);
        let written = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(db, rx, policy, written.clone()));
        CdrWriter {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            written,
        }
    }

    /// Queues a record; never waits. A full queue (the database far behind) is counted and logged.
    pub fn record(&self, cdr: Cdr) {
        if let Err(e) = self.tx.try_send(Msg::Record(Box::new(cdr))) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let id = match &e {
                mpsc::error::TrySendError::Full(Msg::Record(c))
                | mpsc::error::TrySendError::Closed(Msg::Record(c)) => c.call.call_id.clone(),
                _ => String::new(),
            };
            error!(call_id = %id, "CDR queue full or closed: record not written");
        }
    }

    /// Waits until everything queued so far is written (for shutdown and tests).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Msg>, policy: BatchPolicy, written: Arc<AtomicU64>) {
    let mut batch: Vec<Cdr> = Vec::with_capacity(policy.max_batch);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closed = false;
    while !closed || !batch.is_empty() {
        if !closed {
            // Wait for the first record, then gather more until the batch is full or the delay passes.
            let deadline = tokio::time::Instant::now() + policy.max_delay;
            loop {
                let next = if batch.is_empty() && waiters.is_empty() {
                    rx.recv().await
                } else {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                };
                match next {
                    Some(Msg::Record(c)) => {
                        batch.push(*c);
                        if batch.len() >= policy.max_batch {
                            break;
                        }
                    }
                    Some(Msg::Flush(w)) => {
                        waiters.push(w);
                        break;
                    }
                    None => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        let mut pause = Duration::from_millis(100);
        while !batch.is_empty() {
            match write_batch(&db, &batch).await {
                Ok(()) => {
                    written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                }
                Err(e) => {
                    warn!(records = batch.len(), error = %e, "CDR batch not written; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn write_batch(db: &Db, batch: &[Cdr]) -> Result<(), StoreError> {
    let mut tx = db.pool.begin().await?;
    for cdr in batch {
        let c = &cdr.call;
        // ON CONFLICT: a retried batch whose first attempt committed must not fail forever.
        sqlx::query(
            "INSERT INTO cdr_calls (call_id, direction, caller, callee, did, trunk, agent, start_ms, answer_ms,
                 end_ms, sip_code, hangup_side, hangup_cause)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(&c.call_id)
        .bind(c.direction)
        .bind(&c.caller)
        .bind(&c.callee)
        .bind(&c.did)
        .bind(&c.trunk)
        .bind(&c.agent)
        .bind(c.start_ms)
        .bind(c.answer_ms)
        .bind(c.end_ms)
        .bind(i64::from(c.sip_code))
        .bind(c.hangup_side.as_str())
        .bind(&c.hangup_cause)
        .execute(&mut *tx)
        .await?;
        for l in &cdr.legs {
            let q = l.quality.as_ref();
            sqlx::query(
                "INSERT INTO cdr_legs (call_id, leg, sip_call_id, peer, remote_uri, start_ms, answer_ms, end_ms,
                     sip_code, codec, rtp_packets, rtp_lost, loss_pct, jitter_ms, rtcp_reports,
                     remote_loss_pct, remote_jitter_ms, rtt_ms, r_factor, mos, hangup_cause)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                     $19, $20, $21) ON CONFLICT (call_id, leg) DO NOTHING",
            )
            .bind(&l.call_id)
            .bind(&l.leg)
            .bind(&l.sip_call_id)
            .bind(&l.peer)
            .bind(&l.remote_uri)
            .bind(l.start_ms)
            .bind(l.answer_ms)
            .bind(l.end_ms)
            .bind(i64::from(l.sip_code))
            .bind(&l.codec)
            .bind(q.map(|q| q.rtp_packets as i64))
            .bind(q.map(|q| q.rtp_lost as i64))
            .bind(q.map(|q| q.loss_pct))
            .bind(q.map(|q| q.jitter_ms))
            .bind(q.map(|q| q.rtcp_reports as i64))
            .bind(q.and_then(|q| q.remote_loss_pct))
            .bind(q.and_then(|q| q.remote_jitter_ms))
            .bind(q.and_then(|q| q.rtt_ms))
            .bind(q.map(|q| q.r_factor))
            .bind(q.map(|q| q.mos))
            .bind(&l.hangup_cause)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn sample(i: usize) -> Cdr {
        let call_id = format!("call-{i}");
        Cdr {
            call: CallRecord {
                call_id: call_id.clone(),
                direction: "inbound",
                caller: format!("1380000{i:04}"),
                callee: "12345".into(),
                did: "12345".into(),
                trunk: "carrier-sample".into(),
                agent: if i % 2 == 0 {
                    "1001".into()
                } else {
                    String::new()
                },
                start_ms: 1_000 + i as i64,
                answer_ms: (i % 2 == 0).then_some(2_000 + i as i64),
                end_ms: 9_000 + i as i64,
                sip_code: if i % 2 == 0 { 200 } else { 487 },
                hangup_side: if i % 2 == 0 {
                    HangupSide::Callee
                } else {
                    HangupSide::Caller
                },
                hangup_cause: if i % 2 == 0 {
                    "normal".into()
                } else {
                    "caller cancelled".into()
                },
            },
            legs: vec![LegRecord {
                call_id,
                leg: "a".into(),
                sip_call_id: format!("sip-{i}@carrier"),
                peer: "carrier-sample".into(),
                remote_uri: "sip:13800000000@127.0.0.1".into(),
                start_ms: 1_000,
                answer_ms: None,
                end_ms: 9_000,
                sip_code: 200,
                codec: "PCMU".into(),
                hangup_cause: String::new(),
                quality: (i % 3 == 0).then(|| LegQualityReport {
                    rtp_packets: 1000 + i as u64,
                    rtp_lost: 20,
                    loss_pct: 2.0,
                    jitter_ms: 12.5,
                    rtcp_packets: 4,
                    rtcp_reports: 3,
                    remote_loss_pct: Some(1.5),
                    remote_jitter_ms: Some(8.25),
                    rtt_ms: None,
                    r_factor: 84.5,
                    mos: 4.1,
                }),
            }],
        }
    }

    async fn writes_every_record(db: Db) {
        let w = CdrWriter::spawn(
            db.clone(),
            BatchPolicy {
                max_batch: 7,
                max_delay: Duration::from_millis(20),
                queue: 1000,
            },
        );
        for i in 0..50 {
            w.record(sample(i));
        }
        w.flush().await;
        assert_eq!(w.written(), 50);
        assert_eq!(w.dropped(), 0);
        let (calls,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cdr_calls")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let (legs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cdr_legs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!((calls, legs), (50, 50));
        let row: (String, Option<i64>, i64, String) =
            sqlx::query_as("SELECT agent, answer_ms, sip_code, hangup_side FROM cdr_calls WHERE call_id = 'call-3'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(row, (String::new(), None, 487, "caller".to_string()));
        // Each leg's quality, as a manager's report reads it; legs without media stay NULL.
        type QualityRow = (
            Option<i64>,
            Option<i64>,
            Option<f64>,
            Option<f64>,
            Option<i64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        );
        let q = "SELECT rtp_packets, rtp_lost, loss_pct, jitter_ms, rtcp_reports, remote_loss_pct,
                        remote_jitter_ms, rtt_ms, r_factor, mos FROM cdr_legs WHERE call_id = $1";
        let row: QualityRow = sqlx::query_as(q)
            .bind("call-3")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            row,
            (
                Some(1003),
                Some(20),
                Some(2.0),
                Some(12.5),
                Some(3),
                Some(1.5),
                Some(8.25),
                None,
                Some(84.5),
                Some(4.1)
            )
        );
        let row: QualityRow = sqlx::query_as(q)
            .bind("call-4")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            row,
            (None, None, None, None, None, None, None, None, None, None)
        );
        let (n, worst): (i64, Option<f64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(mos) FROM cdr_legs WHERE mos IS NOT NULL AND loss_pct >= 1.0",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!((n, worst), (17, Some(4.1)));
    }

    #[tokio::test]
    async fn cdr_batches_on_sqlite() {
        writes_every_record(testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn cdr_batches_on_postgres() {
        if let Some(db) = testing::postgres("cdr").await {
            writes_every_record(db).await;
        }
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_not_lost() {
        let db = testing::sqlite().await;
        sqlx::query("ALTER TABLE cdr_legs RENAME TO cdr_legs_away")
            .execute(&db.pool)
            .await
            .unwrap();
        let w = CdrWriter::spawn(
            db.clone(),
            BatchPolicy {
                max_batch: 4,
                max_delay: Duration::from_millis(10),
                queue: 100,
            },
        );
        w.record(sample(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            w.written(),
            0,
            "the table is missing, nothing can be written yet"
        );
        sqlx::query("ALTER TABLE cdr_legs_away RENAME TO cdr_legs")
            .execute(&db.pool)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), w.flush())
            .await
            .expect("flush completes once the table is back");
        assert_eq!(w.written(), 1);
    }
}
