//! `sip-profiles/*.toml`: carrier trunks (with their DIDs), the agent domain and its extensions,
//! and the outbound dial plan. Files are read in name order; a trunk or DID defined twice is an error.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Location};

/// One profile file; each section is optional so a centre can split trunks and agents across files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    trunk: Vec<TrunkToml>,
    #[serde(default)]
    agents: Option<AgentDomain>,
    #[serde(default)]
    dial: Vec<DialRuleToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkToml {
    name: Spanned<String>,
    /// Where calls to the carrier go: `host:port`.
    peer: Spanned<String>,
    #[serde(default)]
    transport: TrunkTransport,
    /// Source IPs whose INVITEs are accepted as this trunk without a challenge.
    #[serde(default)]
    inbound_sources: Vec<Spanned<String>>,
    /// Simultaneous calls allowed; one more is refused with 503.
    channels: u32,
    /// Lower goes first in outbound failover.
    #[serde(default = "default_priority")]
    priority: u32,
    #[serde(default = "default_codecs")]
    codecs: Vec<Spanned<String>>,
    /// The caller number presented on outbound calls.
    #[serde(default)]
    caller_id: Option<String>,
    /// Credentials for the carrier's digest challenges, and outbound registration.
    #[serde(default)]
    auth: Option<TrunkRegistration>,
    #[serde(default)]
    keepalive: Keepalive,
    #[serde(default)]
    did: Vec<DidToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DidToml {
    number: Spanned<String>,
    /// `extension:1001`, `group:1001,1002` (ring all), `queue:general` (when the ACD exists).
    route: Spanned<String>,
    /// Record the conversations of calls to this number (default: yes; every answered call is
    /// recorded unless a line is exempted here).
    #[serde(default = "record_by_default")]
    record: bool,
}

fn record_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DialRuleToml {
    /// Digits the dialled number starts with (`""` matches all); the longest prefix wins.
    prefix: Spanned<String>,
    /// Trunks to try in order (falls back to trunk priority when empty).
    #[serde(default)]
    trunks: Vec<Spanned<String>>,
    /// Digits removed from the front before sending.
    #[serde(default)]
    strip: usize,
    /// Digits put in front after stripping.
    #[serde(default)]
    prepend: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

/// What hotline answers a carrier's 401/407 with, and whether it also registers to the carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkRegistration {
    pub username: String,
    pub password: String,
    /// Answer only challenges of this realm (any realm when absent).
    #[serde(default)]
    pub realm: Option<String>,
    /// Register to the carrier (REGISTER to the peer, refreshed before expiry).
    #[serde(default)]
    pub register: bool,
    #[serde(default = "default_reg_expires")]
    pub expires_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    /// OPTIONS ping interval; 0 disables.
    #[serde(default = "default_ka_interval")]
    pub interval_secs: u64,
    /// Consecutive failures that mark the trunk down (one success marks it up).
    #[serde(default = "default_ka_failures")]
    pub down_after: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            interval_secs: default_ka_interval(),
            down_after: default_ka_failures(),
        }
    }
}

/// The domain agents register to, and its extensions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDomain {
    /// Digest realm and the host part of agents' AORs.
    pub realm: String,
    /// Extensions provisioned at start-up. Their passwords are turned into digest HA1 values
    /// and only those are stored; `hotline agent add` provisions without a file.
    #[serde(default)]
    pub extension: Vec<Extension>,
    /// Longest registration accepted, in seconds.
    #[serde(default = "default_max_expires")]
    pub max_expires_secs: u32,
    #[serde(default = "default_min_expires")]
    pub min_expires_secs: u32,
    /// Digest algorithms offered, most preferred first (RFC 8760). Phones that answer only the
    /// first challenge and know only MD5 need `["MD5", "SHA-256"]`.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub number: String,
    pub password: String,
    #[serde(default)]
    pub name: String,
    /// A fixed contact for a device that does not register (an IP desk phone on a fixed
    /// address, a gateway port): `sip:1001@192.0.2.20:5060`.
    #[serde(default)]
    pub contact: Option<String>,
}

/// A trunk after validation.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    pub peer: SocketAddr,
    pub transport: TrunkTransport,
    pub inbound_sources: Vec<IpAddr>,
    pub channels: u32,
    pub priority: u32,
    pub codecs: Vec<String>,
    pub caller_id: Option<String>,
    pub auth: Option<TrunkRegistration>,
    pub keepalive: Keepalive,
}

