//! `hotline.toml`: where hotline listens, its RTP port range, its database and its folders.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlineConfig {
    #[serde(default)]
    pub sip: SipListen,
    #[serde(default)]
    pub rtp: Rtp,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub database: Database,
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub shutdown: Shutdown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipListen {
    /// UDP listen addresses.
    #[serde(default = "default_sip_addrs")]
    pub udp: Vec<Spanned<String>>,
    /// TCP listen addresses.
    #[serde(default = "default_sip_addrs")]
    pub tcp: Vec<Spanned<String>>,
    /// TLS listen addresses (empty: no TLS); needs `tls.cert` and `tls.key`.
    #[serde(default)]
    pub tls: Vec<Spanned<String>>,
    /// The address hotline writes into Via, Contact and SDP; defaults to the first UDP address,
    /// or 127.0.0.1 when that is a wildcard.
    #[serde(default)]
    pub advertise: Option<Spanned<String>>,
    #[serde(default)]
    pub tls_files: Option<TlsFiles>,
    #[serde(default)]
    pub timers: SipTimers,
    /// Largest SIP message accepted, in bytes.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Idle stream connections are closed after this many seconds.
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_secs: u64,
    #[serde(default)]
    pub session_timer: SessionTimers,
}

/// RFC 4028 session timers: hotline offers them on the B-legs it creates and accepts them on
/// every leg, so a far end that vanished without BYE does not hold a channel and an agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTimers {
    /// Run a session timer even when the far end did not ask for one (it is always honoured
    /// when the far end asks).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The interval hotline asks for and the most it accepts, seconds.
    #[serde(default = "default_session_expires")]
    pub session_expires_secs: Spanned<u32>,
    /// The least interval hotline accepts (a shorter one gets 422), seconds; at least 90.
    #[serde(default = "default_min_se")]
    pub min_se_secs: Spanned<u32>,
}

impl SessionTimers {
    /// The engine's policy (checked by [`HotlineConfig::resolve`]).
    pub fn engine_config(&self) -> crate::sip::dialog::SessionTimerConfig {
        crate::sip::dialog::SessionTimerConfig {
            enabled: self.enabled,
            session_expires: *self.session_expires_secs.get_ref(),
            min_se: *self.min_se_secs.get_ref(),
            prefer_local_refresh: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// RFC 3261 timer bases.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipTimers {
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rtp {
    /// The address RTP sockets bind to and SDP advertises.
    #[serde(default = "default_rtp_address")]
    pub address: Spanned<String>,
    /// First and last port of the pool; RTP uses the even ports.
    #[serde(default = "default_rtp_min")]
    pub port_min: u16,
    #[serde(default = "default_rtp_max")]
    pub port_max: u16,
    /// A leg that sends nothing for this long is hung up.
    #[serde(default = "default_rtp_timeout")]
    pub timeout_secs: u64,
    /// Relay worker threads (1..=64); each owns a share of the calls. One carries ~3,000 relayed calls
    /// on io_uring (~1,300-2,200 on epoll) or ~400 three-way calls; use 2 on a 2-core machine that
    /// mixes many conferences.
    #[serde(default = "default_rtp_workers")]
    pub workers: usize,
    /// After each round of ready sockets a worker waits this long so more are ready next round
    /// (fewer wake-ups under load, at most this much added delay); 0 turns it off.
    #[serde(default)]
    pub coalesce_us: u64,
    /// How the relay workers wait for and move packets: "uring" (io_uring: one system call per round of
    /// packets; Linux 6.0+), "epoll" (epoll with recvmmsg/sendmmsg: about two per packet), or "auto"
    /// (io_uring where the kernel and any seccomp filter allow it, else epoll with a logged warning).
    #[serde(default)]
    pub io: RtpIo,
}

/// `[rtp] io`: see [`Rtp::io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtpIo {
    #[default]
    Auto,
    Uring,
    Epoll,
}

fn default_rtp_workers() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[serde(default = "default_http")]
    pub listen: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite:data/hotline.db` (default) or `postgres://user@host/db`.
    #[serde(default = "default_db")]
    pub url: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    #[serde(default = "default_profiles")]
    pub sip_profiles: PathBuf,
    #[serde(default = "default_flows")]
    pub ivr_flows: PathBuf,
    #[serde(default = "default_recordings")]
    pub recordings: PathBuf,
    /// Skill groups and agents; without this file queues are not served.
    #[serde(default = "default_acd")]
    pub acd: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// On shutdown, new calls get 503 and active calls may go on for this long.
    #[serde(default = "default_drain")]
    pub drain_secs: u64,
}

fn default_sip_addrs() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "0.0.0.0:5060".to_string())]
}
fn default_max_message() -> usize {
    65_535
}
fn default_tcp_idle() -> u64 {
    600
}
fn default_true() -> bool {
    true
}
fn default_session_expires() -> Spanned<u32> {
    Spanned::new(0..0, 1800)
}
fn default_min_se() -> Spanned<u32> {
    Spanned::new(0..0, crate::sip::dialog::session_timer::MIN_SE_FLOOR)
}
fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4_000
}
fn default_t4() -> u64 {
    5_000
}
fn default_rtp_address() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1".to_string())
}
fn default_rtp_min() -> u16 {
    20_000
}
fn default_rtp_max() -> u16 {
    29_999
}
fn default_rtp_timeout() -> u64 {
    60
}
fn default_http() -> Spanned<String> {
    Spanned::new(0..0, "0.0.0.0:8080".to_string())
}
fn default_db() -> Spanned<String> {
    Spanned::new(0..0, "sqlite:data/hotline.db".to_string())
}
fn default_profiles() -> PathBuf {
    PathBuf::from("sip-profiles")
}
fn default_flows() -> PathBuf {
    PathBuf::from("ivr-flows")
}
fn default_acd() -> PathBuf {
    PathBuf::from("acd.toml")
}
fn default_recordings() -> PathBuf {
    PathBuf::from("data/recordings")
}
fn default_drain() -> u64 {
    30
}

