//! Where a call goes: inbound trunk calls by DID to extensions (all their registered devices) or
//! ring groups; agents' outbound calls by the dial plan to trunks in failover order. Also the
//! trunk table that enforces each trunk's channel limit and knows which trunks are up.
//!
//! Pure decisions over the configuration, the registrar's bindings and the trunk table; the SIP
//! shell calls these when an INVITE arrives.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::config::{Profiles, RouteTarget};

use super::core::{Hunt, Target};

/// Numbers an agent may always dial, whatever the dial plan says (public security, fire,
/// ambulance, traffic police).
pub const EMERGENCY_NUMBERS: &[&str] = &["110", "119", "120", "122"];

/// Channel use and health of every trunk.
#[derive(Debug, Default)]
pub struct TrunkTable {
    trunks: HashMap<String, TrunkState>,
}

#[derive(Debug, Clone)]
struct TrunkState {
    channels: u32,
    in_use: u32,
    up: bool,
}

impl TrunkTable {
    pub fn new(profiles: &Profiles) -> TrunkTable {
        TrunkTable {
            trunks: profiles
                .trunks
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        TrunkState {
                            channels: t.channels,
                            in_use: 0,
                            up: true,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Takes one channel of `trunk`; `false` when it is full (the caller answers 503) or unknown.
    pub fn acquire(&mut self, trunk: &str) -> bool {
        match self.trunks.get_mut(trunk) {
            Some(t) if t.in_use < t.channels => {
                t.in_use += 1;
                true
            }
            _ => false,
        }
    }

    pub fn release(&mut self, trunk: &str) {
        if let Some(t) = self.trunks.get_mut(trunk) {
            t.in_use = t.in_use.saturating_sub(1);
        }
    }

    pub fn in_use(&self, trunk: &str) -> u32 {
        self.trunks.get(trunk).map_or(0, |t| t.in_use)
    }

    pub fn set_up(&mut self, trunk: &str, up: bool) {
        if let Some(t) = self.trunks.get_mut(trunk) {
            t.up = up;
        }
    }

    pub fn is_up(&self, trunk: &str) -> bool {
        self.trunks.get(trunk).is_some_and(|t| t.up)
    }

    fn has_room(&self, trunk: &str) -> bool {
        self.trunks
            .get(trunk)
            .is_some_and(|t| t.in_use < t.channels)
    }
}

/// The decision for an INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Route {
        /// The trunk the call came in on (inbound) or `None` (an agent's call).
        inbound_trunk: Option<String>,
        did: String,
        targets: Vec<Target>,
        hunt: Hunt,
        /// The caller number to present (outbound through a trunk).
        caller_id: Option<String>,
    },
    /// Hotline answers the call itself: an IVR flow or a skill-group queue.
    Hosted {
        inbound_trunk: Option<String>,
        did: String,
        service: crate::call::engine::Service,
    },
    Reject {
        code: u16,
        reason: String,
    },
}

fn reject(code: u16, reason: impl Into<String>) -> Decision {
    Decision::Reject {
        code,
        reason: reason.into(),
    }
}

/// Routes an INVITE that came from `source` for number `dialled` (the R-URI user part).
/// `devices(extension)` gives the contact URIs to ring for an extension (registered or fixed).
/// For inbound calls one channel of the trunk is taken when the decision is `Route`; the shell
/// gives it back with [`TrunkTable::release`] when the call ends.
pub fn route_inbound(
    profiles: &Profiles,
    trunks: &mut TrunkTable,
    source: IpAddr,
    dialled: &str,
    devices: impl Fn(&str) -> Vec<(String, Option<SocketAddr>)>,
) -> Decision {
    let Some(trunk) = profiles.trunk_for_source(source) else {
        return reject(403, "source address is not a configured trunk");
    };
    let did = normalise(dialled);
    let Some(route) = profiles.dids.get(did) else {
        return reject(404, "number not served here");
    };
    if route.trunk != trunk.name {
        // A DID belongs to the trunk that leases it; calls for it from elsewhere are refused so
        // one carrier cannot use another's numbers.
        return reject(403, "number not served on this trunk");
    }
    if !trunks.has_room(&trunk.name) {
        return reject(503, "trunk channel limit reached");
    }
    let decision = match &route.target {
        RouteTarget::Extension(ext) => {
            let targets = extension_targets(ext, &devices);
            if targets.is_empty() {
                return reject(480, "agent not registered");
            }
            Decision::Route {
                inbound_trunk: Some(trunk.name.clone()),
                did: did.to_string(),
                targets,
                hunt: Hunt::Parallel,
                caller_id: None,
            }
        }
        RouteTarget::Group(members) => {
            let targets: Vec<Target> = members
                .iter()
                .flat_map(|m| extension_targets(m, &devices))
                .collect();
            if targets.is_empty() {
                return reject(480, "no agent of the group is registered");
            }
            Decision::Route {
                inbound_trunk: Some(trunk.name.clone()),
                did: did.to_string(),
                targets,
                hunt: Hunt::Parallel,
                caller_id: None,
            }
        }
        RouteTarget::Trunk(out) => {
            let targets = trunk_targets(profiles, trunks, std::slice::from_ref(out), did, false);
            if targets.is_empty() {
                return reject(503, "outgoing trunk unavailable");
            }
            Decision::Route {
                inbound_trunk: Some(trunk.name.clone()),
                did: did.to_string(),
                targets,
                hunt: Hunt::Failover,
                caller_id: None,
            }
        }
        RouteTarget::Queue(name) => Decision::Hosted {
            inbound_trunk: Some(trunk.name.clone()),
            did: did.to_string(),
            service: crate::call::engine::Service::Queue(name.clone()),
        },
        RouteTarget::Flow(name) => Decision::Hosted {
            inbound_trunk: Some(trunk.name.clone()),
            did: did.to_string(),
            service: crate::call::engine::Service::Flow(name.clone()),
        },
    };
    trunks.acquire(&trunk.name);
    decision
}

/// Routes a number dialled by an agent out through the trunks of the dial plan.
/// Emergency numbers are always allowed: with no matching rule they go out on every trunk by
/// priority, and trunks marked down are still tried for them.
pub fn route_outbound(profiles: &Profiles, trunks: &TrunkTable, dialled: &str) -> Decision {
    let number = normalise(dialled);
    if number.is_empty()
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || c == '+' || c == '*' || c == '#')
    {
        return reject(484, "incomplete or invalid number");
    }
    let emergency = EMERGENCY_NUMBERS.contains(&number);
    let (names, out_number) = match profiles.dial_rule(number) {
        Some(rule) => {
            let names: Vec<String> = if rule.trunks.is_empty() {
                profiles.trunks.iter().map(|t| t.name.clone()).collect()
            } else {
                rule.trunks.clone()
            };
            let stripped = number.get(rule.strip.min(number.len())..).unwrap_or("");
            (names, format!("{}{}", rule.prepend, stripped))
        }
        None if emergency => (
            profiles.trunks.iter().map(|t| t.name.clone()).collect(),
            number.to_string(),
        ),
        None => return reject(403, "number not allowed by the dial plan"),
    };
    let targets = trunk_targets(profiles, trunks, &names, &out_number, emergency);
    if targets.is_empty() {
        return reject(503, "no trunk available");
    }
    let caller_id = names
        .iter()
        .find_map(|n| profiles.trunk(n).and_then(|t| t.caller_id.clone()));
    Decision::Route {
        inbound_trunk: None,
        did: number.to_string(),
        targets,
        hunt: Hunt::Failover,
        caller_id,
    }
}

