//! Prompt audio (placeholder until the symphonia/rubato loader lands): 8 kHz mono 16-bit WAV only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt not found: {0}")]
    NotFound(PathBuf),
    #[error("prompt {path} cannot be decoded: {reason}")]
    Decode { path: PathBuf, reason: String },
}

pub fn decode_file(path: &Path) -> Result<Vec<i16>, PromptError> {
    let r = hound::WavReader::open(path).map_err(|e| PromptError::Decode {
        path: path.into(),
        reason: e.to_string(),
    })?;
    r.into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PromptError::Decode {
            path: path.into(),
            reason: e.to_string(),
        })
}

#[derive(Clone)]
pub struct PromptCache {
    root: PathBuf,
    cache: Arc<Mutex<HashMap<PathBuf, Arc<[i16]>>>>,
}

impl PromptCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PromptCache {
            root: root.into(),
            cache: Default::default(),
        }
    }
    pub fn get(&self, language: &str, name: &str, slow: bool) -> Result<Arc<[i16]>, PromptError> {
        let mut paths = Vec::new();
        if slow {
            paths.push(
                self.root
                    .join(language)
                    .join("slow")
                    .join(format!("{name}.wav")),
            );
        }
        paths.push(self.root.join(language).join(format!("{name}.wav")));
        for p in paths {
            if let Some(c) = self.cache.lock().unwrap().get(&p) {
                return Ok(c.clone());
            }
            if p.exists() {
                let c: Arc<[i16]> = decode_file(&p)?.into();
                self.cache.lock().unwrap().insert(p, c.clone());
                return Ok(c);
            }
        }
        Err(PromptError::NotFound(self.root.join(language).join(name)))
    }
    pub fn preload(&self) -> usize {
        0
    }
}
