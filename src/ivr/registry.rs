//! The live set of flows of one folder, reloaded on command or when files change.
//!
//! A reload checks each changed file; a file with errors is refused with its report and the
//! flow's previous version keeps serving. Each accepted reload publishes a new immutable
//! [`FlowSet`]; calls already running keep the set they started with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::check::{check_flow, flow_files, read_flow_file};
use super::flow::Flow;
use super::interp::FlowSet;
use super::load::load_flow;
use super::report::{Diag, Diagnostic, Report, Severity};

/// What a reload did.
#[derive(Debug, Clone, Default)]
pub struct ReloadOutcome {
    /// The version now serving.
    pub version: u64,
    /// Flows added or replaced.
    pub updated: Vec<String>,
    /// Flows whose files were deleted.
    pub removed: Vec<String>,
    /// Problems of refused files (their old versions, if any, keep serving) and warnings.
    pub report: Report,
    /// Files refused.
    pub refused: Vec<PathBuf>,
}

type Stamp = (Option<SystemTime>, u64);

/// Flows of one folder.
#[derive(Debug)]
pub struct FlowRegistry {
    dir: PathBuf,
    current: Arc<FlowSet>,
    stamps: BTreeMap<PathBuf, Stamp>,
}

impl FlowRegistry {
    /// Loads every flow of `dir`; broken files are refused and listed in the outcome.
    pub fn open(dir: impl Into<PathBuf>) -> (Self, ReloadOutcome) {
        let mut r = FlowRegistry {
            dir: dir.into(),
            current: Arc::new(FlowSet::default()),
            stamps: BTreeMap::new(),
        };
        let out = r.reload();
        (r, out)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set new calls should start with.
    pub fn current(&self) -> Arc<FlowSet> {
        self.current.clone()
    }

    fn stamp_all(&self) -> BTreeMap<PathBuf, Stamp> {
        if !self.dir.is_dir() {
            return BTreeMap::new();
        }
        flow_files(std::slice::from_ref(&self.dir))
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).ok();
                let s = (
                    m.as_ref().and_then(|m| m.modified().ok()),
                    m.map(|m| m.len()).unwrap_or(0),
                );
                (p, s)
            })
            .collect()
    }

    /// Reloads when a file was added, removed or changed (mtime or size) since the last
    /// look; call it every few seconds from the shell.
    pub fn poll_changes(&mut self) -> Option<ReloadOutcome> {
        if self.stamp_all() == self.stamps {
            None
        } else {
            Some(self.reload())
        }
    }

    /// Re-reads the folder now.
    pub fn reload(&mut self) -> ReloadOutcome {
        self.stamps = self.stamp_all();
        let files: Vec<PathBuf> = self.stamps.keys().cloned().collect();
        let old_by_path: BTreeMap<PathBuf, Arc<Flow>> = self
            .current
            .flows
            .values()
            .map(|f| (f.path.clone(), f.clone()))
            .collect();
        let mut out = ReloadOutcome::default();
        let mut parsed = Vec::new();
        for f in &files {
            match read_flow_file(f) {
                Ok(text) => {
                    if let Some(old) = old_by_path.get(f).filter(|o| *o.source == *text) {
                        parsed.push((f.clone(), text, None, Some(old.clone())));
                    } else {
                        let l = load_flow(f, &text);
                        parsed.push((f.clone(), text, Some(l), None));
                    }
                }
                Err(e) => {
                    out.refused.push(f.clone());
                    out.report.diagnostics.push(Diagnostic {
                        file: f.clone(),
                        line: 1,
                        column: 1,
                        severity: Severity::Error,
                        message: e,
                    });
                }
            }
        }
        // Names a sub-flow may refer to: every flow that loaded, old or new.
        let mut known: BTreeSet<String> = parsed
            .iter()
            .filter_map(|(_, _, l, old)| {
                old.as_ref()
                    .map(|o| o.name.clone())
                    .or_else(|| l.as_ref()?.flow.as_ref().map(|f| f.name.clone()))
            })
            .collect();
        known.extend(self.current.flows.keys().cloned());
        let mut next: BTreeMap<String, Arc<Flow>> = BTreeMap::new();
        let mut changed = false;
        for (path, text, l, old) in parsed {
            if let Some(old) = old {
                next.insert(old.name.clone(), old);
                continue;
            }
            let Some(l) = l else { continue };
            let mut diags: Vec<Diag> = l.diags;
            if let Some(flow) = &l.flow {
                diags.extend(check_flow(flow, &l.declared, &known));
                if next.contains_key(&flow.name) {
                    diags.push(Diag::error(
                        flow.header_span.clone(),
                        format!("flow name `{}` is used by another file", flow.name),
                    ));
                }
            }
            let errors = diags.iter().any(|d| d.severity == Severity::Error);
            out.report.diagnostics.extend(
                diags
                    .into_iter()
                    .map(|d| Diagnostic::place(&path, &text, d)),
            );
            match (errors, l.flow) {
                (false, Some(flow)) => {
                    tracing::info!(flow = %flow.name, file = %path.display(), "flow loaded");
                    out.updated.push(flow.name.clone());
                    next.insert(flow.name.clone(), Arc::new(flow));
                    changed = true;
                }
                _ => {
                    tracing::warn!(file = %path.display(), "flow refused; previous version keeps serving");
                    out.refused.push(path.clone());
                    if let Some(old) = old_by_path.get(&path) {
                        next.entry(old.name.clone()).or_insert_with(|| old.clone());
                    }
                }
            }
        }
        for name in self.current.flows.keys() {
            let still = next.contains_key(name);
            let file_gone = self
                .current
                .flows
                .get(name)
                .is_some_and(|f| !files.contains(&f.path));
            if !still && file_gone {
                out.removed.push(name.clone());
                changed = true;
            }
        }
        // Keep a flow whose file vanished but is still named by a refused file? No: a
        // deleted file means the designer removed the flow.
        out.report.files = files.len();
        out.report.sort();
        if changed {
            let version = self.current.version + 1;
            self.current = Arc::new(FlowSet::new(next.into_values(), version));
        }
        out.version = self.current.version;
        out
    }
}