/// Trunk targets in the given order, skipping down or full trunks (down ones kept for emergencies).
fn trunk_targets(
    profiles: &Profiles,
    trunks: &TrunkTable,
    names: &[String],
    number: &str,
    emergency: bool,
) -> Vec<Target> {
    names
        .iter()
        .filter_map(|n| profiles.trunk(n))
        .filter(|t| (emergency || trunks.is_up(&t.name)) && trunks.has_room(&t.name))
        .map(|t| Target {
            uri: format!("sip:{number}@{}", t.peer),
            peer: t.name.clone(),
            dest: Some(t.peer),
        })
        .collect()
}

fn extension_targets(
    ext: &str,
    devices: &impl Fn(&str) -> Vec<(String, Option<SocketAddr>)>,
) -> Vec<Target> {
    devices(ext)
        .into_iter()
        .map(|(uri, dest)| Target {
            uri,
            peer: ext.to_string(),
            dest,
        })
        .collect()
}

/// Carriers send `+8612345`, `12345`, or `tel`-style numbers with visual separators.
fn normalise(number: &str) -> &str {
    let n = number.trim();
    n.strip_prefix("+86").unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: &str = r#"
[[trunk]]
name = "carrier-a"
peer = "127.0.0.1:5070"
inbound_sources = ["127.0.0.1"]
channels = 2
priority = 1
caller_id = "12345"
[[trunk.did]]
number = "12345"
route = "group:1001,1002"
[[trunk.did]]
number = "12333"
route = "extension:1003"
[[trunk.did]]
number = "12315"
route = "queue:consumer"

[[trunk]]
name = "carrier-b"
peer = "127.0.0.2:5060"
inbound_sources = ["127.0.0.2"]
channels = 1
priority = 2
[[trunk.did]]
number = "12329"
route = "trunk:carrier-a"

[[dial]]
prefix = "0"
trunks = ["carrier-a", "carrier-b"]
strip = 1
prepend = "00"
"#;

    fn profiles() -> Profiles {
        Profiles::parse_all([("p.toml", PROFILES)]).unwrap()
    }

    fn devices(ext: &str) -> Vec<(String, Option<SocketAddr>)> {
        match ext {
            "1001" => vec![
                ("sip:1001@10.0.0.1:5060".into(), None),
                ("sip:1001@10.0.0.9:5062".into(), None),
            ],
            "1002" => vec![("sip:1002@10.0.0.2:5060".into(), None)],
            _ => vec![],
        }
    }

    fn lo(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn did_to_group_rings_every_device_of_every_member() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        let d = route_inbound(&p, &mut t, lo(1), "12345", devices);
        let Decision::Route {
            targets,
            hunt,
            inbound_trunk,
            did,
            ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(targets.len(), 3);
        assert_eq!(
            targets[2],
            Target {
                uri: "sip:1002@10.0.0.2:5060".into(),
                peer: "1002".into(),
                dest: None,
            }
        );
        assert_eq!(hunt, Hunt::Parallel);
        assert_eq!(
            (inbound_trunk.as_deref(), did.as_str()),
            (Some("carrier-a"), "12345")
        );
        assert_eq!(t.in_use("carrier-a"), 1);
    }

    #[test]
    fn e164_dids_are_recognised() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        assert!(matches!(
            route_inbound(&p, &mut t, lo(1), "+8612345", devices),
            Decision::Route { .. }
        ));
    }

    #[test]
    fn channel_limit_gives_503_and_release_frees_it() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        assert!(matches!(
            route_inbound(&p, &mut t, lo(1), "12345", devices),
            Decision::Route { .. }
        ));
        assert!(matches!(
            route_inbound(&p, &mut t, lo(1), "12345", devices),
            Decision::Route { .. }
        ));
        assert_eq!(
            route_inbound(&p, &mut t, lo(1), "12345", devices),
            reject(503, "trunk channel limit reached")
        );
        t.release("carrier-a");
        assert!(matches!(
            route_inbound(&p, &mut t, lo(1), "12345", devices),
            Decision::Route { .. }
        ));
    }

    #[test]
    fn refusals_say_why() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        assert_eq!(
            route_inbound(&p, &mut t, lo(9), "12345", devices),
            reject(403, "source address is not a configured trunk")
        );
        assert_eq!(
            route_inbound(&p, &mut t, lo(1), "99999", devices),
            reject(404, "number not served here")
        );
        assert_eq!(
            route_inbound(&p, &mut t, lo(2), "12345", devices),
            reject(403, "number not served on this trunk")
        );
        assert_eq!(
            route_inbound(&p, &mut t, lo(1), "12333", devices),
            reject(480, "agent not registered")
        );
        assert_eq!(
            t.in_use("carrier-a"),
            0,
            "no channel is held by a refused call"
        );
        // A queue route is answered by hotline itself (the engine checks an ACD runs).
        assert_eq!(
            route_inbound(&p, &mut t, lo(1), "12315", devices),
            Decision::Hosted {
                inbound_trunk: Some("carrier-a".into()),
                did: "12315".into(),
                service: crate::call::engine::Service::Queue("consumer".into()),
            }
        );
        assert_eq!(t.in_use("carrier-a"), 1, "a hosted call holds its channel");
    }

    #[test]
    fn did_to_trunk_hunts_with_failover() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        let d = route_inbound(&p, &mut t, lo(2), "12329", devices);
        let Decision::Route { targets, hunt, .. } = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            targets,
            vec![Target {
                uri: "sip:12329@127.0.0.1:5070".into(),
                peer: "carrier-a".into(),
                dest: Some("127.0.0.1:5070".parse().unwrap()),
            }]
        );
        assert_eq!(hunt, Hunt::Failover);
    }

    #[test]
    fn outbound_follows_the_dial_plan_in_trunk_order_and_skips_down_trunks() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        let d = route_outbound(&p, &t, "013800138000");
        let Decision::Route {
            targets,
            caller_id,
            hunt,
            ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(targets[0].uri, "sip:0013800138000@127.0.0.1:5070");
        assert_eq!(targets[1].peer, "carrier-b");
        assert_eq!(caller_id.as_deref(), Some("12345"));
        assert_eq!(hunt, Hunt::Failover);
        t.set_up("carrier-a", false);
        let Decision::Route { targets, .. } = route_outbound(&p, &t, "013800138000") else {
            panic!()
        };
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].peer, "carrier-b");
        t.set_up("carrier-b", false);
        assert_eq!(
            route_outbound(&p, &t, "013800138000"),
            reject(503, "no trunk available")
        );
    }

    #[test]
    fn emergency_numbers_are_always_allowed() {
        let p = profiles();
        let mut t = TrunkTable::new(&p);
        assert_eq!(
            route_outbound(&p, &t, "13800138000"),
            reject(403, "number not allowed by the dial plan")
        );
        for n in EMERGENCY_NUMBERS {
            let Decision::Route { targets, .. } = route_outbound(&p, &t, n) else {
                panic!("{n}")
            };
            assert_eq!(targets[0].uri, format!("sip:{n}@127.0.0.1:5070"));
        }
        t.set_up("carrier-a", false);
        t.set_up("carrier-b", false);
        assert!(
            matches!(route_outbound(&p, &t, "110"), Decision::Route { .. }),
            "even with every trunk marked down"
        );
    }

    #[test]
    fn invalid_dialled_numbers_get_484() {
        let p = profiles();
        let t = TrunkTable::new(&p);
        assert_eq!(
            route_outbound(&p, &t, ""),
            reject(484, "incomplete or invalid number")
        );
        assert_eq!(
            route_outbound(&p, &t, "01a"),
            reject(484, "incomplete or invalid number")
        );
    }
}
