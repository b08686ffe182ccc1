//! The ACD's configuration file (`acd.toml`): centre rules, skill groups and agents. Errors name
//! file:line:column like every other configuration file of hotline.

use std::path::Path;

use serde::Deserialize;

use super::{Acd, AcdConfig, AgentProfile};
use crate::config::ConfigError;

/// The agents of the file (`[[agent]]` tables).
#[derive(Debug, Deserialize)]
struct Agents {
    #[serde(default)]
    agent: Vec<AgentProfile>,
}

/// Top-level keys the file may hold (a typo must not pass silently).
const KEYS: [&str; 8] = [
    "wrap_up_ms",
    "not_ready_reasons",
    "service_level_ms",
    "max_overflow_hops",
    "recheck_ms",
    "groups",
    "did_routes",
    "agent",
];

/// Parses `text` (from `file`) into a ready ACD with its agents.
pub fn parse(file: &str, text: &str) -> Result<Acd, ConfigError> {
    // Two typed passes over the same text keep toml's spans (serde's flatten would lose them).
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
    if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let offset = text.find(k.as_str()).unwrap_or(0);
        return Err(ConfigError::Invalid {
            at: crate::config::Location::at(file, text, offset),
            message: format!("unknown key `{k}` (expected one of {})", KEYS.join(", ")),
        });
    }
    let config: AcdConfig =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
    let agents: Agents = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
    let mut acd = Acd::new(config).map_err(|e| ConfigError::Conflict {
        message: format!("{file}: {e}"),
    })?;
    for a in agents.agent {
        let no = a.agent_no.clone();
        acd.add_agent(a).map_err(|e| {
            // Point at the agent's entry so the administrator finds it.
            let offset = text.find(&format!("\"{no}\"")).unwrap_or(0);
            ConfigError::Invalid {
                at: crate::config::Location::at(file, text, offset),
                message: e.to_string(),
            }
        })?;
    }
    Ok(acd)
}

/// Reads and parses the file at `path`; `Ok(None)` when it does not exist.
pub fn load(path: &Path) -> Result<Option<Acd>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    parse(&path.display().to_string(), &text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("acd.toml");
        let acd = load(&path).expect("valid").expect("present");
        assert!(acd.transfer_targets().len() >= 6, "every line has a group");
    }

    #[test]
    fn errors_point_at_the_place() {
        let err = |text: &str| parse("acd.toml", text).err().expect("refused");
        let e = err("wrap_up_ms = 1\n[[groups]]\nid = 5\n");
        assert!(e.to_string().starts_with("acd.toml:3:"), "{e}");
        let e = err(
            "[[groups]]\nid = \"g\"\nname = \"G\"\n\n[[agent]]\nagent_no = \"7\"\nname = \"x\"\ngroups = [{ group = \"nope\", level = 1 }]\n",
        );
        assert!(e.to_string().starts_with("acd.toml:6:"), "{e}");
        assert!(
            parse("acd.toml", "surprise = 1\n").is_err(),
            "unknown keys are refused"
        );
    }
}