/// Where a DID's calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Extension(String),
    /// Ring all of these extensions at once; the first to answer takes the call.
    Group(Vec<String>),
    /// A skill-group queue (the ACD) by name.
    Queue(String),
    /// An IVR flow by name.
    Flow(String),
    /// Out through a trunk, keeping the dialled number (a carrier-to-carrier or test route).
    Trunk(String),
}

#[derive(Debug, Clone)]
pub struct DidRoute {
    pub number: String,
    pub trunk: String,
    pub target: RouteTarget,
    /// Whether answered calls to this number are recorded.
    pub record: bool,
}

#[derive(Debug, Clone)]
pub struct DialRule {
    pub prefix: String,
    pub trunks: Vec<String>,
    pub strip: usize,
    pub prepend: String,
}

/// All profiles, validated.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub trunks: Vec<Trunk>,
    pub dids: HashMap<String, DidRoute>,
    pub agents: Option<AgentDomain>,
    pub dial_plan: Vec<DialRule>,
}

fn default_priority() -> u32 {
    10
}
fn default_codecs() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "PCMU".into()),
        Spanned::new(0..0, "PCMA".into()),
        Spanned::new(0..0, "telephone-event".into()),
    ]
}
fn default_reg_expires() -> u32 {
    3600
}
fn default_ka_interval() -> u64 {
    30
}
fn default_ka_failures() -> u32 {
    3
}
fn default_max_expires() -> u32 {
    3600
}
fn default_min_expires() -> u32 {
    60
}
fn default_digest_algorithms() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "SHA-256".into()),
        Spanned::new(0..0, "MD5".into()),
    ]
}

const KNOWN_CODECS: &[&str] = &["PCMU", "PCMA", "telephone-event"];

impl RouteTarget {
    fn parse(s: &str) -> Option<RouteTarget> {
        let (kind, rest) = s.split_once(':')?;
        let rest = rest.trim();
        if rest.is_empty() {
            return None;
        }
        match kind.trim() {
            "extension" => Some(RouteTarget::Extension(rest.to_string())),
            "group" => {
                let members: Vec<String> = rest
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect();
                (!members.is_empty()).then_some(RouteTarget::Group(members))
            }
            "queue" => Some(RouteTarget::Queue(rest.to_string())),
            "flow" => Some(RouteTarget::Flow(rest.to_string())),
            "trunk" => Some(RouteTarget::Trunk(rest.to_string())),
            _ => None,
        }
    }
}

