//! `hotline ivr check` on the corpus of broken flows in tests/ivr-bad/ (each file states
//! its exact expected diagnostics in `# expect: LINE:COL: severity: message` lines) and on
//! the shipped flows (which must be clean).

use std::path::{Path, PathBuf};

use hotline::ivr::check_paths;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ivr-bad");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

fn expected(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_broken_flow_gives_exactly_its_expected_diagnostics() {
    let files = corpus();
    assert!(files.len() >= 20, "corpus has {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let report = check_paths(std::slice::from_ref(f));
        let prefix = format!("{}:", f.display());
        let got: Vec<String> = report
            .diagnostics
            .iter()
            .map(|d| {
                d.to_string()
                    .strip_prefix(&prefix)
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        let want = expected(f);
        // IVR_BLESS=1 writes the current diagnostics into a corpus file that has none yet
        // (review them before committing); it never overwrites existing expectations.
        if want.is_empty() && std::env::var_os("IVR_BLESS").is_some() {
            let mut text = std::fs::read_to_string(f).unwrap();
            for g in &got {
                text.push_str(&format!("# expect: {g}\n"));
            }
            std::fs::write(f, text).unwrap();
            continue;
        }
        if want.is_empty()
            || got != want
            || !report.has_errors() && !want.iter().any(|w| w.contains("warning"))
        {
            failures.push(format!(
                "{}\n  want: {want:#?}\n  got:  {got:#?}",
                f.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_shipped_flows_are_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    let report = check_paths(&[dir]);
    assert!(report.files >= 3, "{report}");
    assert!(report.diagnostics.is_empty(), "{report}");
}

#[test]
fn a_folder_is_checked_file_by_file_with_positions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ivr-bad");
    let report = check_paths(&[dir]);
    assert_eq!(report.files, corpus().len());
    assert!(report.errors() >= corpus().len() - 1);
    let text = report.to_string();
    assert!(
        text.contains(
            "unknown-kind.toml:5:8: error: unknown node kind `plya` (did you mean `play`?)"
        ),
        "{text}"
    );
    assert!(text
        .lines()
        .last()
        .unwrap()
        .contains("flow file(s) checked"));
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let report = check_paths(&[PathBuf::from("/nonexistent/flow.toml")]);
    assert_eq!(report.errors(), 1);
    assert!(report.diagnostics[0].message.starts_with("cannot read"));
}

#[test]
fn graph_draws_the_shipped_main_flow_and_refuses_a_broken_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let svg = hotline::ivr::graph_svg(&root.join("ivr-flows/main.toml")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    for node in [
        "welcome",
        "main_menu",
        "q_enterprise",
        "ticket_query",
        "survey",
    ] {
        assert!(svg.contains(&format!("id=\"node-{node}\"")), "{node}");
    }
    let err = hotline::ivr::graph_svg(&root.join("tests/ivr-bad/unknown-target.toml")).unwrap_err();
    assert!(err.has_errors());
}