impl Default for SipListen {
    fn default() -> Self {
        SipListen {
            udp: default_sip_addrs(),
            tcp: default_sip_addrs(),
            tls: Vec::new(),
            advertise: None,
            tls_files: None,
            timers: SipTimers::default(),
            max_message_bytes: default_max_message(),
            tcp_idle_secs: default_tcp_idle(),
            session_timer: SessionTimers::default(),
        }
    }
}
impl Default for SessionTimers {
    fn default() -> Self {
        SessionTimers {
            enabled: true,
            session_expires_secs: default_session_expires(),
            min_se_secs: default_min_se(),
        }
    }
}
impl Default for SipTimers {
    fn default() -> Self {
        SipTimers {
            t1_ms: default_t1(),
            t2_ms: default_t2(),
            t4_ms: default_t4(),
        }
    }
}
impl Default for Rtp {
    fn default() -> Self {
        Rtp {
            address: default_rtp_address(),
            port_min: default_rtp_min(),
            port_max: default_rtp_max(),
            timeout_secs: default_rtp_timeout(),
            workers: default_rtp_workers(),
            coalesce_us: 0,
            io: RtpIo::default(),
        }
    }
}
impl Default for Http {
    fn default() -> Self {
        Http {
            listen: default_http(),
        }
    }
}
impl Default for Database {
    fn default() -> Self {
        Database { url: default_db() }
    }
}
impl Default for Paths {
    fn default() -> Self {
        Paths {
            sip_profiles: default_profiles(),
            ivr_flows: default_flows(),
            recordings: default_recordings(),
            acd: default_acd(),
        }
    }
}
impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            drain_secs: default_drain(),
        }
    }
}

/// Parsed and checked addresses, ready for the shells to bind.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    pub advertise: IpAddr,
    pub rtp_address: IpAddr,
    pub http: SocketAddr,
}

