//! Configuration: `hotline.toml` (listen addresses, RTP ports, database, paths) and
//! `sip-profiles/*.toml` (trunks, the agent domain, the dial plan), validated before anything starts.
//!
//! Every error names the file, line and column and what was expected, so an operator can fix the
//! file without reading code. hotline refuses to start on any error.

mod error;
mod hotline;
mod profiles;

pub use error::{ConfigError, Location};
pub use hotline::{
    Database, HotlineConfig, Http, Paths, Rtp, RtpIo, Shutdown, SipListen, SipTimers, TlsFiles,
};
pub use profiles::{
    AgentDomain, DialRule, DidRoute, Extension, Keepalive, Profiles, RouteTarget, Trunk,
    TrunkRegistration, TrunkTransport,
};

use std::path::{Path, PathBuf};

/// Everything hotline reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub hotline: HotlineConfig,
    pub profiles: Profiles,
    /// Where `hotline.toml` was read from, or `None` for the embedded default.
    pub source: Option<PathBuf>,
}

/// The embedded default: what `hotline serve` runs with when there is no `hotline.toml`.
pub const DEFAULT_HOTLINE_TOML: &str = include_str!("default-hotline.toml");

impl Config {
    /// Loads `path` if given, else `./hotline.toml` if present, else the embedded default;
    /// then every `*.toml` in its profiles folder.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (hotline, source) = match path {
            Some(p) => (HotlineConfig::from_file(p)?, Some(p.to_path_buf())),
            None if Path::new("hotline.toml").exists() => {
                let p = Path::new("hotline.toml");
                (HotlineConfig::from_file(p)?, Some(p.to_path_buf()))
            }
            None => (
                HotlineConfig::parse(DEFAULT_HOTLINE_TOML, "<embedded hotline.toml>")?,
                None,
            ),
        };
        let base = source
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let profiles_dir = base.join(&hotline.paths.sip_profiles);
        let profiles = Profiles::load_dir(&profiles_dir)?;
        Ok(Config {
            hotline,
            profiles,
            source,
        })
    }
}

#[cfg(test)]
mod tests;
