//! ACD configuration: centre-wide rules, skill groups (strategy, overflow, announcements, caps) and DID routes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{GroupId, Ms};

/// How a group chooses among its ready agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent ready the longest (the default).
    #[default]
    LongestIdle,
    /// Members in turn, continuing after the last agent offered.
    RoundRobin,
    /// The agent who answered the fewest calls since login.
    FewestCalls,
    /// The agent with the least talk time since login.
    LeastTalkTime,
    /// Every ready member rings; the first to answer takes the call.
    RingAll,
    /// Highest membership level first, longest idle within a level.
    SkillTiers,
}

/// When a waiting call leaves its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum OverflowTrigger {
    /// The call waited this long in this group.
    Waited { ms: Ms },
    /// The queue already holds this many calls when the call arrives.
    QueueLength { calls: usize },
    /// Nobody in the group is logged in.
    NoAgentLoggedIn,
}

/// Where an overflowing call goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum OverflowTarget {
    /// Into another group's queue, keeping its waiting time.
    Group { group: GroupId },
    /// Out of the queue to a recorded message (the media layer plays `prompt`, then ends or takes a voice message).
    Message { prompt: String },
    /// Offer the caller a callback (keeps its place if accepted).
    Callback,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowRule {
    #[serde(flatten)]
    pub trigger: OverflowTrigger,
    pub target: OverflowTarget,
}

/// One skill group (技能组) and the queue feeding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub id: GroupId,
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// Offer a returning caller to the agent who served them last, when that agent is ready.
    #[serde(default)]
    pub last_agent_first: bool,
    /// Ring-no-answer after this long: the call goes back to its place, the agent to not-ready.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_ms: Ms,
    /// Most members that may be not-ready at once (A L1342); `None` = no cap. Changed live.
    #[serde(default)]
    pub not_ready_cap: Option<u32>,
    #[serde(default)]
    pub overflow: Vec<OverflowRule>,
    /// The longest a call may wait here; then it goes to `max_wait_target`.
    #[serde(default)]
    pub max_wait_ms: Option<Ms>,
    #[serde(default = "default_max_wait_target")]
    pub max_wait_target: OverflowTarget,
    /// Announce position and expected wait every so often (and on entry).
    #[serde(default)]
    pub announce_every_ms: Option<Ms>,
    /// Offer a callback once the call has waited this long (B1 L3411: 5 min).
    #[serde(default)]
    pub callback_offer_after_ms: Option<Ms>,
    /// Handle time assumed until real calls are measured, for expected-wait figures.
    #[serde(default = "default_handle")]
    pub default_handle_ms: Ms,
}

fn default_ring_timeout() -> Ms {
    15_000
}
fn default_handle() -> Ms {
    180_000
}
fn default_max_wait_target() -> OverflowTarget {
    OverflowTarget::Message {
        prompt: "queue_timeout".into(),
    }
}

impl GroupConfig {
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        GroupConfig {
            id: id.into(),
            name: name.into(),
            strategy: Strategy::LongestIdle,
            last_agent_first: false,
            ring_timeout_ms: default_ring_timeout(),
            not_ready_cap: None,
            overflow: Vec::new(),
            max_wait_ms: None,
            max_wait_target: default_max_wait_target(),
            announce_every_ms: None,
            callback_offer_after_ms: None,
            default_handle_ms: default_handle(),
        }
    }

    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
        self
    }
}

/// A DID (called number) routed straight into a queue until the IVR exists (issue 5 item 7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidRoute {
    pub group: GroupId,
    /// An enterprise / VIP line: its calls enter the top 3 positions.
    #[serde(default)]
    pub vip: bool,
    /// An emergency linkage line (119/120): its calls go first.
    #[serde(default)]
    pub emergency: bool,
}

/// Centre-wide rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcdConfig {
    /// Wrap-up length before auto-ready (A L1337: 2 minutes).
    #[serde(default = "default_wrap_up")]
    pub wrap_up_ms: Ms,
    /// Not-ready reasons an agent may pick; `break` is always allowed through the break command.
    #[serde(default = "default_reasons")]
    pub not_ready_reasons: Vec<String>,
    /// Answered within this long counts for the service level (15 s).
    #[serde(default = "default_sl")]
    pub service_level_ms: Ms,
    /// How many times one call may overflow to another group before it goes to a message.
    #[serde(default = "default_hops")]
    pub max_overflow_hops: u8,
    /// How often a `no agent logged in` overflow rule is re-checked for waiting calls.
    #[serde(default = "default_recheck")]
    pub recheck_ms: Ms,
    /// Calls made for one callback promise before it is given up (busy, no answer, unreachable).
    #[serde(default = "default_callback_attempts")]
    pub callback_attempts: u32,
    /// Wait after a callback attempt that did not reach the citizen before the next.
    #[serde(default = "default_callback_retry")]
    pub callback_retry_ms: Ms,
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    #[serde(default)]
    pub did_routes: HashMap<String, DidRoute>,
}

fn default_callback_attempts() -> u32 {
    3
}
fn default_callback_retry() -> Ms {
    300_000
}

fn default_wrap_up() -> Ms {
    120_000
}
fn default_sl() -> Ms {
    15_000
}
fn default_hops() -> u8 {
    4
}
fn default_recheck() -> Ms {
    5_000
}
fn default_reasons() -> Vec<String> {
    [
        "break",
        "meeting",
        "training",
        "personal",
        "ticket_work",
        "leader_task",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            wrap_up_ms: default_wrap_up(),
            not_ready_reasons: default_reasons(),
            service_level_ms: default_sl(),
            max_overflow_hops: default_hops(),
            recheck_ms: default_recheck(),
            callback_attempts: default_callback_attempts(),
            callback_retry_ms: default_callback_retry(),
            groups: Vec::new(),
            did_routes: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_config_reads_from_toml_with_defaults() {
        let g: GroupConfig = toml::from_str(
            r#"
            id = "g1"
            name = "12345 综合"
            strategy = "round_robin"
            not_ready_cap = 2
            overflow = [ { when = "waited", ms = 60000, target = { to = "group", group = "g2" } },
                         { when = "no_agent_logged_in", target = { to = "callback" } } ]
            "#,
        )
        .unwrap();
        assert_eq!(g.strategy, Strategy::RoundRobin);
        assert_eq!(g.ring_timeout_ms, 15_000);
        assert_eq!(g.not_ready_cap, Some(2));
        assert_eq!(g.overflow.len(), 2);
        assert_eq!(
            g.overflow[0].trigger,
            OverflowTrigger::Waited { ms: 60_000 }
        );
        assert_eq!(g.overflow[1].target, OverflowTarget::Callback);
    }

    #[test]
    fn whole_config_with_did_routes() {
        let c: AcdConfig = toml::from_str(
            r#"
            wrap_up_ms = 60000
            [[groups]]
            id = "nn-12345-p"
            name = "南宁 12345(个人)"
            [did_routes."0771-12345"]
            group = "nn-12345-p"
            vip = true
            "#,
        )
        .unwrap();
        assert_eq!(c.wrap_up_ms, 60_000);
        assert_eq!(c.service_level_ms, 15_000);
        assert!(c.did_routes["0771-12345"].vip);
        assert!(c.not_ready_reasons.iter().any(|r| r == "meeting"));
    }

    #[test]
    fn unknown_strategy_is_an_error() {
        let r: Result<GroupConfig, _> = toml::from_str("id='a'\nname='b'\nstrategy='fastest'");
        assert!(r.is_err());
    }
}
