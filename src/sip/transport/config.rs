//! Transport configuration: listen addresses per transport, TLS material paths and limits.
//!
//! Deserialised from the `[transport]` table of the SIP profile (TOML); every field has a default so an
//! empty table gives a UDP+TCP listener on 0.0.0.0:5060 and no TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Default SIP port for UDP and TCP (RFC 3261 §19.1.2).
pub const DEFAULT_SIP_PORT: u16 = 5060;
/// Default SIP port for TLS (RFC 3261 §19.1.2).
pub const DEFAULT_SIPS_PORT: u16 = 5061;

/// Everything the transport shell needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportConfig {
    /// UDP listen addresses; one socket each. A bare IP listens on 5060.
    #[serde(deserialize_with = "listen::sip")]
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses. A bare IP listens on 5060.
    #[serde(deserialize_with = "listen::sip")]
    pub tcp: Vec<SocketAddr>,
    /// TLS listen addresses. A bare IP listens on 5061.
    #[serde(deserialize_with = "listen::sips")]
    pub tls: Vec<SocketAddr>,
    /// PEM certificate chain for the TLS listeners (leaf first).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for the TLS listeners.
    pub tls_key: Option<PathBuf>,
    /// PEM CA files trusted when we connect out over TLS (no built-in roots: the host is offline).
    pub tls_ca: Vec<PathBuf>,
    /// Requested SO_RCVBUF for UDP sockets, bytes (the kernel may clamp it).
    pub udp_recv_buffer: usize,
    /// Limits on stream connections and messages.
    pub limits: Limits,
}

impl Default for TransportConfig {
    fn default() -> Self {
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        TransportConfig {
            udp: vec![any(DEFAULT_SIP_PORT)],
            tcp: vec![any(DEFAULT_SIP_PORT)],
            tls: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_ca: Vec::new(),
            udp_recv_buffer: 4 * 1024 * 1024,
            limits: Limits::default(),
        }
    }
}

impl TransportConfig {
    /// A config with nothing listening; tests and callers add what they need.
    pub fn empty() -> Self {
        TransportConfig {
            udp: Vec::new(),
            tcp: Vec::new(),
            tls: Vec::new(),
            ..TransportConfig::default()
        }
    }
}

/// Bounds that keep one peer from exhausting memory, sockets or tasks.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted on any transport, bytes (headers + body).
    pub max_message_size: usize,
    /// Largest amount of unframed bytes buffered on one stream before the connection is closed.
    pub max_pending_bytes: usize,
    /// Open stream connections in total (inbound + outbound).
    pub max_connections: usize,
    /// Open inbound stream connections from one source IP.
    pub max_connections_per_ip: usize,
    /// Messages queued for writing on one connection before senders wait (backpressure).
    pub write_queue_len: usize,
    /// How long a sender waits for room in a full write queue before the send fails.
    #[serde(with = "secs")]
    pub write_timeout: Duration,
    /// A TCP connection with no traffic for this long is closed.
    #[serde(with = "secs")]
    pub tcp_idle_timeout: Duration,
    /// A TLS connection with no traffic for this long is closed.
    #[serde(with = "secs")]
    pub tls_idle_timeout: Duration,
    /// A stream message must arrive completely within this long of its first byte (anti-slowloris).
    #[serde(with = "secs")]
    pub message_timeout: Duration,
    /// Time allowed for an outbound connect or a TLS handshake.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 64 * 1024,
            max_pending_bytes: 128 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            write_queue_len: 256,
            write_timeout: Duration::from_secs(5),
            tcp_idle_timeout: Duration::from_secs(600),
            tls_idle_timeout: Duration::from_secs(600),
            message_timeout: Duration::from_secs(32),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Listen addresses: `ip:port`, `[v6]:port`, or a bare IP (`0.0.0.0`, `::`, `[::1]`) taking the
/// transport's default port.
mod listen {
    use serde::{Deserialize, Deserializer};
    use std::net::{IpAddr, SocketAddr};

    pub fn parse(s: &str, default_port: u16) -> Result<SocketAddr, String> {
        let s = s.trim();
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a);
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, default_port))
            .map_err(|_| format!("`{s}` is not an IP address with an optional port"))
    }

    fn list<'de, D: Deserializer<'de>>(d: D, port: u16) -> Result<Vec<SocketAddr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| parse(s, port).map_err(serde::de::Error::custom))
            .collect()
    }

    pub fn sip<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
        list(d, super::DEFAULT_SIP_PORT)
    }

    pub fn sips<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
        list(d, super::DEFAULT_SIPS_PORT)
    }
}

/// Durations in config files are whole or fractional seconds.
mod secs {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_defaults() {
        let c: TransportConfig = toml::from_str("").unwrap();
        assert_eq!(c.udp, vec!["0.0.0.0:5060".parse::<SocketAddr>().unwrap()]);
        assert!(c.tls.is_empty());
        assert_eq!(c.limits.tcp_idle_timeout, Duration::from_secs(600));
    }

    #[test]
    fn parses_addresses_paths_and_limits() {
        let c: TransportConfig = toml::from_str(
            r#"
            udp = ["127.0.0.1:5070"]
            tls = ["[::1]:5061"]
            tls_cert = "certs/sip.pem"
            tls_key = "certs/sip.key"
            tls_ca = ["certs/ca.pem"]
            [limits]
            tcp_idle_timeout = 1.5
            max_connections_per_ip = 4
            "#,
        )
        .unwrap();
        assert_eq!(c.tls, vec!["[::1]:5061".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.limits.tcp_idle_timeout, Duration::from_millis(1500));
        assert_eq!(c.limits.max_connections_per_ip, 4);
        assert_eq!(c.limits.max_message_size, 64 * 1024);
    }

    #[test]
    fn bare_ips_take_the_default_port_of_their_transport() {
        let c: TransportConfig = toml::from_str(
            r#"udp = ["10.0.0.1"]
tcp = ["::"]
tls = ["0.0.0.0", "[::1]", "127.0.0.1:15061"]"#,
        )
        .unwrap();
        assert_eq!(c.udp, vec!["10.0.0.1:5060".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.tcp, vec!["[::]:5060".parse::<SocketAddr>().unwrap()]);
        let tls: Vec<SocketAddr> = ["0.0.0.0:5061", "[::1]:5061", "127.0.0.1:15061"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(c.tls, tls);
        let err = toml::from_str::<TransportConfig>(r#"tls = ["sip.example.com"]"#).unwrap_err();
        assert!(err.to_string().contains("sip.example.com"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_negative_durations() {
        assert!(toml::from_str::<TransportConfig>("udpp = []").is_err());
        assert!(toml::from_str::<TransportConfig>("[limits]\ntcp_idle_timeout = -1").is_err());
    }
}
