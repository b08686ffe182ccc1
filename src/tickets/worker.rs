//! The async shell around the ticket cores: a periodic task that runs SLA timers of due
//! tickets (warnings, overdue, supervision) and sends pending citizen SMS.

use std::sync::Arc;
use std::time::Duration;

use super::satisfaction::LinkSigner;
use super::sms::{deliver_citizen_sms, SmsSender};
use super::store::TicketStore;
use crate::store::now_ms;

/// Starts the worker; it runs until the returned handle is aborted.
pub fn spawn(
    store: TicketStore,
    sms: Arc<dyn SmsSender>,
    signer: LinkSigner,
    link_base: String,
    period: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            // Bounded batches per tick, so one slow round cannot starve the next.
            match store.run_due_timers(now, 500).await {
                Ok(n) if n > 0 => tracing::debug!(tickets = n, "sla timers ran"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sla timer sweep failed"),
            }
            if let Err(e) =
                deliver_citizen_sms(&store, sms.as_ref(), &signer, &link_base, 200, now).await
            {
                tracing::warn!(error = %e, "sms delivery failed");
            }
        }
    })
}