impl Profiles {
    /// Reads every `*.toml` in `dir` (in name order). A missing folder means no profiles.
    pub fn load_dir(dir: &Path) -> Result<Profiles, ConfigError> {
        let mut files = Vec::new();
        if dir.exists() {
            let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read {
                path: dir.display().to_string(),
                source,
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        let mut texts = Vec::new();
        for p in files {
            let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?;
            texts.push((p.display().to_string(), text));
        }
        Profiles::parse_all(texts.iter().map(|(f, t)| (f.as_str(), t.as_str())))
    }

    /// Parses and validates several files given as (name, text).
    pub fn parse_all<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Profiles, ConfigError> {
        let mut out = Profiles::default();
        let mut trunk_at: HashMap<String, Location> = HashMap::new();
        let mut pending_dial: Vec<(String, String, DialRuleToml)> = Vec::new();
        for (file, text) in files {
            let pf: ProfileFile =
                toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
            for t in pf.trunk {
                let name = t.name.get_ref().trim().to_string();
                if name.is_empty() {
                    return Err(ConfigError::invalid(
                        file,
                        text,
                        t.name.span(),
                        "trunk name is empty",
                    ));
                }
                let here = Location::at(file, text, t.name.span().start);
                if let Some(first) = trunk_at.get(&name) {
                    return Err(ConfigError::Invalid {
                        at: here,
                        message: format!("trunk `{name}` is already defined at {first}"),
                    });
                }
                let peer: SocketAddr = t.peer.get_ref().parse().map_err(|_| {
                    ConfigError::invalid(
                        file,
                        text,
                        t.peer.span(),
                        format!(
                            "trunk.peer: `{}` is not an ip:port such as 192.0.2.10:5060",
                            t.peer.get_ref()
                        ),
                    )
                })?;
                let mut inbound_sources = Vec::new();
                for s in &t.inbound_sources {
                    inbound_sources.push(s.get_ref().parse().map_err(|_| {
                        ConfigError::invalid(
                            file,
                            text,
                            s.span(),
                            format!(
                                "trunk.inbound_sources: `{}` is not an IP address",
                                s.get_ref()
                            ),
                        )
                    })?);
                }
                if t.channels == 0 {
                    return Err(ConfigError::invalid(
                        file,
                        text,
                        t.name.span(),
                        format!("trunk `{name}`: channels must be at least 1"),
                    ));
                }
                for c in &t.codecs {
                    if !KNOWN_CODECS.contains(&c.get_ref().as_str()) {
                        return Err(ConfigError::invalid(
                            file,
                            text,
                            c.span(),
                            format!(
                                "trunk.codecs: `{}` is not supported (expected one of {})",
                                c.get_ref(),
                                KNOWN_CODECS.join(", ")
                            ),
                        ));
                    }
                }
                for d in t.did {
                    let number = d.number.get_ref().trim().to_string();
                    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '+')
                    {
                        return Err(ConfigError::invalid(
                            file,
                            text,
                            d.number.span(),
                            format!("did.number: `{number}` must be digits"),
                        ));
                    }
                    let target = RouteTarget::parse(d.route.get_ref()).ok_or_else(|| {
                        ConfigError::invalid(
                            file,
                            text,
                            d.route.span(),
                            format!(
                                "did.route: `{}` is not one of extension:NUMBER, group:N1,N2, queue:NAME, flow:NAME, trunk:NAME",
                                d.route.get_ref()
                            ),
                        )
                    })?;
                    if out.dids.contains_key(&number) {
                        return Err(ConfigError::invalid(
                            file,
                            text,
                            d.number.span(),
                            format!("DID {number} is routed twice"),
                        ));
                    }
                    out.dids.insert(
                        number.clone(),
                        DidRoute {
                            number,
                            trunk: name.clone(),
                            target,
                            record: d.record,
                        },
                    );
                }
                trunk_at.insert(name.clone(), here);
                out.trunks.push(Trunk {
                    name,
                    peer,
                    transport: t.transport,
                    inbound_sources,
                    channels: t.channels,
                    priority: t.priority,
                    codecs: t.codecs.into_iter().map(Spanned::into_inner).collect(),
                    caller_id: t.caller_id,
                    auth: t.auth,
                    keepalive: t.keepalive,
                });
            }
            if let Some(a) = pf.agents {
                if a.digest_algorithms.is_empty() {
                    return Err(ConfigError::Conflict { message: format!("{file}: agents.digest_algorithms must name at least one of SHA-256, MD5") });
                }
                for alg in &a.digest_algorithms {
                    if !matches!(alg.get_ref().as_str(), "SHA-256" | "MD5") {
                        return Err(ConfigError::invalid(
                            file,
                            text,
                            alg.span(),
                            format!(
                                "agents.digest_algorithms: `{}` is not SHA-256 or MD5",
                                alg.get_ref()
                            ),
                        ));
                    }
                }
                if out.agents.is_some() {
                    return Err(ConfigError::Conflict {
                        message: format!(
                            "{file}: [agents] is defined in more than one profile file"
                        ),
                    });
                }
                out.agents = Some(a);
            }
            for d in pf.dial {
                pending_dial.push((file.to_string(), text.to_string(), d));
            }
        }
        for (file, text, d) in pending_dial {
            for t in &d.trunks {
                if !trunk_at.contains_key(t.get_ref()) {
                    return Err(ConfigError::invalid(
                        &file,
                        &text,
                        t.span(),
                        format!("dial.trunks: no trunk named `{}`", t.get_ref()),
                    ));
                }
            }
            let prefix = d.prefix.get_ref().clone();
            if !prefix
                .chars()
                .all(|c| c.is_ascii_digit() || c == '+' || c == '*' || c == '#')
            {
                return Err(ConfigError::invalid(
                    &file,
                    &text,
                    d.prefix.span(),
                    format!("dial.prefix: `{prefix}` must be dial digits"),
                ));
            }
            out.dial_plan.push(DialRule {
                prefix,
                trunks: d.trunks.into_iter().map(Spanned::into_inner).collect(),
                strip: d.strip,
                prepend: d.prepend,
            });
        }
        out.trunks.sort_by_key(|t| t.priority);
        // Longest prefix first, so the first match is the most specific.
        out.dial_plan
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(out)
    }

    /// The trunk whose inbound sources include `ip`.
    pub fn trunk_for_source(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.inbound_sources.contains(&ip))
    }

    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// The dial rule for `number` (longest prefix), if any.
    pub fn dial_rule(&self, number: &str) -> Option<&DialRule> {
        self.dial_plan
            .iter()
            .find(|r| number.starts_with(&r.prefix))
    }
}