impl HotlineConfig {
    pub fn from_file(path: &Path) -> Result<HotlineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        HotlineConfig::parse(&text, &path.display().to_string())
    }

    /// Parses and validates; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<HotlineConfig, ConfigError> {
        let cfg: HotlineConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
        cfg.resolve(file, text)?;
        Ok(cfg)
    }

    /// Checks every value that TOML's types cannot, and returns the parsed addresses.
    pub fn resolve(&self, file: &str, text: &str) -> Result<Resolved, ConfigError> {
        let sock = |s: &Spanned<String>, what: &str| -> Result<SocketAddr, ConfigError> {
            s.get_ref().parse().map_err(|_| {
                ConfigError::invalid(
                    file,
                    text,
                    s.span(),
                    format!(
                        "{what}: `{}` is not an address:port such as 0.0.0.0:5060",
                        s.get_ref()
                    ),
                )
            })
        };
        let ip = |s: &Spanned<String>, what: &str| -> Result<IpAddr, ConfigError> {
            s.get_ref().parse().map_err(|_| {
                ConfigError::invalid(
                    file,
                    text,
                    s.span(),
                    format!("{what}: `{}` is not an IP address", s.get_ref()),
                )
            })
        };
        let udp = self
            .sip
            .udp
            .iter()
            .map(|s| sock(s, "sip.udp"))
            .collect::<Result<Vec<_>, _>>()?;
        let tcp = self
            .sip
            .tcp
            .iter()
            .map(|s| sock(s, "sip.tcp"))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = self
            .sip
            .tls
            .iter()
            .map(|s| sock(s, "sip.tls"))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(first) = self.sip.tls.first() {
            if self.sip.tls_files.is_none() {
                return Err(ConfigError::invalid(
                    file,
                    text,
                    first.span(),
                    "sip.tls listens but [sip.tls_files] with cert and key is missing",
                ));
            }
        }
        let rtp_address = ip(&self.rtp.address, "rtp.address")?;
        let advertise = match &self.sip.advertise {
            Some(a) => ip(a, "sip.advertise")?,
            None => match udp.first().map(|a| a.ip()) {
                Some(a) if !a.is_unspecified() => a,
                _ => rtp_address,
            },
        };
        if self.rtp.port_min >= self.rtp.port_max || self.rtp.port_max - self.rtp.port_min < 4 {
            return Err(ConfigError::Invalid {
                at: super::Location::at(file, text, text.find("port_max").unwrap_or(0)),
                message: format!(
                    "rtp: port_min {} must be below port_max {} with room for at least two calls",
                    self.rtp.port_min, self.rtp.port_max
                ),
            });
        }
        let t = self.sip.timers;
        if t.t1_ms == 0 || t.t2_ms < t.t1_ms || t.t4_ms == 0 {
            return Err(ConfigError::Invalid {
                at: super::Location::at(file, text, text.find("t1_ms").unwrap_or(0)),
                message: "sip.timers: t1_ms must be > 0, t2_ms >= t1_ms, t4_ms > 0".into(),
            });
        }
        let st = &self.sip.session_timer;
        let floor = crate::sip::dialog::session_timer::MIN_SE_FLOOR;
        if *st.min_se_secs.get_ref() < floor {
            return Err(ConfigError::invalid(
                file,
                text,
                st.min_se_secs.span(),
                format!("sip.session_timer.min_se_secs: must be at least {floor} (RFC 4028)"),
            ));
        }
        if st.session_expires_secs.get_ref() < st.min_se_secs.get_ref() {
            return Err(ConfigError::invalid(
                file,
                text,
                st.session_expires_secs.span(),
                format!(
                    "sip.session_timer.session_expires_secs: {} is below min_se_secs {}",
                    st.session_expires_secs.get_ref(),
                    st.min_se_secs.get_ref()
                ),
            ));
        }
        let url = self.database.url.get_ref();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError::invalid(
                file,
                text,
                self.database.url.span(),
                format!("database.url: `{url}` must start with sqlite: or postgres://"),
            ));
        }
        let http = sock(&self.http.listen, "http.listen")?;
        Ok(Resolved {
            udp,
            tcp,
            tls,
            advertise,
            rtp_address,
            http,
        })
    }
}
